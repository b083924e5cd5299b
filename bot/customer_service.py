"""Creating customers from the bot: one call that wires the duplicate check, the pipeline and the
lead round robin, and tells the assigned rep (or the team manager, for the pool)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.model import User
from core.usecases.customers import CreateCustomerResult, NewCustomer, create_customer

if TYPE_CHECKING:
    from bot.notify import Notifier
    from bot.services import Services


def create(services: Services, uow: Any, actor: User, data: NewCustomer, now: datetime, *,
           notifier: Notifier | None = None, **options: Any) -> CreateCustomerResult:
    from bot.handlers.assignment import announce_assignment, lead_assigner

    result = create_customer(uow, actor, data, now, dedup=services.dedup, pipeline=services.pipeline,
                             assigner=lead_assigner(services), **options)
    announce_assignment(services, uow, result.assignment, now, notifier=notifier)
    return result


def create_for(ctx: Any, data: NewCustomer, now: datetime, **options: Any) -> CreateCustomerResult:
    """From a handler: the sender creates it, and notices go out in the handler's transaction."""
    return create(ctx.services, ctx.uow, ctx.user, data, now, notifier=ctx.notifier, **options)

"""The field rules (`[permissions]` in crmbot.toml) wired for handlers, exports and cards.

Every card that shows an amount, payment terms or a customer's phone builds its values through a
`core.permissions.Viewer` from here, and calls `audit_reads` before its transaction commits so that a
director or finance user seeing an unmasked amount leaves an audit entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.handlers.common import fmt_amount
from core.model import User
from core.permissions import MASK, FieldRules, Viewer
from core.usecases.visibility import record_reads

if TYPE_CHECKING:
    from bot.services import Services


def field_rules(services: Services) -> FieldRules:
    """Parsed once from `[permissions]` and kept in services.extras (a bad key fails at start-up)."""
    rules = services.extras.get("field_rules")
    if rules is None:
        rules = FieldRules.model_validate(services.settings.permissions or {})
        services.extras["field_rules"] = rules
    return rules  # type: ignore[no-any-return]


def viewer_for(services: Services, user: User) -> Viewer:
    return Viewer(user, field_rules(services))


def show_amount(value: float | str | None) -> str:
    """A deal amount as a card shows it: 50 万元, *** when masked, — when unknown."""
    if isinstance(value, str):
        return value
    return fmt_amount(value)


def audit_reads(uow: Any, viewer: Viewer, now: datetime, via: str) -> None:
    record_reads(uow, viewer, now, via=via)


__all__ = ["MASK", "audit_reads", "field_rules", "show_amount", "viewer_for"]

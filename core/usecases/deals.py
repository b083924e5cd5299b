"""Deal use cases that the foundation needs: opening a deal. Stage moves live in stages.py."""

from __future__ import annotations

from datetime import datetime

from core import audit, permissions
from core.errors import Ambiguous, Conflict, NotFound, RuleViolation
from core.model import Assignment, Customer, CustomerStatus, Deal, DealStatus, StageChange, User
from core.pipeline import Pipeline
from core.ports import UnitOfWork
from core.validation import require_name


def open_deal(
    uow: UnitOfWork,
    actor: User,
    customer: Customer,
    now: datetime,
    *,
    pipeline: Pipeline,
    title: str | None = None,
) -> Deal:
    if customer.owner_id:
        permissions.require_change(actor, customer)
    name = require_name(title, "商机名称") if title else f"{customer.name} 商机"
    deal = uow.deals.add(
        Deal(
            id=None,
            customer_id=customer.id or 0,
            owner_id=customer.owner_id,
            title=name,
            stage=pipeline.first.key,
            status=DealStatus.OPEN,
            stage_entered_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    deal_id = deal.id or 0
    uow.history.add_stage_change(StageChange(None, deal_id, None, pipeline.first.key, "forward", actor.id, now,
                                             "新建商机"))
    if deal.owner_id:
        uow.history.add_assignment(Assignment(None, "deal", deal_id, None, deal.owner_id, actor.id, "新建", now))
    audit.record(uow, actor_id=actor.id, action="deal.open", subject_type="deal", subject_id=deal_id, now=now,
                 after={"customer_id": customer.id, "title": name, "stage": deal.stage})
    return deal


def pick_open_deal(uow: UnitOfWork, customer: Customer, deal_id: int | None = None) -> Deal | None:
    """The customer's open deal; with several, the caller must say which (deal_id)."""
    deals = uow.deals.for_customer(customer.id or 0, open_only=True)
    if deal_id is not None:
        for deal in deals:
            if deal.id == deal_id:
                return deal
        raise NotFound(f"客户「{customer.name}」没有编号为 {deal_id} 的进行中商机。")
    if len(deals) > 1:
        raise Ambiguous(f"客户「{customer.name}」有 {len(deals)} 个进行中的商机，请选择一个：",
                        [(d.id or 0, f"{d.title}（{d.stage}）") for d in deals])
    return deals[0] if deals else None


def new_deal(
    uow: UnitOfWork,
    actor: User,
    customer: Customer,
    now: datetime,
    *,
    pipeline: Pipeline,
    title: str | None = None,
) -> Deal:
    """`/新商机`: another deal for an existing customer, owned by the customer's rep."""
    if customer.status != CustomerStatus.ACTIVE:
        raise Conflict(f"客户「{customer.name}」已失效或已合并，不能新建商机。")
    if customer.owner_id is None:
        raise RuleViolation(f"客户「{customer.name}」在公海中，请先 /领取 {customer.name}（或请主管转派）再新建商机。")
    permissions.require_change(actor, customer)
    existing = uow.deals.for_customer(customer.id or 0)
    if title:
        title = require_name(title, "商机名称")
        if any(d.title == title and d.status == DealStatus.OPEN for d in existing):
            raise Conflict(f"客户「{customer.name}」已有一个进行中的商机叫「{title}」。")
    else:
        title = f"{customer.name} 商机{len(existing) + 1}"
    return open_deal(uow, actor, customer, now, pipeline=pipeline, title=title)

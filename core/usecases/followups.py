"""Recording a follow-up: the most frequent thing a rep does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core import audit, permissions
from core.errors import InvalidInput
from core.model import (
    Conclusion,
    Customer,
    Deal,
    FollowUp,
    FollowUpSource,
    Method,
    NextAction,
    User,
)
from core.ports import UnitOfWork
from core.usecases.deals import pick_open_deal
from core.validation import MAX_TEXT_LEN


@dataclass
class FollowUpInput:
    customer_id: int
    occurred_at: datetime
    source: FollowUpSource
    method: Method | None = None
    conclusion: Conclusion | None = None
    next_action: NextAction | None = None
    next_followup_on: date | None = None
    stage_hint: str | None = None
    amount: float | None = None
    pain_points: list[str] = field(default_factory=list)
    raw_text: str = ""
    extracted: dict[str, Any] = field(default_factory=dict)
    contact_id: int | None = None
    deal_id: int | None = None
    call_id: str | None = None
    effective: bool | None = None


@dataclass
class FollowUpResult:
    followup: FollowUp
    customer: Customer
    deal: Deal | None
    duplicate: bool = False  # the same call log was recorded before


def record_followup(uow: UnitOfWork, actor: User, data: FollowUpInput, now: datetime) -> FollowUpResult:
    if len(data.raw_text) > MAX_TEXT_LEN:
        raise InvalidInput(f"跟进内容太长了（最多 {MAX_TEXT_LEN} 个字），请精简后再发。")
    customer = uow.customers.get(data.customer_id)
    if customer is None:
        raise InvalidInput("找不到这个客户，可能已被合并或标记无效。")
    if customer.owner_id:
        permissions.require_change(actor, customer)
    if data.call_id:
        previous = uow.followups.by_call_id(data.call_id)
        if previous is not None:
            deal = uow.deals.get(previous.deal_id) if previous.deal_id else None
            return FollowUpResult(previous, customer, deal, duplicate=True)
    if data.next_followup_on and data.next_followup_on < data.occurred_at.date():
        raise InvalidInput(f"下次跟进日期 {data.next_followup_on:%Y-%m-%d} 已经过去了，请给一个今天或以后的日期。")
    if data.amount is not None and not (0 < data.amount < 1e12):
        raise InvalidInput("金额看起来不对，请用「50万」或「500000」这样的写法。")

    deal = pick_open_deal(uow, customer, data.deal_id)
    followup = uow.followups.add(
        FollowUp(
            id=None,
            customer_id=customer.id or 0,
            user_id=actor.id,
            occurred_at=data.occurred_at,
            method=data.method,
            source=data.source,
            deal_id=deal.id if deal else None,
            contact_id=data.contact_id,
            conclusion=data.conclusion,
            next_action=data.next_action,
            next_followup_on=data.next_followup_on,
            stage_hint=data.stage_hint,
            amount=data.amount,
            pain_points=sorted(set(data.pain_points)),
            raw_text=data.raw_text,
            extracted=data.extracted,
            call_id=data.call_id,
            effective=data.effective,
            created_at=now,
        )
    )
    if deal is not None:
        before = audit.snapshot(deal, ("last_followup_at", "next_followup_on", "pain_points"))
        if deal.last_followup_at is None or data.occurred_at > deal.last_followup_at:
            deal.last_followup_at = data.occurred_at
        if data.next_followup_on:
            deal.next_followup_on = data.next_followup_on
        deal.pain_points = sorted(set(deal.pain_points) | set(data.pain_points))
        if data.amount is not None and deal.amount is None:
            deal.amount = data.amount
        deal.updated_at = now
        uow.deals.update(deal)
        after = audit.snapshot(deal, ("last_followup_at", "next_followup_on", "pain_points"))
        b, a = audit.changed(before, after)
        if a:
            audit.record(uow, actor_id=actor.id, action="deal.followup", subject_type="deal",
                         subject_id=deal.id or 0, now=now, before=b, after=a)
    audit.record(uow, actor_id=actor.id, action="followup.create", subject_type="customer",
                 subject_id=customer.id or 0, now=now,
                 after={"followup_id": followup.id, "method": data.method, "source": data.source.value})
    return FollowUpResult(followup, customer, deal)

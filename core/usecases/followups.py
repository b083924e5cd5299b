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


def record_followup(uow: UnitOfWork, actor: User, data: FollowUpInput, now: datetime, *,
                    from_system: bool = False) -> FollowUpResult:
    """Record a follow-up by `actor`. `from_system`: the phone system reports a call that happened,
    so the owner check does not apply (the fact is recorded; ownership is not changed)."""
    if len(data.raw_text) > MAX_TEXT_LEN:
        raise InvalidInput(f"跟进内容太长了（最多 {MAX_TEXT_LEN} 个字），请精简后再发。")
    customer = uow.customers.get(data.customer_id)
    if customer is None:
        raise InvalidInput("找不到这个客户，可能已被合并或标记无效。")
    if customer.owner_id and not from_system:
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
    if customer.lead_state == "new":  # the first follow-up: the lead no longer counts against capacity
        customer.lead_state = "contacted"
        customer.updated_at = now
        uow.customers.update(customer)
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
        deal_before, deal_after = audit.changed(
            before, audit.snapshot(deal, ("last_followup_at", "next_followup_on", "pain_points")))
    else:
        deal_before, deal_after = {}, {}
    # one entry for the follow-up and what it changed on the deal
    audit.record(uow, actor_id=actor.id, action="followup.create", subject_type="customer",
                 subject_id=customer.id or 0, now=now, before={"deal": deal_before} if deal_before else {},
                 after={"followup_id": followup.id, "method": data.method, "source": data.source.value,
                        "deal_id": deal.id if deal else None, "deal": deal_after})
    return FollowUpResult(followup, customer, deal)


AMENDABLE = ("next_followup_on", "amount", "method", "conclusion", "next_action", "pain_points", "stage_hint")


def _owned_followup(uow: UnitOfWork, actor: User, followup_id: int) -> FollowUp:
    followup = uow.followups.get(followup_id)
    if followup is None:
        raise InvalidInput("找不到这条跟进记录。")
    if followup.user_id != actor.id:
        raise InvalidInput("只能修改自己记录的跟进。")
    if followup.status != "active":
        raise InvalidInput("这条跟进已经取消了。")
    return followup


def amend_followup(uow: UnitOfWork, actor: User, followup_id: int, changes: dict[str, Any],
                   now: datetime) -> FollowUpResult:
    """Change fields of one's own follow-up (the card's 修改 / 确认) and carry them to the deal."""
    unknown = set(changes) - set(AMENDABLE)
    if unknown:
        raise InvalidInput(f"这些字段不能修改：{', '.join(sorted(unknown))}")
    followup = _owned_followup(uow, actor, followup_id)
    new_date = changes.get("next_followup_on")
    if new_date is not None and new_date < followup.occurred_at.date():
        raise InvalidInput(f"下次跟进日期 {new_date:%Y-%m-%d} 已经过去了，请给一个今天或以后的日期。")
    amount = changes.get("amount")
    if amount is not None and not (0 < amount < 1e12):
        raise InvalidInput("金额看起来不对，请用「50万」或「500000」这样的写法。")
    before = audit.snapshot(followup, AMENDABLE)
    for key, value in changes.items():
        setattr(followup, key, sorted(set(value)) if key == "pain_points" else value)
    uow.followups.update(followup)
    b, a = audit.changed(before, audit.snapshot(followup, AMENDABLE))
    audit.record(uow, actor_id=actor.id, action="followup.amend", subject_type="followup",
                 subject_id=followup.id or 0, now=now, before=b, after=a)
    customer = uow.customers.get(followup.customer_id)
    deal = uow.deals.get(followup.deal_id) if followup.deal_id else None
    if deal is not None:
        if new_date is not None:
            deal.next_followup_on = new_date
        if "pain_points" in changes:
            deal.pain_points = sorted(set(deal.pain_points) | set(changes["pain_points"]))
        if amount is not None and deal.amount is None:
            deal.amount = amount
        deal.updated_at = now
        uow.deals.update(deal)
    assert customer is not None
    return FollowUpResult(followup, customer, deal)


def void_followup(uow: UnitOfWork, actor: User, followup_id: int, now: datetime,
                  deal_before: dict[str, Any] | None = None) -> FollowUp:
    """Cancel one's own follow-up: it stays, marked voided, and the deal gets back what it changed."""
    followup = _owned_followup(uow, actor, followup_id)
    followup.status = "voided"
    uow.followups.update(followup)
    if followup.deal_id and deal_before:
        deal = uow.deals.get(followup.deal_id)
        if deal is not None and deal.next_followup_on == followup.next_followup_on:
            restored = deal_before.get("next_followup_on")
            deal.next_followup_on = date.fromisoformat(restored) if restored else None
            deal.updated_at = now
            uow.deals.update(deal)
    audit.record(uow, actor_id=actor.id, action="followup.void", subject_type="followup",
                 subject_id=followup.id or 0, now=now, before={"status": "active"}, after={"status": "voided"})
    return followup

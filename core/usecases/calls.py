"""Call logs from the phone system become phone follow-ups, attached to the customer by phone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core import audit
from core.errors import InvalidInput
from core.model import (
    CallLog,
    Conclusion,
    Customer,
    CustomerStatus,
    FollowUp,
    FollowUpSource,
    Method,
    NextAction,
    User,
)
from core.ports import UnitOfWork
from core.usecases.followups import FollowUpInput, record_followup
from core.validation import normalize_phone


@dataclass(frozen=True)
class CallInput:
    call_id: str
    rep_id: str | None
    customer_phone: str
    started_at: datetime
    duration_s: int
    transcript: str = ""


@dataclass
class CallFacts:
    """What the parser understood from the transcript."""

    contact_name: str | None = None
    company: str | None = None
    conclusion: str | None = None
    next_action: str | None = None
    next_followup_on: date | None = None
    stage: str | None = None
    amount: float | None = None
    pain_points: list[str] = field(default_factory=list)
    effective: bool = False
    extracted: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallResult:
    status: str  # recorded | duplicate | unknown_number | invalid
    call: CallLog
    rep: User | None = None
    customer: Customer | None = None
    followup: FollowUp | None = None
    message: str = ""


def validate_call(call: CallInput) -> None:
    if not call.call_id or len(call.call_id) > 128:
        raise InvalidInput("call_id 不能为空，且不超过 128 个字符。")
    if call.started_at.tzinfo is None:
        raise InvalidInput("started_at 需要带时区，例如 2026-03-11T10:02:00+08:00。")
    if not 0 <= call.duration_s <= 24 * 3600:
        raise InvalidInput("duration_s 应在 0 到 86400 秒之间。")


def ingest_call(uow: UnitOfWork, call: CallInput, facts: CallFacts, now: datetime) -> CallResult:
    """Store the call once (by call_id) and record it as a phone follow-up when the number is known."""
    validate_call(call)
    existing = uow.calls.by_call_id(call.call_id)
    if existing is not None:
        return CallResult("duplicate", existing)
    phone_norm = normalize_phone(call.customer_phone)
    log = uow.calls.add(CallLog(None, call.call_id, call.rep_id, call.customer_phone, phone_norm, call.started_at,
                                call.duration_s, call.transcript, created_at=now))
    rep = uow.users.get(call.rep_id) if call.rep_id else None
    if rep is None:
        log.status = "invalid"
        uow.calls.update(log)
        return CallResult("invalid", log, message=f"通话 {call.call_id} 的坐席「{call.rep_id}」不是 crmbot 用户。")
    if phone_norm is None:
        log.status = "invalid"
        uow.calls.update(log)
        return CallResult("invalid", log, rep, message=f"通话 {call.call_id} 的号码「{call.customer_phone}」无法识别。")
    customers = [c for c in uow.customers.by_phone(phone_norm) if c.status == CustomerStatus.ACTIVE]
    if not customers:
        log.status = "unknown_number"
        uow.calls.update(log)
        return CallResult("unknown_number", log, rep)
    # several customers share the number: prefer the rep's own
    customer = next((c for c in customers if c.owner_id == rep.id), customers[0])
    result = record_call_followup(uow, rep, customer, log, facts, now)
    return CallResult("recorded", log, rep, customer, result)


def record_call_followup(uow: UnitOfWork, rep: User, customer: Customer, log: CallLog, facts: CallFacts,
                         now: datetime) -> FollowUp:
    contact_id = next((c.id for c in customer.contacts if c.phone_norm == log.phone_norm), None)
    next_date = facts.next_followup_on if facts.next_followup_on and facts.next_followup_on >= \
        log.started_at.date() else None
    result = record_followup(uow, rep, FollowUpInput(
        customer_id=customer.id or 0, occurred_at=log.started_at, source=FollowUpSource.CALL_LOG,
        method=Method.PHONE, conclusion=Conclusion(facts.conclusion) if facts.conclusion else None,
        next_action=NextAction(facts.next_action) if facts.next_action else None, next_followup_on=next_date,
        stage_hint=facts.stage, amount=facts.amount, pain_points=facts.pain_points,
        raw_text=log.transcript[:4000], extracted=facts.extracted, contact_id=contact_id, call_id=log.call_id,
        effective=facts.effective,
    ), now, from_system=True)
    log.customer_id, log.followup_id, log.status = customer.id, result.followup.id, "recorded"
    uow.calls.update(log)
    audit.record(uow, actor_id=rep.id, action="call.recorded", subject_type="customer", subject_id=customer.id or 0,
                 now=now, after={"call_id": log.call_id, "effective": facts.effective})
    return result.followup

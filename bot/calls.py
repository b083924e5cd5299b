"""Call logs from the phone system: validate, parse the transcript, record, notify the rep.

Shared by `crmbot calls import` and `POST /api/calls`, so both behave the same.
"""

from __future__ import annotations

from typing import Any

import pydantic

from bot.actions import action
from bot.notify import Notifier
from bot.services import Services
from bot.types import Button, Card
from core.errors import InvalidInput
from core.usecases.calls import CallFacts, CallInput, CallResult, ingest_call


def call_from_json(data: Any) -> CallInput:
    from bot.nlp.types import CallLog

    if not isinstance(data, dict):
        raise InvalidInput("每条通话记录应是一个 JSON 对象。")
    try:
        model = CallLog.model_validate(data)
    except pydantic.ValidationError as err:
        problems = "；".join(_problem(e) for e in err.errors())
        raise InvalidInput(f"通话记录格式不对：{problems}。") from err
    return CallInput(call_id=model.call_id, rep_id=model.rep, customer_phone=model.customer_phone,
                     started_at=model.started_at, duration_s=model.duration_s, transcript=model.transcript)


FIELD_NAMES_ZH = {"call_id": "通话编号", "rep": "销售账号", "customer_phone": "客户电话", "started_at": "开始时间",
                  "duration_s": "通话时长，秒", "transcript": "通话文字", "id": "编号"}


def _problem(error: Any) -> str:
    """One pydantic error in Chinese; the key stays, the phone system's developers need it."""
    key = ".".join(str(p) for p in error["loc"])
    label = f"{key}（{FIELD_NAMES_ZH[key]}）" if key in FIELD_NAMES_ZH else key
    kind = str(error["type"])
    limit = (error.get("ctx") or {}).get("ge")
    if kind == "missing":
        return f"{label}缺少"
    if kind.startswith(("datetime", "date")):
        return f"{label}不是有效的时间，例如 2026-03-10T10:00:00+08:00"
    if kind == "greater_than_equal":
        return f"{label}不能小于 {limit}"
    if kind.startswith("int"):
        return f"{label}应为整数"
    if kind.startswith("string"):
        return f"{label}应为文字"
    return f"{label}的值不对"


def facts_from(services: Services, data: dict[str, Any]) -> CallFacts:
    from bot.nlp.types import CallLog

    ex = services.parser.parse_call(CallLog.model_validate(data))
    return CallFacts(contact_name=ex.contact_name, company=ex.company, conclusion=ex.conclusion,
                     next_action=ex.next_action, next_followup_on=ex.next_followup, stage=ex.stage, amount=ex.amount,
                     pain_points=list(ex.pain_points), effective=bool(ex.effective),
                     extracted=ex.model_dump(mode="json"))


def ingest(services: Services, data: Any) -> CallResult:
    """One call log, one transaction. Raises InvalidInput for a malformed record."""
    call = call_from_json(data)
    facts = facts_from(services, data)
    now = services.clock.now()
    with services.uow_factory() as uow:
        result = ingest_call(uow, call, facts, now)
        if result.status == "unknown_number" and result.rep is not None:
            Notifier(services, uow, now).notify(result.rep, unknown_number_card(services, result, facts),
                                                 state={"company": facts.company, "contact": facts.contact_name})
        uow.commit()
    return result


def unknown_number_card(services: Services, result: CallResult, facts: CallFacts) -> Card:
    call = result.call
    started = call.started_at.astimezone(services.tz).strftime("%m-%d %H:%M")
    fields = [("号码", call.phone_norm or call.customer_phone), ("时间", started),
              ("时长", f"{call.duration_s // 60} 分 {call.duration_s % 60} 秒"),
              ("有效通话", "是" if facts.effective else "否")]
    if facts.company:
        fields.append(("公司", facts.company))
    if call.transcript:
        fields.append(("摘要", call.transcript[:60] + ("…" if len(call.transcript) > 60 else "")))
    return Card(title="新号码，是否新建客户？", fields=tuple(fields),
                buttons=(Button("新建客户", action("call", "create", call.id), "primary"),
                         Button("忽略", action("call", "ignore", call.id))))

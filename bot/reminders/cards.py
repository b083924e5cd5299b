"""The reminder and escalation cards: what each level says, and its buttons (ids only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.actions import action
from bot.cards import card_from_dict
from bot.types import Button, Card
from core.model import Alert, FollowUp, User
from core.reminders import DIRECTOR, MANAGER, OWNER, RULE_NAMES_ZH, STATE_NAMES_ZH, DealFacts, Due, LeadFacts


def _fmt(dt: datetime | None, tz: Any, fmt: str = "%m-%d %H:%M") -> str:
    return dt.astimezone(tz).strftime(fmt) if dt else "暂无"


def deal_buttons(alert_id: int, audience: str, snooze_days: Sequence[int]) -> tuple[Button, ...]:
    first = (
        Button("已跟进", action("alert", "done", alert_id), "primary")
        if audience == OWNER
        else Button("转派", action("alert", "reassign", alert_id), "primary")
    )
    snoozes = tuple(Button(f"延期{d}天", action("alert", "snooze", alert_id, f"{d}d")) for d in snooze_days)
    return (
        first,
        *snoozes,
        Button("标记无效", action("alert", "invalid", alert_id), "danger"),
        Button("查看详情", action("alert", "detail", alert_id)),
    )


def lead_buttons(alert_id: int, assign_label: str) -> tuple[Button, ...]:
    return (
        Button(assign_label, action("alert", "reassign", alert_id), "primary"),
        Button("标记无效", action("alert", "invalid", alert_id), "danger"),
        Button("查看详情", action("alert", "detail", alert_id)),
    )


def followup_card(
    alert: Alert,
    due: Due,
    deal: DealFacts,
    owner: User | None,
    stage_name: str,
    overdue_days: int,
    tz: Any,
    snooze_days: Sequence[int],
) -> Card:
    owner_name = owner.name if owner else "（无人负责）"
    planned = deal.next_followup_on.strftime("%Y-%m-%d") if deal.next_followup_on else "—"
    fields = [
        ("客户", deal.customer_name),
        ("商机", f"{deal.title} · {stage_name}"),
        ("计划跟进", planned),
        ("上次跟进", _fmt(deal.last_followup_at, tz)),
    ]
    if due.level == 1:
        title, text = (
            f"今天该跟进：{deal.customer_name}",
            "按计划今天需要跟进这个客户。跟进后点「已跟进」写一句情况即可。",
        )
    elif due.level == 2:
        title = f"跟进已逾期：{deal.customer_name}"
        text = f"计划 {planned} 跟进，已逾期 {overdue_days} 个工作日。请尽快跟进，再拖将提醒主管。"
    else:
        title = f"逾期未跟进：{owner_name} · {deal.customer_name}"
        text = f"{owner_name} 计划 {planned} 跟进，已逾期 {overdue_days} 个工作日仍没有跟进记录。"
        fields.insert(0, ("负责人", owner_name))
    return Card(
        title=title,
        description=text,
        fields=tuple(fields),
        buttons=deal_buttons(alert.id or 0, due.audience, snooze_days),
        footer=f"提醒 #{alert.id}",
    )


def stall_card(
    alert: Alert,
    due: Due,
    deal: DealFacts,
    owner: User | None,
    stage_name: str,
    dwell: str,
    recent: Sequence[FollowUp],
    missing: Sequence[str] | None,
    tz: Any,
    snooze_days: Sequence[int],
) -> Card:
    owner_name = owner.name if owner else "（无人负责）"
    fields: list[tuple[str, str]] = [
        ("客户", deal.customer_name),
        ("商机", f"{deal.title} · {stage_name}"),
        ("停留", dwell),
    ]
    if due.audience == OWNER:
        title = f"商机停滞：{deal.customer_name}"
        text = f"商机在「{stage_name}」阶段停留太久了，请推进到下一阶段或更新跟进计划。"
    else:
        who = "主管" if due.audience == MANAGER else "总监"
        title = f"商机停滞（请{who}关注）：{owner_name} · {deal.customer_name}"
        text = f"已提醒 {owner_name}，商机仍停在「{stage_name}」。诊断如下："
        fields.insert(0, ("负责人", owner_name))
        lines = [f"{_fmt(f.occurred_at, tz, '%m-%d')} {(f.raw_text or '—')[:24]}" for f in recent[:3]]
        fields.append(("最近跟进", "；".join(lines) if lines else "没有跟进记录"))
        if missing is not None:
            fields.append(("缺少的证据", "、".join(missing) if missing else "无（可以推进）"))
    if due.audience == DIRECTOR:
        text = f"主管已收到提醒 2 次以上，{text}"
    return Card(
        title=title,
        description=text,
        fields=tuple(fields),
        buttons=deal_buttons(alert.id or 0, due.audience, snooze_days),
        footer=f"提醒 #{alert.id}",
    )


def untouched_card(alert: Alert, lead: LeadFacts, owner: User | None, hours: float, tz: Any) -> Card:
    owner_name = owner.name if owner else "（无人负责）"
    return Card(
        title=f"新线索 {hours:g} 小时未跟进：{lead.name}",
        description=(
            f"{owner_name} 于 {_fmt(lead.assigned_at, tz)} 接手后 {hours:g} 个工作小时内没有跟进记录，"
            "线索已转入待激活池。可以转派给其他同事。"
        ),
        fields=(("客户", lead.name), ("负责人", owner_name), ("分配时间", _fmt(lead.assigned_at, tz))),
        buttons=lead_buttons(alert.id or 0, "转派"),
        footer=f"提醒 #{alert.id}",
    )


def unassigned_card(alert: Alert, lead: LeadFacts, hours: float, tz: Any) -> Card:
    return Card(
        title=f"线索未分配：{lead.name}",
        description=f"这条线索已超过 {hours:g} 个工作小时无人负责，请分配给团队成员。",
        fields=(("客户", lead.name), ("团队", lead.team or "—"), ("创建时间", _fmt(lead.created_at, tz))),
        buttons=lead_buttons(alert.id or 0, "分配"),
        footer=f"提醒 #{alert.id}",
    )


def digest_card(
    day: str,
    alerts: Sequence[Alert],
    today_start: datetime,
    users: dict[str, User],
    subjects: dict[tuple[str, int], str],
) -> Card:
    today = [a for a in alerts if a.created_at >= today_start]
    acted = [a for a in today if a.state != "open" and a.acted_by]
    # an escalated ladder shows once, at its highest level
    top: dict[tuple[str, str, int, str], Alert] = {}
    for a in alerts:
        if a.state == "open":
            key = (a.rule, a.subject_type, a.subject_id, a.window)
            if key not in top or a.level > top[key].level:
                top[key] = a
    still_open = sorted(top.values(), key=lambda a: a.id or 0)
    by_actor: dict[str, int] = {}
    for a in acted:
        name = users[a.acted_by].name if a.acted_by in users else str(a.acted_by)
        by_actor[name] = by_actor.get(name, 0) + 1
    who = "、".join(f"{n} {c}" for n, c in sorted(by_actor.items(), key=lambda kv: -kv[1])) or "—"
    lines = []
    for a in still_open[:8]:
        recipient = users[a.recipient_id].name if a.recipient_id in users else a.recipient_id
        lines.append(
            f"· {RULE_NAMES_ZH.get(a.rule, a.rule)}（第{a.level}级）{subjects.get((a.subject_type, a.subject_id), '')}"
            f" → {recipient}"
        )
    if len(still_open) > 8:
        lines.append(f"…… 另有 {len(still_open) - 8} 条")
    return Card(
        title=f"今日提醒汇总（{day}）",
        description="\n".join(lines) if lines else "没有待处理的提醒。",
        fields=(
            ("今日提醒", f"{len(today)} 条"),
            ("已处理", f"{len(acted)} 条（{who}）"),
            ("仍待处理", f"{len(still_open)} 条"),
        ),
    )


def closed_version(body: dict[str, Any], note: str) -> Card:
    """The sent card as it was, without buttons, with what happened at the bottom."""
    card = card_from_dict(body)
    return Card(title=card.title, description=card.description, fields=card.fields, footer=note)


def state_line(alert: Alert, users: dict[str, User], tz: Any) -> str:
    who = users[alert.acted_by].name if alert.acted_by in users else (alert.acted_by or "—")
    when = _fmt(alert.acted_at, tz) if alert.acted_at else ""
    return f"{STATE_NAMES_ZH.get(alert.state, alert.state)}（{who} {when}）".replace(" ）", "）")

"""Reminder card buttons: 已跟进 / 延期 / 转派 / 标记无效 / 查看详情.

Buttons carry ids only (`alert:snooze:<alert_id>:3d`); every press re-reads the alert, checks the
presser's rights and the alert's state, acts once (the card is claimed), updates the card in
place to show who did what, and stops the alert's ladder so no later level fires.
"""

from __future__ import annotations

from datetime import date

from bot.actions import ActionId, BadActionId, action
from bot.cards import card_to_dict
from bot.context import Context
from bot.handlers.common import fmt_date, fmt_time
from bot.reminders import cards
from bot.reminders.scans import engine_of
from bot.router import Router
from bot.types import Button, Card
from core import permissions
from core import reminders as rules
from core.errors import Ambiguous, Conflict, NotFound, PermissionDenied
from core.model import Role, User, UserStatus
from storage.messaging import Dialog

router = Router("alerts")

DIALOG = "alert"
NOTE_QUESTION = "请用一句话说明这次跟进的情况（例如：电话沟通，客户下周二看演示）。回复「取消」可放弃。"


# ---------------------------------------------------------------------- shared steps
def _load(ctx: Context, alert_id: int, *, must_be_open: bool = True) -> rules.AlertSubject:
    subject = rules.load_subject(ctx.uow, alert_id)
    alert = subject.alert
    if alert.recipient_id != ctx.user.id and not permissions.can_see_customer(ctx.user, subject.customer):
        raise PermissionDenied("这张卡片不是发给您的，您无权操作。")
    if must_be_open:
        rules.require_open(ctx.uow, alert, ctx.tz)
    return subject


def _stamp(ctx: Context) -> str:
    return ctx.local_now.strftime("%m-%d %H:%M")


def _platform_id(user: User, channel: str) -> str:
    if channel == "wecom" and user.wecom_userid:
        return user.wecom_userid
    if channel == "dingtalk" and user.dingtalk_staffid:
        return user.dingtalk_staffid
    return user.id


def _close(ctx: Context, card_id: str | None, action_name: str, note: str) -> bool:
    """Claim a sent card and update it in place; False when someone handled it first."""
    if card_id is None:
        return True
    row = ctx.uow.cards.get(card_id)
    if row is None:
        return True
    card = cards.closed_version(row.body, note)
    if card_id == ctx.card_id:
        return ctx.close_card(card, action_name)
    if not ctx.uow.cards.claim(card_id, ctx.user.id, action_name, ctx.now):
        return False
    owner = ctx.uow.users.get(row.user_id)
    body = {"card": card_to_dict(card), "ref": row.ref, "response_code": row.response_code}
    ctx.uow.outbox.add(
        channel=row.channel,
        user_id=row.user_id,
        recipient=_platform_id(owner, row.channel) if owner else row.user_id,
        kind="card_update",
        body=body,
        now=ctx.now,
        card_id=card_id,
    )
    return True


def _finish(ctx: Context, subject: rules.AlertSubject, state: str, action_name: str, note: str) -> None:
    """Record the action on the alert, stop its ladder, and close its card and the outdated ones."""
    alert = subject.alert
    outdated = rules.stop_ladder(ctx.uow, alert, ctx.user, state, action_name, ctx.now)
    if not _close(ctx, alert.card_id, action_name, note):
        raise Conflict("这张卡片刚刚已被处理，请以最新状态为准。")
    for other in outdated:
        _close(ctx, other.card_id, action_name, f"已由 {ctx.user.name} 处理：{note}")


def _dialog_subject(ctx: Context, dialog: Dialog) -> rules.AlertSubject | None:
    """The alert a dialog step is about, or None (and the dialog ends) when it was handled meanwhile."""
    try:
        return _load(ctx, int(dialog.data.get("alert_id", 0)))
    except (Conflict, NotFound) as err:
        ctx.end_dialog()
        ctx.reply(err.user_text())
        return None


def _pressed_card(dialog: Dialog) -> str | None:
    value = dialog.data.get("card_id")
    return str(value) if value else None


# ---------------------------------------------------------------------- 已跟进
@router.action("alert:done")
def done(ctx: Context, act: ActionId) -> None:
    subject = _load(ctx, act.int_arg(0))
    permissions.require_change(ctx.user, subject.customer)
    ctx.ask(DIALOG, "done_note", NOTE_QUESTION, {"alert_id": subject.alert.id, "card_id": ctx.card_id})


@router.dialog(DIALOG, "done_note")
def done_note(ctx: Context, dialog: Dialog, text: str) -> None:
    subject = _dialog_subject(ctx, dialog)
    if subject is None:
        return
    result = rules.record_done(ctx.uow, ctx.user, subject, text, ctx.now, next_followup_on=_next_date(ctx, text))
    ctx.end_dialog()
    ctx.card_id = _pressed_card(dialog)
    note = f"✅ {ctx.user.name} 已跟进（{_stamp(ctx)}）：{text.strip()[:40]}"
    _finish(ctx, subject, "done", "done", note)
    nxt = result.deal.next_followup_on if result.deal else None
    if nxt is not None and nxt > ctx.local_now.date():
        ctx.reply(f"已记录跟进：{result.customer.name}。下次跟进 {fmt_date(nxt)}。")
        return
    # the plan still points at today or the past: ask for the next date, as for a free-text follow-up
    ctx.reply(f"已记录跟进：{result.customer.name}。")
    ctx.ask("followup", "ask_date", "下次什么时候跟进？例如：明天、下周三、3月18日。回复「不定」可跳过。",
            data={"followup_id": result.followup.id, "tries": 0})


def _next_date(ctx: Context, note: str) -> date | None:
    """The next follow-up date the note names ("客户下周二看演示"), if the parser is available."""
    try:
        parser = ctx.services.parser
    except ImportError:
        return None
    when = parser.parse_text(note, ctx.local_now).next_followup
    return when if when is not None and when > ctx.local_now.date() else None


# ---------------------------------------------------------------------- 延期
@router.action("alert:snooze")
def snooze(ctx: Context, act: ActionId) -> None:
    alert_id = act.int_arg(0)
    if len(act.args) != 2:
        raise BadActionId(act.pack())
    days = rules.parse_snooze(act.args[1], engine_of(ctx.services).cfg.snooze_days)
    subject = _load(ctx, alert_id)
    until = rules.snooze(ctx.uow, ctx.user, subject, days, ctx.local_now.date(), ctx.now)
    note = f"⏰ {ctx.user.name} 已延期 {days} 天，下次跟进 {until:%m-%d}（{_stamp(ctx)}）"
    _finish(ctx, subject, "snoozed", f"snooze:{days}d", note)
    owner = ctx.uow.users.get(subject.customer.owner_id) if subject.customer.owner_id else None
    if owner is not None and owner.id != ctx.user.id and owner.status == UserStatus.ACTIVE:
        ctx.notify(owner, f"{ctx.user.name} 已把「{subject.customer.name}」的跟进延期到 {until:%Y-%m-%d}。")


# ---------------------------------------------------------------------- 转派
def _candidates(ctx: Context, subject: rules.AlertSubject) -> list[User]:
    team = subject.customer.team or ctx.user.team
    users = ctx.uow.users.list(team=team) if team else []
    return [
        u
        for u in users
        if u.has(Role.REP) and u.status == UserStatus.ACTIVE and u.id != subject.customer.owner_id
    ]


@router.action("alert:reassign")
def reassign_start(ctx: Context, act: ActionId) -> None:
    subject = _load(ctx, act.int_arg(0))
    if not rules.can_reassign(ctx.user, subject.customer):
        raise PermissionDenied("抱歉，只有该团队的主管（或总监）可以转派。")
    alert_id = subject.alert.id
    people = _candidates(ctx, subject)
    buttons = [Button(u.name, action("alert", "assign", alert_id, u.id)) for u in people[:5]]
    buttons.append(Button("取消", action("alert", "cancel", alert_id)))
    more = "，其他同事请直接回复姓名" if len(people) > 5 else "，也可以直接回复同事的姓名"
    card = Card(
        title=f"把「{subject.customer.name}」转派给谁？",
        description=f"请点选接手的同事{more}。休假或已离职的同事不能接手。",
        buttons=tuple(buttons),
    )
    ctx.ask(DIALOG, "assign_name", card, {"alert_id": alert_id, "card_id": subject.alert.card_id})


def _reassign(ctx: Context, subject: rules.AlertSubject, target_id: str) -> None:
    previous = ctx.uow.users.get(subject.customer.owner_id) if subject.customer.owner_id else None
    calendar = engine_of(ctx.services).wt.calendar
    target = rules.reassign(
        ctx.uow, ctx.user, subject, target_id, ctx.now, next_due=calendar.next_workday(ctx.local_now.date())
    )
    ctx.end_dialog()
    verb = "分配" if previous is None else "转派"
    note = f"🔁 {ctx.user.name} 已{verb}给 {target.name}（{_stamp(ctx)}）"
    pick = ctx.card_id is not None and ctx.card_id != subject.alert.card_id  # the pressed "转派给谁？" card
    done_card = Card(title=f"已{verb}「{subject.customer.name}」", description=note)
    if pick and not ctx.close_card(done_card, f"assign:{target.id}"):
        raise Conflict("这张卡片刚刚已被处理，请以最新状态为准。")
    _finish(ctx, subject, "reassigned", f"reassign:{target.id}", note)
    ctx.notify(
        target,
        Card(
            title=f"新分配给您的客户：{subject.customer.name}",
            description=f"{ctx.user.name} 把这个客户{verb}给了您，请尽快跟进。",
            fields=(("客户", subject.customer.name), ("原负责人", previous.name if previous else "—")),
        ),
    )
    if previous is not None and previous.id not in (ctx.user.id, target.id) and previous.is_active:
        ctx.notify(previous, f"客户「{subject.customer.name}」已由 {ctx.user.name} 转派给 {target.name}。")


@router.action("alert:assign")
def assign(ctx: Context, act: ActionId) -> None:
    alert_id = act.int_arg(0)
    if len(act.args) != 2:
        raise BadActionId(act.pack())
    subject = _load(ctx, alert_id)
    _reassign(ctx, subject, act.args[1])


@router.dialog(DIALOG, "assign_name")
def assign_by_name(ctx: Context, dialog: Dialog, text: str) -> None:
    subject = _dialog_subject(ctx, dialog)
    if subject is None:
        return
    name = text.strip().lstrip("@")
    found = [
        u for u in ctx.uow.users.find_by_name(name) if u.status != UserStatus.OFFBOARDED
    ] or ctx.uow.users.find_by_name(name)
    if not found:
        raise NotFound(f"没有找到同事「{name}」。请重新输入姓名，或点选卡片上的按钮。")
    if len(found) > 1:
        raise Ambiguous(
            f"有 {len(found)} 位同事叫「{name}」，请点选卡片上的按钮：",
            [(u.id, f"{u.name}（{u.team or '无团队'}）") for u in found],
        )
    ctx.card_id = None
    _reassign(ctx, subject, found[0].id)


@router.action("alert:cancel")
def cancel(ctx: Context, act: ActionId) -> None:
    act.int_arg(0)
    ctx.end_dialog()
    if not ctx.close_card(Card(title="已取消转派", description="提醒仍待处理。"), "cancel"):
        ctx.reply("这张卡片已处理过了。")


# ---------------------------------------------------------------------- 标记无效
@router.action("alert:invalid")
def invalid_start(ctx: Context, act: ActionId) -> None:
    subject = _load(ctx, act.int_arg(0))
    permissions.require_change(ctx.user, subject.customer)
    ctx.ask(
        DIALOG,
        "invalid_reason",
        f"请说明把「{subject.customer.name}」标记为无效的原因（例如：重复录入、空号）。回复「取消」可放弃。",
        {"alert_id": subject.alert.id, "card_id": ctx.card_id},
    )


@router.dialog(DIALOG, "invalid_reason")
def invalid_reason(ctx: Context, dialog: Dialog, text: str) -> None:
    subject = _dialog_subject(ctx, dialog)
    if subject is None:
        return
    customer = rules.mark_invalid(ctx.uow, ctx.user, subject, text, ctx.now)
    ctx.end_dialog()
    ctx.card_id = _pressed_card(dialog)
    _finish(
        ctx,
        subject,
        "invalid",
        "invalid",
        f"🚫 {ctx.user.name} 已标记无效（{_stamp(ctx)}）：{customer.invalid_reason}",
    )
    ctx.reply(
        f"已将客户「{customer.name}」标记为无效（原因：{customer.invalid_reason}）。数据仍保留，可随时查询。"
    )


# ---------------------------------------------------------------------- 查看详情
@router.action("alert:detail")
def detail(ctx: Context, act: ActionId) -> None:
    subject = _load(ctx, act.int_arg(0), must_be_open=False)
    customer, alert = subject.customer, subject.alert
    owner = ctx.uow.users.get(customer.owner_id) if customer.owner_id else None
    lead_state = {"new": "新线索", "contacted": "已联系", "dormant": "待激活"}.get(
        customer.lead_state, customer.lead_state
    )
    lines = [
        f"【{customer.name}】",
        f"  负责人：{owner.name if owner else '公海（未分配）'}  状态：{lead_state}",
    ]
    for deal in subject.deals[:3]:
        lines.append(
            f"  商机：{deal.title} · {ctx.services.pipeline.name(deal.stage)} · "
            f"进入阶段 {fmt_time(deal.stage_entered_at, ctx.tz)} · 下次跟进 {fmt_date(deal.next_followup_on)}"
            + (f" · 预计成交 {fmt_date(deal.close_date)}" if deal.close_date else "")
        )
    recent = ctx.uow.followups.for_customer(customer.id or 0, limit=3)
    for f in recent:
        lines.append(f"  跟进：{fmt_time(f.occurred_at, ctx.tz)} {(f.raw_text or '—')[:40]}")
    if not recent:
        lines.append("  跟进：暂无记录")
    users = {u.id: u for u in ctx.uow.users.list(include_offboarded=True)}
    lines.append(
        f"  提醒 #{alert.id}：{rules.RULE_NAMES_ZH.get(alert.rule, alert.rule)} 第{alert.level}级 · "
        f"{cards.state_line(alert, users, ctx.tz) if alert.state != 'open' else '待处理'}"
    )
    ctx.reply("\n".join(lines))

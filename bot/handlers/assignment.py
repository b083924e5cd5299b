"""Lead assignment in chat: /转派, /领取, /休假, /销假, /公海, and the pool card for managers.

`announce_assignment` tells people about an automatic assignment (the rep gets the lead, or the
team manager gets a pool card with 转派 buttons). Imports, the call-log API and /新客户 by a
manager call it after `create_customer` returns an `assignment` outcome.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.actions import ActionId, action
from bot.context import Context
from bot.handlers.common import parse_date_word
from bot.notify import Notifier
from bot.router import Router, split_args
from bot.services import Services
from bot.types import Button, Card
from core.assignment import AssignmentConfig, RepLoad, on_leave, why_not
from core.assignment import Lead as LeadInfo
from core.errors import Ambiguous, InvalidInput, NotFound
from core.model import Customer, Role, User, UserStatus
from core.usecases.assignment import AssignOutcome, LeadAssigner, claim, end_leave, reassign, set_leave
from core.usecases.customers import resolve_customer

if TYPE_CHECKING:
    from storage.uow import SqlUnitOfWork

router = Router("assignment")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")  # what an action id argument may hold


# ---------------------------------------------------------------------------- wiring
def lead_assigner(services: Services) -> LeadAssigner:
    """The configured round robin (`[assignment]` in crmbot.toml), parsed once, kept in services.extras."""
    assigner = services.extras.get("assigner")
    if assigner is None:
        assigner = LeadAssigner(
            AssignmentConfig.model_validate(services.settings.assignment or {}), services.tz
        )
        services.extras["assigner"] = assigner
    return assigner


def install(services: Services) -> None:
    """Service hook: validate `[assignment]` at start-up."""
    lead_assigner(services)


# ---------------------------------------------------------------------------- announcing
def announce_assignment(
    services: Services,
    uow: SqlUnitOfWork,
    outcome: AssignOutcome | None,
    now: datetime,
    *,
    notifier: Notifier | None = None,
) -> None:
    """Tell the rep about their new lead, or send the team manager the pool card."""
    if outcome is None:
        return
    notifier = notifier or Notifier(services, uow, now)
    customer = outcome.customer
    if outcome.rep is not None:
        notifier.notify(
            outcome.rep,
            f"您有一条新线索：{customer.name}（{customer.region or '未填地区'}，"
            f"来源：{_source(customer.source)}）。请尽快联系，联系后记录一次跟进。",
        )
        return
    recipients = (
        [outcome.manager] if outcome.manager else [u for u in uow.users.list() if u.has(Role.DIRECTOR)]
    )
    for manager in recipients:
        notifier.notify(manager, pool_card(services, uow, customer, outcome, now, manager))


def _source(source: str) -> str:
    return {"import": "导入", "api": "接口", "call_log": "通话记录", "chat": "聊天", "command": "命令"}.get(
        source, source
    )


def pool_card(
    services: Services,
    uow: SqlUnitOfWork,
    customer: Customer,
    outcome: AssignOutcome | None,
    now: datetime,
    manager: User,
) -> Card:
    assigner = lead_assigner(services)
    team = customer.team or manager.team
    reps = (
        [u for u in uow.users.list(team=team) if u.has(Role.REP) and u.status != UserStatus.OFFBOARDED]
        if team
        else []
    )
    loads = uow.workload.loads([r.id for r in reps], assigner.day_start(now))
    today = assigner.today(now)
    available = [r for r in reps if not on_leave(r, today) and _SAFE_ID.match(r.id)]
    available.sort(key=lambda r: (loads.get(r.id, RepLoad()).new_leads / max(r.capacity, 1), r.id))
    lead = LeadInfo(customer.team, customer.region)
    why = (
        outcome.skipped
        if outcome
        else [
            (r.name, why_not(r, lead, loads.get(r.id, RepLoad()), today, assigner.config) or "可接")
            for r in reps
        ]
    )
    fields = [("客户", customer.name), ("地区", customer.region or "—"), ("团队", team or "未匹配到团队")]
    if why:
        fields.append(("未能自动分配", "；".join(f"{name}：{reason}" for name, reason in why[:8])))
    buttons = tuple(
        Button(f"转派给{r.name}", action("assign", "to", customer.id, r.id))
        for r in available[: assigner.config.pool_card_reps]
    )
    return Card(
        "新线索进入公海，请分配",
        tuple(fields),
        buttons,
        footer="也可以用 /转派 客户 @销售，或由销售 /领取 客户。",
    )


# ---------------------------------------------------------------------------- /转派
REASSIGN_EXAMPLE = "例如：/转派 恒康医疗 @李四"


def find_user(ctx: Context, word: str) -> User:
    name = word.strip().lstrip("@＠")
    if not name:
        raise InvalidInput("请用 @姓名 指明是哪位同事。")
    found = ctx.uow.users.find_by_name(name)
    if not found:
        raise NotFound(f"没有找到同事「{name}」。", hint="请用系统里的姓名或账号，例如 @张三。")
    if len(found) > 1:
        raise Ambiguous(
            f"有 {len(found)} 位同事叫「{name}」，请改用账号：",
            [(u.id, f"{u.name}（{u.id}）") for u in found],
        )
    return found[0]


@router.command("转派", usage="/转派 客户 @销售 [原因]", help="主管把客户转给本组的另一位销售")
def reassign_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    at = next((i for i, p in enumerate(parts) if p.startswith(("@", "＠"))), None)
    if at is None and len(parts) >= 2 and ctx.uow.users.find_by_name(parts[1]):
        at = 1  # "/转派 恒康医疗 李四": the colleague named without the @
    if at == 0 and len(parts) >= 2:
        # "/转派 @李四 恒康医疗 [原因]": the person first
        customer = resolve_customer(ctx.uow, ctx.user, parts[1])
        _reassign(ctx, customer, find_user(ctx, parts[0]), " ".join(parts[2:]))
        return
    if at is None or at == 0:
        raise InvalidInput("请告诉我客户和接手的销售。", hint=REASSIGN_EXAMPLE)
    customer = resolve_customer(ctx.uow, ctx.user, " ".join(parts[:at]))
    _reassign(ctx, customer, find_user(ctx, parts[at]), " ".join(parts[at + 1 :]))


def _reassign(
    ctx: Context, customer: Customer, target: User, reason: str, *, from_card: bool = False
) -> None:
    result = reassign(
        ctx.uow, ctx.user, customer, target, ctx.now, assigner=lead_assigner(ctx.services), reason=reason
    )
    note = (
        f"（注意：{result.rep.name}名下未联系的线索已有 {result.load.new_leads} 个，达到上限 {result.rep.capacity}）"
        if result.over_capacity
        else ""
    )
    text = f"已把客户「{customer.name}」转派给{result.rep.name}。{note}"
    if from_card:
        card = Card(f"已转派给{result.rep.name}", (("客户", customer.name), ("处理人", ctx.user.name)))
        if not ctx.close_card(card, "assign:to"):
            ctx.uow.rollback()
            ctx.reply("这张卡片已处理过了。")
            return
    ctx.reply(text)
    if result.rep.id != ctx.user.id:
        ctx.notify(
            result.rep,
            f"{ctx.user.name}把客户「{customer.name}」转派给了您"
            f"{'（' + reason + '）' if reason else ''}。请尽快联系。",
        )
    if result.previous is not None and result.previous.id not in (ctx.user.id, result.rep.id):
        ctx.notify(result.previous, f"{ctx.user.name}已把客户「{customer.name}」转给{result.rep.name}负责。")


@router.action("assign:to")
def reassign_button(ctx: Context, act: ActionId) -> None:
    customer = ctx.uow.customers.get(act.int_arg(0))
    if customer is None:
        raise NotFound("这个客户已不存在。")
    target = ctx.uow.users.get(act.args[1]) if len(act.args) > 1 else None
    if target is None:
        raise NotFound("这位销售已不存在。")
    _reassign(ctx, customer, target, "", from_card=True)


# ---------------------------------------------------------------------------- /领取 and /公海
@router.command("领取", usage="/领取 客户", help="销售从本组公海领取一个客户")
def claim_command(ctx: Context, args: str) -> None:
    if not args.strip():
        raise InvalidInput(
            "请告诉我要领取的客户。", hint="例如：/领取 恒康医疗；发送 /公海 查看可领取的客户。"
        )
    _claim(ctx, resolve_customer(ctx.uow, ctx.user, args.strip()))


def _claim(ctx: Context, customer: Customer) -> None:
    result = claim(ctx.uow, ctx.user, customer, ctx.now, assigner=lead_assigner(ctx.services))
    left = result.rep.capacity - result.load.new_leads - 1
    ctx.reply(f"已领取客户「{customer.name}」，现在由您负责。您还可以再接 {max(left, 0)} 个未联系的线索。")


@router.action("assign:claim")
def claim_button(ctx: Context, act: ActionId) -> None:
    customer = ctx.uow.customers.get(act.int_arg(0))
    if customer is None:
        raise NotFound("这个客户已不存在。")
    _claim(ctx, customer)


@router.command("公海", usage="/公海", help="查看本组公海里待分配的客户")
def pool_command(ctx: Context, args: str) -> None:
    team = None if ctx.user.has(Role.DIRECTOR, Role.ADMIN) else ctx.user.team
    leads = ctx.uow.workload.pool(team, limit=20)
    if not leads:
        ctx.reply("公海里目前没有待分配的客户。")
        return
    fields = tuple((str(i), f"{c.name}（{c.region or '未填地区'}）") for i, c in enumerate(leads, 1))
    buttons: tuple[Button, ...] = ()
    if ctx.user.has(Role.REP):
        buttons = tuple(Button(f"领取 {c.name}"[:20], action("assign", "claim", c.id)) for c in leads[:6])
        footer = "点按钮或发送 /领取 客户 即可领取。"
    else:
        footer = "分配请用 /转派 客户 @销售。"
    ctx.reply_card(Card(f"公海待分配客户（{len(leads)}）", fields, buttons, footer=footer))


# ---------------------------------------------------------------------------- /休假 and /销假
LEAVE_EXAMPLE = "例如：/休假 @张三 至 3月20日"


@router.command(
    "休假", usage="/休假 @销售 至 日期", help="登记销售休假：期间不再给他分配新线索（主管或人事）"
)
def leave_command(ctx: Context, args: str) -> None:
    parts = [p for p in split_args(args) if p not in ("至", "到", "until")]
    if len(parts) != 2:
        raise InvalidInput("请告诉我是哪位同事、休假到哪一天。", hint=LEAVE_EXAMPLE)
    today = ctx.local_now.date()
    dates = [_date_or_none(p.removeprefix("至").removeprefix("到"), today) for p in parts]
    # whichever part is a date is the date, in either order, with or without the @
    if dates[1] is None and dates[0] is not None:
        parts, dates = parts[::-1], dates[::-1]
    who, until = parts[0], dates[1]
    if until is None:
        raise InvalidInput(f"看不懂休假结束日期「{parts[1]}」。", hint=LEAVE_EXAMPLE)
    rep = find_user(ctx, who)
    rep = set_leave(ctx.uow, ctx.user, rep, until, ctx.now, assigner=lead_assigner(ctx.services))
    ctx.reply(
        f"已登记：{rep.name}休假至 {until:%Y-%m-%d}（含当天），期间不会分配新线索；"
        f"{until:%m-%d} 之后自动恢复。提前回来请用 /销假 @{rep.name}。"
    )
    if rep.id != ctx.user.id:
        ctx.notify(rep, f"{ctx.user.name}已为您登记休假至 {until:%Y-%m-%d}，期间不会给您分配新线索。")


def _date_or_none(word: str, today: date) -> date | None:
    try:
        return parse_date_word(word, today)
    except InvalidInput:
        return None


@router.command("销假", usage="/销假 @销售", help="结束休假，恢复分配新线索")
def end_leave_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    rep = find_user(ctx, parts[0]) if parts else ctx.user
    rep = end_leave(ctx.uow, ctx.user, rep, ctx.now)
    ctx.reply(f"已结束{rep.name}的休假，从现在起恢复分配新线索。")

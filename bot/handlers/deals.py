"""Deal commands: /推进, /回退, /流失, /商机, /新商机, /修改商机, /证据, files as evidence, approval cards.

The rules live in core (`core/usecases/stages.py`); this module only turns chat into calls and
answers. When a customer has several open deals, the command asks which one with a card (one
button per deal) and finishes when the rep picks.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.actions import ActionId, action
from bot.context import Context
from bot.handlers.common import fmt_amount, fmt_date
from bot.router import Router, split_args
from bot.services import Services
from bot.types import Attachment, Button, Card
from bot.visibility import audit_reads, show_amount, viewer_for
from core.errors import InvalidInput, NotFound
from core.model import Customer, Deal, DealStatus
from core.stages import DEAL_FIELD_NAMES, Approval, StageRules, dwell_days
from core.usecases import stages as uc
from core.usecases.customers import resolve_customer
from core.usecases.deals import new_deal
from storage.files import LocalFileStore
from storage.messaging import Dialog

router = Router("deals")


# ---------------------------------------------------------------------------- wiring
def stage_rules(services: Services) -> StageRules:
    """The configured rules (`[pipeline]` in crmbot.toml), parsed once and kept in services.extras."""
    rules = services.extras.get("stage_rules")
    if rules is None:
        rules = StageRules.from_settings(services.settings.pipeline)
        services.extras["stage_rules"] = rules
    return rules


def file_store(services: Services) -> LocalFileStore:
    store = services.extras.get("evidence_store")
    if store is None:
        root = services.settings.data_dir / "evidence"
        if services.settings.database_url.endswith(":memory:"):  # `crmbot chat --demo`: throw-away data
            root = Path(tempfile.mkdtemp(prefix="crmbot-evidence-"))
        store = LocalFileStore(root)
        services.extras["evidence_store"] = store
    return store


def install(services: Services) -> None:
    """Service hook: validate `[pipeline]` at start-up and use its stages for the whole bot."""
    services.pipeline = stage_rules(services).pipeline
    file_store(services)


# ---------------------------------------------------------------------------- choosing the deal
Runner = Callable[[Context, Deal, dict[str, Any]], None]
_RUNNERS: dict[str, Runner] = {}


def _runner(name: str) -> Callable[[Runner], Runner]:
    def register(fn: Runner) -> Runner:
        _RUNNERS[name] = fn
        return fn

    return register


def _candidates(ctx: Context, customer: Customer, *, closed_too: bool) -> list[Deal]:
    deals = ctx.uow.deals.for_customer(customer.id or 0, open_only=True)
    if not deals and closed_too:  # the rules then explain why a won/lost deal cannot do it
        deals = ctx.uow.deals.for_customer(customer.id or 0)[-1:]
    return deals


def _with_deal(
    ctx: Context, customer: Customer, command: str, args: dict[str, Any], *, closed_too: bool = True
) -> None:
    """Run `command` on the customer's deal; with several, ask which one first."""
    deals = _candidates(ctx, customer, closed_too=closed_too)
    if not deals:
        raise NotFound(
            f"客户「{customer.name}」还没有商机。", hint=f"可以用 /新商机 {customer.name} 新建一个。"
        )
    if len(deals) == 1:
        _RUNNERS[command](ctx, deals[0], args)
        return
    rules = stage_rules(ctx.services)
    shown = deals[:6]
    card = Card(
        title=f"「{customer.name}」有 {len(deals)} 个商机，请选择一个",
        fields=tuple((str(i), f"{d.title} · {rules.name(d.stage)}") for i, d in enumerate(shown, 1)),
        buttons=tuple(
            Button(f"{i}. {d.title}"[:20], action("deal", "pick", d.id)) for i, d in enumerate(shown, 1)
        ),
        footer="也可以直接回复序号。",
    )
    ctx.ask("deal", "pick", card, data={"command": command, "args": args, "deal_ids": [d.id for d in shown]})


# for other features whose command needs one deal of the customer (follow-ups): register a runner, then
# call choose_deal; with several open deals the rep picks one first (buttons or a typed number)
deal_runner = _runner
choose_deal = _with_deal


def _picked(ctx: Context, dialog: Dialog | None, deal_id: int) -> None:
    if dialog is None or dialog.kind != "deal" or deal_id not in dialog.data.get("deal_ids", []):
        ctx.reply("这个选择已经过期了，请重新发送命令。")
        return
    deal = ctx.uow.deals.get(deal_id)
    if deal is None:
        raise NotFound("这个商机已不存在。")
    ctx.end_dialog()
    _RUNNERS[dialog.data["command"]](ctx, deal, dict(dialog.data.get("args") or {}))


@router.action("deal:pick")
def pick_deal_button(ctx: Context, act: ActionId) -> None:
    deal_id = act.int_arg(0)
    if ctx.card_id is not None and not ctx.uow.cards.claim(ctx.card_id, ctx.user.id, "deal:pick", ctx.now):
        ctx.reply("这张卡片已处理过了。")
        return
    _picked(ctx, ctx.uow.dialogs.get(ctx.user.id), deal_id)


@router.dialog("deal", "pick")
def pick_deal_text(ctx: Context, dialog: Dialog, text: str) -> None:
    ids = dialog.data.get("deal_ids", [])
    choice = text.strip().rstrip(".。")
    if choice.isdigit() and 1 <= int(choice) <= len(ids):
        _picked(ctx, dialog, ids[int(choice) - 1])
        return
    titles = {d.title: d.id for d in (ctx.uow.deals.get(i) for i in ids) if d is not None}
    if choice in titles:
        _picked(ctx, dialog, titles[choice])
        return
    ctx.reply(f"请回复 1 到 {len(ids)} 之间的序号，或发送「取消」。")


# ---------------------------------------------------------------------------- /推进
ADVANCE_USAGE = "/推进 客户 阶段"
ADVANCE_EXAMPLE = "例如：/推进 恒康医疗 方案演示"


@router.command("推进", usage=ADVANCE_USAGE, help="把商机推进到下一个阶段（需要相应证据）")
def advance_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if len(parts) < 2:
        raise InvalidInput("请告诉我客户和要推进到的阶段。", hint=_stages_hint(ctx, ADVANCE_EXAMPLE))
    rules = stage_rules(ctx.services)
    target, customer_words = _stage_and_rest(rules, parts)
    customer = resolve_customer(ctx.uow, ctx.user, " ".join(customer_words))
    uploads = [_store(ctx, a) for a in _attachments(ctx)]
    _with_deal(ctx, customer, "advance", {"target": target.key, "uploads": uploads})


def _stage_and_rest(rules: StageRules, parts: list[str]) -> tuple[Any, list[str]]:
    """The stage is the last word; "/推进 方案演示 恒康医疗" (stage first) is understood too."""
    try:
        return rules.resolve(parts[-1]), parts[:-1]
    except InvalidInput:
        try:
            return rules.resolve(parts[0]), parts[1:]
        except InvalidInput:
            pass
        raise


@_runner("advance")
def _advance(ctx: Context, deal: Deal, args: dict[str, Any]) -> None:
    rules = stage_rules(ctx.services)
    target = str(args["target"])
    notes = []
    for raw in args.get("uploads") or []:
        # a file sent with /推进 is the evidence the next stage asks for
        kind = rules.required_attachment(target) or "other"
        result = uc.attach_evidence(
            ctx.uow, ctx.user, deal, kind, uc.StoredUpload(**raw), ctx.now, rules=rules
        )
        notes.append(f"已保存{rules.kind_name(kind)}「{result.evidence.filename}」。")
    result = uc.advance(
        ctx.uow, ctx.user, deal, target, ctx.now, rules=rules, via=str(args.get("via") or "推进")
    )
    _answer_move(ctx, result, notes)


def _answer_move(ctx: Context, result: uc.MoveResult, notes: list[str]) -> None:
    rules = stage_rules(ctx.services)
    customer = ctx.uow.customers.get(result.deal.customer_id)
    if result.moved:
        card = deal_card(
            ctx, result.deal, title=f"已推进：{rules.name(result.from_stage)} → {rules.name(result.to_stage)}"
        )
        if notes:
            card = Card(card.title, card.fields, card.buttons, "".join(notes), card.footer)
        ctx.reply_card(card)
        return
    lines = [*notes, result.message]
    kind = _single_missing_attachment(rules, result)
    if kind is not None and customer is not None:
        lines.append(
            f"把{rules.kind_name(kind)}直接发给我就可以补上（或发送文件后回复「{customer.name} "
            f"{rules.kind_name(kind)}」）。"
        )
        ctx.ask(
            "evidence",
            "expect",
            "\n".join(lines),
            data={"deal_id": result.deal.id, "kind": kind, "target": result.to_stage},
        )
        return
    ctx.reply("\n".join(lines))


def _single_missing_attachment(rules: StageRules, result: uc.MoveResult) -> str | None:
    nxt = rules.next_stage(result.from_stage)
    if nxt is None:
        return None
    return rules.required_attachment(nxt.key) or next(
        (
            k
            for alt in nxt.entry
            for k in alt.attachments
            if any(rules.kind_name(k) in m for m in result.missing)
        ),
        None,
    )


@router.action("stage:advance")
def advance_button(ctx: Context, act: ActionId) -> None:
    deal = _deal_from(ctx, act.int_arg(0))
    target = act.args[1] if len(act.args) > 1 else ""
    rules = stage_rules(ctx.services)
    result = uc.advance(ctx.uow, ctx.user, deal, rules.get(target).key, ctx.now, rules=rules, via="卡片推进")
    if not result.moved:
        _answer_move(ctx, result, [])  # the card stays usable: nothing was done with it
        return
    title = f"已推进：{rules.name(result.from_stage)} → {rules.name(result.to_stage)}"
    if not ctx.close_card(deal_card(ctx, result.deal, title=title), "stage:advance"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")


def advance_from_text(ctx: Context, customer: Customer, stage_key: str, *, deal: Deal | None = None) -> str:
    """For the free-text handler ("恒康医疗已经报价了"): move the deal if the rules allow; returns a note.

    Never raises after writing anything; a refusal is recorded and described in the note.
    """
    rules = stage_rules(ctx.services)
    key = {"negotiation": "contract_review"}.get(stage_key, stage_key)
    target = rules.get(key)
    if deal is None:
        deals = ctx.uow.deals.for_customer(customer.id or 0, open_only=True)
        if len(deals) != 1:
            return (
                ""
                if not deals
                else f"客户有 {len(deals)} 个商机，阶段未自动变更，请用 /推进 {customer.name} {target.name}。"
            )
        deal = deals[0]
    if deal.status != DealStatus.OPEN:
        return ""
    if target.outcome == "lost":
        return (
            f"如确认丢单，请用 /流失 {customer.name} 原因（可选：{'、'.join(rules.config.lost_reasons)}）。"
        )
    if rules.position(key) <= rules.position(deal.stage):
        return ""
    result = uc.advance(ctx.uow, ctx.user, deal, key, ctx.now, rules=rules, via="自由文本")
    if result.moved:
        return f"阶段：{rules.name(result.from_stage)} → {rules.name(result.to_stage)}"
    return f"阶段未变更：{result.message}"


# ---------------------------------------------------------------------------- /回退 and approvals
REGRESS_EXAMPLE = "例如：/回退 恒康医疗 需求确认 客户预算重新评估"


@router.command("回退", usage="/回退 客户 阶段 原因", help="把商机退回到更早的阶段（需主管审批）")
def regress_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if len(parts) < 2:
        raise InvalidInput("请告诉我客户、要退回的阶段和原因。", hint=_stages_hint(ctx, REGRESS_EXAMPLE))
    rules = stage_rules(ctx.services)
    # the stage is the first word that names a stage; before it the customer, after it the reason
    at = next((i for i, p in enumerate(parts) if i > 0 and _is_stage(rules, p)), None)
    if at is None:
        rules.resolve(parts[1])  # raises with the closest stage name
        raise InvalidInput("请告诉我要退回的阶段。", hint=REGRESS_EXAMPLE)
    reason = " ".join(parts[at + 1 :])
    if not reason:
        raise InvalidInput("回退需要说明原因，主管审批时会看到。", hint=REGRESS_EXAMPLE)
    customer = resolve_customer(ctx.uow, ctx.user, " ".join(parts[:at]))
    _with_deal(ctx, customer, "regress", {"target": rules.resolve(parts[at]).key, "reason": reason})


def _is_stage(rules: StageRules, word: str) -> bool:
    try:
        rules.resolve(word)
    except InvalidInput:
        return False
    return True


@_runner("regress")
def _regress(ctx: Context, deal: Deal, args: dict[str, Any]) -> None:
    rules = stage_rules(ctx.services)
    from_stage = deal.stage
    result = uc.request_regress(
        ctx.uow, ctx.user, deal, str(args["target"]), str(args["reason"]), ctx.now, rules=rules
    )
    if result.applied:
        ctx.reply_card(
            deal_card(
                ctx, result.deal, title=f"已回退：{rules.name(from_stage)} → {rules.name(result.deal.stage)}"
            )
        )
        return
    assert result.approval is not None and result.approver is not None
    ctx.notify(result.approver, approval_card(ctx, result.approval))
    ctx.reply(
        f"已提交回退申请：「{deal.title}」{rules.name(from_stage)} → {rules.name(str(args['target']))}，"
        f"等待{result.approver.name}审批。审批通过前商机保持在「{rules.name(from_stage)}」。"
    )


def approval_card(ctx: Context, approval: Approval, *, outcome: str = "") -> Card:
    rules = stage_rules(ctx.services)
    deal = ctx.uow.deals.get(approval.deal_id)
    customer = ctx.uow.customers.get(deal.customer_id) if deal else None
    requester = ctx.uow.users.get(approval.requested_by)
    p = approval.payload
    if approval.kind == "stage_regression":
        title = "商机回退审批"
        change = ("阶段", f"{rules.name(str(p.get('from')))} → {rules.name(str(p.get('to')))}")
    else:
        name = str(p.get("field"))
        title = "冻结字段修改审批"
        old, new = p.get("old"), p.get("new")
        if name == "amount":
            old, new = fmt_amount(old), fmt_amount(new)
        change = (DEAL_FIELD_NAMES.get(name, name), f"{old or '—'} → {new}")
    fields = (
        ("客户", customer.name if customer else "—"),
        ("商机", deal.title if deal else "—"),
        ("申请人", requester.name if requester else approval.requested_by),
        change,
        ("原因", approval.reason),
    )
    if outcome:
        return Card(f"{title}（{outcome}）", fields)
    return Card(
        title,
        fields,
        buttons=(
            Button("批准", action("stage", "approve", approval.id), "primary"),
            Button("驳回", action("stage", "reject", approval.id), "danger"),
        ),
        footer="批准后变更立即生效；驳回则保持不变。",
    )


def _decide(ctx: Context, act: ActionId, approve: bool) -> None:
    rules = stage_rules(ctx.services)
    result = uc.decide(ctx.uow, ctx.user, act.int_arg(0), approve, ctx.now, rules=rules)
    outcome = {"approved": "已批准", "rejected": "已驳回", "cancelled": "已失效"}[result.approval.state]
    if not ctx.close_card(
        approval_card(ctx, result.approval, outcome=f"{outcome} · {ctx.user.name}"),
        f"stage:{'approve' if approve else 'reject'}",
    ):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    field = DEAL_FIELD_NAMES.get(str(result.approval.payload.get("field")), "")
    what = "回退" if result.approval.kind == "stage_regression" else f"修改{field}"
    if result.stale:
        ctx.reply(f"商机「{result.deal.title}」在申请之后已经变化，这个{what}申请已失效，没有做任何修改。")
        text = f"您对「{result.deal.title}」的{what}申请已失效（商机已变化），请按当前情况重新提交。"
    elif approve:
        if result.approval.kind == "stage_regression":
            ctx.reply(f"已批准：「{result.deal.title}」现在是「{rules.name(result.deal.stage)}」阶段。")
        else:
            ctx.reply(f"已批准：「{result.deal.title}」的{field}已按申请修改。")
        text = f"{ctx.user.name}已批准您对「{result.deal.title}」的{what}申请，已生效。"
    else:
        ctx.reply(f"已驳回，「{result.deal.title}」保持不变。")
        text = f"{ctx.user.name}驳回了您对「{result.deal.title}」的{what}申请，商机保持不变。"
    if result.requester is not None and result.requester.id != ctx.user.id:
        ctx.notify(result.requester, text)


@router.action("stage:approve")
def approve_button(ctx: Context, act: ActionId) -> None:
    _decide(ctx, act, True)


@router.action("stage:reject")
def reject_button(ctx: Context, act: ActionId) -> None:
    _decide(ctx, act, False)


# ---------------------------------------------------------------------------- /流失
LOST_EXAMPLE = "例如：/流失 恒康医疗 选择了竞品 对方选了迈瑞"


@router.command(
    "流失", usage="/流失 客户 原因 [说明]", help="把商机标记为已流失（原因从列表中选）", aliases=("丢单",)
)
def lost_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    rules = stage_rules(ctx.services)
    reasons = "、".join(rules.config.lost_reasons)
    if len(parts) < 2:
        raise InvalidInput(f"请告诉我客户和流失原因。可选原因：{reasons}。", hint=LOST_EXAMPLE)
    customer = resolve_customer(ctx.uow, ctx.user, parts[0])
    reason = rules.resolve_lost_reason(parts[1])  # check before asking which deal
    _with_deal(ctx, customer, "lost", {"reason": reason, "note": " ".join(parts[2:])})


@_runner("lost")
def _lost(ctx: Context, deal: Deal, args: dict[str, Any]) -> None:
    rules = stage_rules(ctx.services)
    deal = uc.mark_lost(
        ctx.uow, ctx.user, deal, str(args["reason"]), ctx.now, rules=rules, note=str(args.get("note") or "")
    )
    ctx.reply_card(deal_card(ctx, deal, title="商机已标记为流失"))


@router.action("stage:lost")
def lost_button(ctx: Context, act: ActionId) -> None:
    deal = _deal_from(ctx, act.int_arg(0))
    rules = stage_rules(ctx.services)
    options = "\n".join(f"  {i}. {r}" for i, r in enumerate(rules.config.lost_reasons, 1))
    ctx.ask(
        "stage",
        "lost_reason",
        f"请回复「{deal.title}」的流失原因（序号或文字，可以在后面补充说明）：\n{options}",
        data={"deal_id": deal.id},
    )


@router.dialog("stage", "lost_reason")
def lost_reason_text(ctx: Context, dialog: Dialog, text: str) -> None:
    rules = stage_rules(ctx.services)
    word, _, note = text.strip().partition(" ")
    reasons = rules.config.lost_reasons
    reason = reasons[int(word) - 1] if word.isdigit() and 1 <= int(word) <= len(reasons) else word
    deal = _deal_from(ctx, int(dialog.data["deal_id"]))
    ctx.end_dialog()
    _lost(ctx, deal, {"reason": rules.resolve_lost_reason(reason), "note": note})


# ---------------------------------------------------------------------------- /商机, /新商机, /修改商机
@router.command("商机", usage="/商机 客户", help="查看商机：阶段、停留天数、缺少的证据")
def show_deal(ctx: Context, args: str) -> None:
    if not args.strip():
        raise InvalidInput("请告诉我客户名称。", hint="例如：/商机 恒康医疗")
    customer = resolve_customer(ctx.uow, ctx.user, args.strip())
    deals = (
        ctx.uow.deals.for_customer(customer.id or 0, open_only=True)
        or ctx.uow.deals.for_customer(customer.id or 0)[-1:]
    )
    if not deals:
        raise NotFound(
            f"客户「{customer.name}」还没有商机。", hint=f"可以用 /新商机 {customer.name} 新建一个。"
        )
    for deal in deals[:5]:
        ctx.reply_card(deal_card(ctx, deal, title=f"商机：{deal.title}"))


def deal_card(ctx: Context, deal: Deal, *, title: str) -> Card:
    rules = stage_rules(ctx.services)
    customer = ctx.uow.customers.get(deal.customer_id)
    owner = ctx.uow.users.get(deal.owner_id) if deal.owner_id else None
    fields: list[tuple[str, str]] = [
        ("客户", customer.name if customer else "—"),
        ("负责人", owner.name if owner else "公海（未分配）"),
        ("阶段", _stage_text(ctx, rules, deal)),
    ]
    viewer = viewer_for(ctx.services, ctx.user)  # amount and payment terms by the field rules
    if deal.amount is not None:
        fields.append(("金额", show_amount(viewer.amount(deal))))
    if deal.products:
        fields.append((DEAL_FIELD_NAMES["products"], deal.products))
    if deal.payment_terms:
        fields.append((DEAL_FIELD_NAMES["payment_terms"], str(viewer.payment_terms(deal))))
    audit_reads(ctx.uow, viewer, ctx.now, via="deal_card")
    if deal.status == DealStatus.LOST and deal.lost_reason:
        fields.append(("流失原因", deal.lost_reason))
    summary = uc.evidence_summary(ctx.uow, deal)
    files = [f"{rules.kind_name(e.kind)}《{e.filename}》" for e in ctx.uow.evidence.for_deal(deal.id or 0)]
    fields.append(("证据", "；".join([*files, f"有效通话 {summary.effective_calls} 次"])))
    nxt = rules.next_stage(deal.stage) if deal.status == DealStatus.OPEN else None
    buttons: list[Button] = []
    if nxt is not None:
        missing = rules.missing_evidence(deal, nxt.key, summary)
        fields.append((f"进入「{nxt.name}」", "还缺：" + "；".join(missing) if missing else "条件已满足"))
        buttons.append(Button(f"推进到{nxt.name}", action("stage", "advance", deal.id, nxt.key), "primary"))
    frozen = rules.frozen_fields(deal.stage)
    if frozen:
        fields.append(("已冻结", "、".join(DEAL_FIELD_NAMES[f] for f in frozen) + "（修改需主管审批）"))
    for approval in ctx.uow.approvals.pending_for_deal(deal.id or 0):
        approver = ctx.uow.users.get(approval.approver_id)
        what = (
            f"回退到「{rules.name(str(approval.payload.get('to')))}」"
            if approval.kind == "stage_regression"
            else f"修改{DEAL_FIELD_NAMES.get(str(approval.payload.get('field')), '')}"
        )
        fields.append(("待审批", f"{what}（等待{approver.name if approver else approval.approver_id}）"))
    if deal.status == DealStatus.OPEN:
        buttons.append(Button("标记流失", action("stage", "lost", deal.id), "danger"))
    return Card(title, tuple(fields), tuple(buttons))


def _stage_text(ctx: Context, rules: StageRules, deal: Deal) -> str:
    name = rules.name(deal.stage)
    if deal.status != DealStatus.OPEN or deal.stage_entered_at is None:
        when = f"（{fmt_date(deal.close_date)}）" if deal.status == DealStatus.WON else ""
        return name + when
    calendar = ctx.services.calendar
    days = dwell_days(deal.stage_entered_at.astimezone(ctx.tz).date(), ctx.local_now.date(), calendar)
    unit = "个工作日" if calendar is not None else "天"
    limit = rules.dwell_limit_days(deal.stage)
    text = f"{name}（已停留 {days} {unit}"
    if limit is not None:
        text += f"，上限 {limit} {unit}" + ("，已超时" if days > limit else "")
    return text + "）"


NEW_DEAL_EXAMPLE = "例如：/新商机 恒康医疗 二期扩容"


@router.command("新商机", usage="/新商机 客户 [名称]", help="为已有客户新开一个商机")
def new_deal_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if not parts:
        raise InvalidInput("请告诉我客户名称。", hint=NEW_DEAL_EXAMPLE)
    customer = resolve_customer(ctx.uow, ctx.user, parts[0])
    deal = new_deal(
        ctx.uow,
        ctx.user,
        customer,
        ctx.now,
        pipeline=stage_rules(ctx.services).pipeline,
        title=" ".join(parts[1:]) or None,
    )
    ctx.reply_card(deal_card(ctx, deal, title="商机已新建"))


FIELD_WORDS = {
    "金额": "amount",
    "预算": "amount",
    "价格": "amount",
    "合同金额": "amount",
    "产品": "products",
    "产品线": "products",
    "付款条件": "payment_terms",
    "付款方式": "payment_terms",
    "付款": "payment_terms",
    "竞品": "competitor",
    "竞争对手": "competitor",
}
EDIT_EXAMPLE = "例如：/修改商机 恒康医疗 金额 80万 客户追加了两台设备"


@router.command(
    "修改商机",
    usage="/修改商机 客户 字段 值 [原因]",
    help="修改商机的金额/产品/付款条件/竞品（签约后需主管审批）",
    aliases=("改商机",),
)
def edit_deal_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if len(parts) < 3:
        raise InvalidInput(
            "请告诉我客户、字段和新的值。字段：金额、产品、付款条件、竞品。", hint=EDIT_EXAMPLE
        )
    at = next((i for i, p in enumerate(parts) if i > 0 and p in FIELD_WORDS), None)
    if at is None or at + 1 >= len(parts):
        raise InvalidInput(
            "请告诉我要修改的字段和新的值。字段：金额、产品、付款条件、竞品。", hint=EDIT_EXAMPLE
        )
    name = FIELD_WORDS[parts[at]]
    value: Any = parse_amount(parts[at + 1]) if name == "amount" else parts[at + 1]
    customer = resolve_customer(ctx.uow, ctx.user, " ".join(parts[:at]))
    _with_deal(ctx, customer, "edit", {"field": name, "value": value, "reason": " ".join(parts[at + 2 :])})


@_runner("edit")
def _edit(ctx: Context, deal: Deal, args: dict[str, Any]) -> None:
    rules = stage_rules(ctx.services)
    name = str(args["field"])
    result = uc.request_field_edit(
        ctx.uow, ctx.user, deal, name, args["value"], str(args.get("reason") or ""), ctx.now, rules=rules
    )
    if result.applied:
        ctx.reply_card(deal_card(ctx, result.deal, title=f"已修改{DEAL_FIELD_NAMES[name]}"))
        return
    assert result.approval is not None and result.approver is not None
    ctx.notify(result.approver, approval_card(ctx, result.approval))
    ctx.reply(
        f"{DEAL_FIELD_NAMES[name]}在「{rules.name(deal.stage)}」后已冻结，已提交修改申请，"
        f"等待{result.approver.name}审批。批准前保持原值。"
    )


_AMOUNT = re.compile(r"^(?:¥|￥)?(\d+(?:\.\d+)?)\s*(亿|千万|百万|万元|万|w|W|千|k|K|元)?$")
_UNITS = {
    "亿": 1e8,
    "千万": 1e7,
    "百万": 1e6,
    "万元": 1e4,
    "万": 1e4,
    "w": 1e4,
    "W": 1e4,
    "千": 1e3,
    "k": 1e3,
    "K": 1e3,
    "元": 1.0,
}


def parse_amount(text: str) -> float:
    m = _AMOUNT.match(text.strip().replace(",", ""))
    if not m:
        raise InvalidInput(f"金额「{text}」看不懂。", hint="请写成「50万」「1.2亿」或「500000」。")
    return float(m[1]) * _UNITS.get(m[2] or "元", 1.0)


# ---------------------------------------------------------------------------- files as evidence
EVIDENCE_EXAMPLE = "例如：发送文件后回复「恒康医疗 需求文档」"


def _attachments(ctx: Context) -> tuple[Attachment, ...]:
    return getattr(ctx.event, "attachments", ()) or ()


def _store(ctx: Context, attachment: Attachment) -> dict[str, Any]:
    if not attachment.path:
        raise InvalidInput(f"文件「{attachment.filename}」没有下载成功，请重新发送。")
    stored = uc.store_upload(
        attachment.filename,
        attachment.path,
        file_store(ctx.services),
        rules=stage_rules(ctx.services),
        content_type=attachment.content_type,
    )
    return {
        "filename": stored.filename,
        "sha256": stored.sha256,
        "size": stored.size,
        "stored_path": stored.stored_path,
        "content_type": stored.content_type,
    }


@router.dialog("attachment", "received")
def file_received(ctx: Context, _dialog: Dialog, _text: str) -> None:
    """A file with no text. If the bot just asked for this evidence, it is attached at once; else ask."""
    uploads = [_store(ctx, a) for a in _attachments(ctx)]
    if not uploads:
        return
    waiting = ctx.uow.dialogs.get(ctx.user.id)
    if (
        waiting is not None
        and waiting.expires_at > ctx.now
        and (waiting.kind, waiting.step) == ("evidence", "expect")
    ):
        deal = _deal_from(ctx, int(waiting.data["deal_id"]))
        ctx.end_dialog()
        _attach_all(ctx, deal, str(waiting.data["kind"]), uploads, target=waiting.data.get("target"))
        return
    rules = stage_rules(ctx.services)
    kinds = "、".join(rules.config.attachment_kinds.values())
    names = "、".join(f"「{u['filename']}」" for u in uploads)
    ctx.ask(
        "evidence",
        "describe",
        f"收到文件{names}。这是哪个客户的什么材料？请回复「客户 材料类型」，"
        f"例如：恒康医疗 需求文档。\n材料类型：{kinds}。",
        data={"uploads": uploads},
    )


@router.dialog("evidence", "expect")
def evidence_expect_text(ctx: Context, dialog: Dialog, text: str) -> None:
    """The bot asked for a document; the rep wrote instead (maybe with the file attached)."""
    if _attachments(ctx):
        deal = _deal_from(ctx, int(dialog.data["deal_id"]))
        uploads = [_store(ctx, a) for a in _attachments(ctx)]
        ctx.end_dialog()
        _attach_all(ctx, deal, str(dialog.data["kind"]), uploads, target=dialog.data.get("target"))
        return
    ctx.end_dialog()
    handler = ctx.services.router.find_text()
    if handler is not None:  # it was not about the document: treat it as a normal message
        handler(ctx, text)
    else:
        ctx.reply("好的。需要时把文件直接发给我即可。")


@router.dialog("evidence", "describe")
def evidence_describe_text(ctx: Context, dialog: Dialog, text: str) -> None:
    uploads = list(dialog.data.get("uploads") or [])
    if _attachments(ctx):
        uploads += [_store(ctx, a) for a in _attachments(ctx)]
    rules = stage_rules(ctx.services)
    words = split_args(text)
    kinds = [rules.resolve_kind(w) for w in words]
    kind = next((k for k in kinds if k is not None), None)
    customer_words = [w for w, k in zip(words, kinds, strict=True) if k is None]
    if kind is None or not customer_words:
        missing = "材料类型" if kind is None else "客户"
        ctx.ask(
            "evidence",
            "describe",
            f"还需要知道{missing}。请回复「客户 材料类型」，例如：恒康医疗 需求文档。"
            f"材料类型：{'、'.join(rules.config.attachment_kinds.values())}。"
            "发送「取消」放弃这个文件。",
            data={"uploads": uploads},
        )
        return
    customer = resolve_customer(ctx.uow, ctx.user, " ".join(customer_words))
    ctx.end_dialog()
    _with_deal(ctx, customer, "attach", {"kind": kind, "uploads": uploads})


def handle_attachment_text(ctx: Context, text: str) -> bool:
    """For the free-text handler: a file whose caption names the customer and the kind
    ("需求文档 恒康医疗"). True when handled; False when the caption is not about evidence."""
    if not _attachments(ctx):
        return False
    rules = stage_rules(ctx.services)
    words = split_args(text)
    kinds = [rules.resolve_kind(w) for w in words]
    if not any(kinds):
        return False
    uploads = [_store(ctx, a) for a in _attachments(ctx)]
    evidence_describe_text(
        ctx, Dialog(ctx.user.id, "evidence", "describe", {"uploads": uploads}, ctx.channel, ctx.now), text
    )
    return True


@router.command(
    "证据",
    usage="/证据 客户 材料类型（随文件发送）",
    help="把随消息发送的文件存为商机证据",
    aliases=("附件",),
)
def evidence_command(ctx: Context, args: str) -> None:
    if not _attachments(ctx):
        raise InvalidInput("没有收到文件。", hint=EVIDENCE_EXAMPLE)
    evidence_describe_text(ctx, Dialog(ctx.user.id, "evidence", "describe", {}, ctx.channel, ctx.now), args)


@_runner("attach")
def _attach(ctx: Context, deal: Deal, args: dict[str, Any]) -> None:
    _attach_all(ctx, deal, str(args["kind"]), list(args.get("uploads") or []), target=None)


def _attach_all(ctx: Context, deal: Deal, kind: str, uploads: list[dict[str, Any]], *, target: Any) -> None:
    rules = stage_rules(ctx.services)
    lines = []
    for raw in uploads:
        result = uc.attach_evidence(
            ctx.uow, ctx.user, deal, kind, uc.StoredUpload(**raw), ctx.now, rules=rules
        )
        verb = "这份文件之前已经保存过了" if result.duplicate else "已保存"
        lines.append(f"{verb}：{rules.kind_name(kind)}《{result.evidence.filename}》→ 商机「{deal.title}」。")
    nxt = rules.next_stage(deal.stage) if deal.status == DealStatus.OPEN else None
    card = deal_card(ctx, deal, title="证据已保存")
    if nxt is not None and not rules.missing_evidence(deal, nxt.key, uc.evidence_summary(ctx.uow, deal)):
        lines.append(f"进入「{nxt.name}」的条件已满足，可以点「推进到{nxt.name}」。")
    elif target:
        lines.append(f"进入「{rules.name(str(target))}」还需要其他条件，详见卡片。")
    ctx.reply_card(Card(card.title, card.fields, card.buttons, "\n".join(lines), card.footer))


# ---------------------------------------------------------------------------- helpers
def _deal_from(ctx: Context, deal_id: int) -> Deal:
    deal = ctx.uow.deals.get(deal_id)
    if deal is None:
        raise NotFound("这个商机已不存在。")
    return deal


def _stages_hint(ctx: Context, example: str) -> str:
    rules = stage_rules(ctx.services)
    return f"{example}\n阶段：{'、'.join(s.name for s in rules.config.stages)}"

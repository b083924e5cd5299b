"""Customer commands: /新客户, /客户, /无效, and the "是否关联到 X？" duplicate card."""

from __future__ import annotations

from bot.actions import ActionId, action
from bot.context import Context
from bot.customer_service import create_for
from bot.handlers.common import fmt_date, fmt_time
from bot.router import Router, split_args
from bot.types import Button, Card
from bot.visibility import audit_reads, show_amount, viewer_for
from core.errors import InvalidInput, PermissionDenied
from core.model import (
    CONCLUSION_NAMES_ZH,
    METHOD_NAMES_ZH,
    NEXT_ACTION_NAMES_ZH,
    Customer,
    CustomerStatus,
    FollowUp,
)
from core.usecases.customers import (
    CreateCustomerResult,
    NewCustomer,
    lookup_customer,
    mark_customer_invalid,
)
from storage.messaging import Dialog

router = Router("customers")

NEW_USAGE = "/新客户 公司 [联系人] [电话]"
NEW_EXAMPLE = "例如：/新客户 恒康医疗 张伟 13812345678"


@router.command("新客户", usage=NEW_USAGE, help="新建客户（自动查重）")
def new_customer(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if not parts:
        raise InvalidInput("请告诉我公司名称。", hint=NEW_EXAMPLE)
    if len(parts) > 3:
        # a phone typed with spaces ("138 1234 5678") arrives as several parts: join the digits back
        head, tail = parts[:2], parts[2:]
        if all(p.replace("-", "").replace("+", "").isdigit() for p in tail):
            parts = [*head, "".join(tail)]
        else:
            raise InvalidInput("参数太多了。", hint=NEW_EXAMPLE)
    company = parts[0]
    contact = parts[1] if len(parts) > 1 else None
    phone = parts[2] if len(parts) > 2 else None
    if contact and phone is None and any(ch.isdigit() for ch in contact) and len(contact) >= 7:
        contact, phone = None, contact
    data = NewCustomer(company=company, contact_name=contact, phone=phone, source="command")
    result = create_for(ctx, data, ctx.now)
    answer_created(ctx, result, data)


def answer_created(ctx: Context, result: CreateCustomerResult, data: NewCustomer,
                   pending_followup: dict[str, object] | None = None) -> None:
    decision = result.decision
    if decision.kind == "ask" and decision.customer is not None:
        existing = decision.customer
        question: dict[str, object] = {
            "company": data.company, "contact_name": data.contact_name, "phone": data.phone,
            "email": data.email, "source": data.source, "existing_id": existing.id, "existing_name": existing.name}
        if pending_followup is not None:
            question["pending_followup"] = pending_followup
        # kept on the card too: its buttons still work after the rep has moved on to another message
        ctx.ask("newcustomer", "confirm", Card(
            title=f"是否关联到「{existing.name}」？",
            description="系统发现一个很像的已有客户：",
            fields=(("已有客户", existing.name), ("相似度", f"{decision.score:.0f}%"),
                    ("依据", "，".join(decision.evidence) or "—")),
            buttons=(Button("关联到已有客户", action("customer", "link", existing.id), "primary"),
                     Button("新建客户", action("customer", "new"))),
            footer="也可以直接回复「关联」或「新建」。",
        ), data=question, card_state=question)
        return
    customer = result.customer
    if result.created:
        ctx.reply_card(customer_card(ctx, customer, title="客户已建档"))
    else:
        evidence = "，".join(decision.evidence) or "匹配到已有客户"
        ctx.reply_card(customer_card(ctx, customer, title="已关联到已有客户",
                                     footer=f"没有新建重复客户（{evidence}）。"))


LINK_WORDS = {"1", "关联", "关联到已有客户", "是", "是的", "对", "对的", "好", "好的", "同一个", "同一家", "是同一家"}
NEW_WORDS = {"2", "新建", "新建客户", "不是", "否", "不是同一家", "不是同一个", "新客户"}


def _question(ctx: Context) -> dict[str, object] | None:
    """The open "是否关联到 X？" question: from the dialog, or from the pressed card once the dialog is over."""
    if ctx.card_id is not None:
        row = ctx.uow.cards.get(ctx.card_id)
        if row is not None and row.user_id != ctx.user.id:
            owner = ctx.uow.users.get(row.user_id)
            raise PermissionDenied(f"这张卡片不是发给您的（是发给{owner.name if owner else '其他同事'}的），操作未执行。")
    dialog = ctx.uow.dialogs.get(ctx.user.id)
    if dialog is not None and dialog.kind == "newcustomer" and (
            ctx.card_id is None or dialog.data.get("question_card_id") in (None, ctx.card_id)):
        return dialog.data
    return ctx.card_state() or None


@router.dialog("newcustomer", "confirm")
def on_link_answer(ctx: Context, dialog: Dialog, text: str) -> None:
    word = text.strip().strip("。！!，, ")
    card_id = dialog.data.get("question_card_id")
    if word in LINK_WORDS or word in NEW_WORDS:
        ctx.card_id = str(card_id) if card_id else None  # the typed answer uses up the card's buttons
        if word in LINK_WORDS:
            _link(ctx, dialog.data, int(str(dialog.data.get("existing_id") or 0)))
        else:
            _create(ctx, dialog.data)
        return
    # the rep moved on: keep the question open on its card, and handle this message as usual
    ctx.end_dialog()
    name = dialog.data.get("existing_name") or "已有客户"
    ctx.reply(f"「是否关联到 {name}？」还没回答，卡片上的按钮仍然有效（也可以稍后点选）。")
    handler = ctx.services.router.find_text()
    if handler is not None:
        handler(ctx, text)


@router.action("customer:link")
def link_to_existing(ctx: Context, act: ActionId) -> None:
    question = _question(ctx)
    if question is None:
        ctx.reply("这个问题已经结束了，无需再操作。")
        return
    _link(ctx, question, act.int_arg(0))


def _link(ctx: Context, question: dict[str, object], customer_id: int) -> None:
    data = _data(question)
    customer = ctx.uow.customers.get(customer_id)
    if customer is None or customer.status != CustomerStatus.ACTIVE:
        ctx.end_dialog()
        ctx.reply("这个客户已不存在或已失效，请重新新建。")
        return
    result = create_for(ctx, data, ctx.now, link_to=customer)
    _end_question(ctx, question)
    if not ctx.close_card(customer_card(ctx, result.customer, title="已关联到已有客户"), "customer:link"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    _resume_followup(ctx, question, result.customer)


@router.action("customer:new")
def create_anyway(ctx: Context, act: ActionId) -> None:
    question = _question(ctx)
    if question is None:
        ctx.reply("这个问题已经结束了，无需再操作。")
        return
    _create(ctx, question)


def _create(ctx: Context, question: dict[str, object]) -> None:
    result = create_for(ctx, _data(question), ctx.now, force_new=True)
    _end_question(ctx, question)
    if not ctx.close_card(customer_card(ctx, result.customer, title="客户已建档"), "customer:new"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    _resume_followup(ctx, question, result.customer)


def _end_question(ctx: Context, question: dict[str, object]) -> None:
    """End the dialog only when it is this question (the rep may be in another one by now)."""
    dialog = ctx.uow.dialogs.get(ctx.user.id)
    if dialog is not None and dialog.kind == "newcustomer" and dialog.data == question:
        ctx.end_dialog()


def _resume_followup(ctx: Context, data: dict[str, object], customer: Customer) -> None:
    """A free-text follow-up waiting on the "是否关联到 X？" answer is recorded now."""
    pending = data.get("pending_followup")
    if isinstance(pending, dict):
        from bot.handlers.freetext import record_pending

        record_pending(ctx, customer, pending)


def _data(raw: dict[str, object]) -> NewCustomer:
    return NewCustomer(company=str(raw["company"]), contact_name=raw.get("contact_name") or None,  # type: ignore[arg-type]
                       phone=raw.get("phone") or None, email=raw.get("email") or None,  # type: ignore[arg-type]
                       source=str(raw.get("source") or "chat"))


def customer_card(ctx: Context, customer: Customer, *, title: str, footer: str = "") -> Card:
    owner = ctx.uow.users.get(customer.owner_id) if customer.owner_id else None
    viewer = viewer_for(ctx.services, ctx.user)  # other reps' customers: phones masked (core.permissions)
    contacts = "；".join(
        f"{c.name or '（未留名）'} {viewer.phone(customer, c.phone_norm)}".strip() for c in customer.contacts
    ) or "—"
    deals = ctx.uow.deals.for_customer(customer.id or 0, open_only=True)
    fields: list[tuple[str, str]] = [("客户", customer.name), ("联系人", contacts),
                                     ("负责人", owner.name if owner else "公海（未分配）")]
    for deal in deals[:3]:
        fields.append(("商机", f"{deal.title} · {ctx.services.pipeline.name(deal.stage)}"
                               f" · 下次跟进 {fmt_date(deal.next_followup_on)}"))
    if customer.status != CustomerStatus.ACTIVE:
        fields.append(("状态", "已标记无效：" + (customer.invalid_reason or "") if customer.status ==
                       CustomerStatus.INVALID else "已合并"))
    return Card(title=title, fields=tuple(fields), footer=footer)


@router.command("客户", usage="/客户 关键字", help="查找客户（名称、联系人或电话）", aliases=("查客户",))
def find_customer(ctx: Context, args: str) -> None:
    if not args.strip():
        raise InvalidInput("请告诉我要查找的客户。", hint="例如：/客户 恒康")
    views = lookup_customer(ctx.uow, ctx.user, args)
    viewer = viewer_for(ctx.services, ctx.user)
    for view in views:
        card = customer_card(ctx, view.customer, title=view.customer.name)
        recent = [f"{fmt_time(f.occurred_at, ctx.tz)} {_gist(f)}" for f in view.recent]
        if recent:
            card = Card(title=card.title, fields=(*card.fields, ("最近跟进", "；".join(recent))))
        amounts = [d.amount for d in view.deals if d.amount]
        if amounts:
            # the contract amount only for the roles the field rules allow; their read is audited
            shown = viewer.value("amount", sum(amounts), "customer", view.customer.id)
            card = Card(title=card.title, fields=(*card.fields, ("金额", show_amount(shown))))
        ctx.reply_card(card)
    audit_reads(ctx.uow, viewer, ctx.now, via="customer_card")


def _gist(f: FollowUp) -> str:
    """A follow-up in a few words: what the rep wrote, or for a /跟进 command its fields."""
    if f.raw_text and not f.raw_text.startswith(("/", "／")):
        return f.raw_text if len(f.raw_text) <= 30 else f.raw_text[:29] + "…"
    parts = [METHOD_NAMES_ZH[f.method] if f.method else "",
             CONCLUSION_NAMES_ZH[f.conclusion] if f.conclusion else "",
             f"下一步：{NEXT_ACTION_NAMES_ZH[f.next_action]}" if f.next_action else ""]
    return " · ".join(p for p in parts if p) or "（无内容）"


INVALID_EXAMPLE = "例如：/无效 恒康医疗 重复录入"


@router.command("无效", usage="/无效 客户 原因", help="把客户标记为无效（不会删除）", aliases=("删除",))
def mark_invalid(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if len(parts) < 2:
        raise InvalidInput("请告诉我客户和原因。crmbot 不删除客户，只会标记为无效。", hint=INVALID_EXAMPLE)
    customer = mark_customer_invalid(ctx.uow, ctx.user, parts[0], " ".join(parts[1:]), ctx.now)
    ctx.reply(f"已将客户「{customer.name}」标记为无效（原因：{customer.invalid_reason}）。数据仍保留，可随时查询。")

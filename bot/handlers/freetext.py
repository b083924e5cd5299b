"""Free text from a rep: parse it, find or create the customer, record the follow-up, confirm.

The flow asks only for what is missing: the customer (without it nothing can be recorded) and
the next follow-up date (recorded first, then asked, so a timeout loses nothing). Low-confidence
fields are shown on the card as questions and stored only when the rep presses 确认.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from bot.actions import ActionId, action
from bot.context import Context
from bot.customer_service import create_for
from bot.handlers.common import fmt_amount, fmt_date
from bot.router import Router
from bot.types import Button, Card, IncomingMessage
from core.errors import Ambiguous, DomainError, InvalidInput, PermissionDenied
from core.model import (
    CONCLUSION_NAMES_ZH,
    METHOD_NAMES_ZH,
    NEXT_ACTION_NAMES_ZH,
    Conclusion,
    Customer,
    CustomerStatus,
    FollowUpSource,
    Method,
    NextAction,
)
from core.permissions import can_see_customer
from core.usecases.customers import NewCustomer, find_visible_customers
from core.usecases.followups import (
    FollowUpInput,
    FollowUpResult,
    amend_followup,
    record_followup,
    void_followup,
)
from storage.messaging import Dialog

log = logging.getLogger(__name__)
router = Router("freetext")

LOW_CONFIDENCE = 0.7  # below: shown on the card as a question, stored only on 确认
PAIN_NAMES_ZH = {"after_sales": "售后", "competitor": "竞品", "delivery": "交付", "price": "价格"}
# the parser's milestones → pipeline stages (needs confirmed = 需求确认; negotiation happens at 报价)
STAGE_MAP = {"qualified": "needs_confirmed", "demo": "demo", "quote": "quote", "negotiation": "quote",
             "won": "won", "lost": "lost"}
EXAMPLE = "例如：下午拜访了恒康医疗的张伟 138 1234 5678，关注交付周期，预算50万，下周三约演示"


def _parser(ctx: Context) -> Any:
    try:
        return ctx.services.parser
    except ImportError:
        return None


@router.text()
def on_text(ctx: Context, text: str) -> None:
    if isinstance(ctx.event, IncomingMessage) and ctx.event.attachments:
        from bot.handlers.deals import handle_attachment_text

        if handle_attachment_text(ctx, text):  # a file with a caption naming the customer and the kind
            return
    parser = _parser(ctx)
    if parser is None:
        ctx.reply("我暂时只认识命令。发送 /帮助 查看可用命令。")
        return
    intent = parser.intent(text)
    if intent == "greeting":
        ctx.reply(f"您好，{ctx.user.name}！直接告诉我今天的客户跟进情况就行，{EXAMPLE}")
        return
    if intent == "help":
        from bot.handlers.help import show_help

        show_help(ctx, "")
        return
    extraction = parser.parse_text(text, ctx.local_now)
    if intent == "lookup" or (_identity(extraction) and not _activity(extraction)):
        # "张伟的电话是多少", or just a name: show the customer rather than record an empty follow-up
        _lookup(ctx, text, extraction)
        return
    if not _activity(extraction) or (intent == "smalltalk" and not _identity(extraction)):
        ctx.reply(f"我没太看懂这条消息。如果是跟进记录，请说明客户和情况，{EXAMPLE}\n发送 /帮助 查看全部命令。")
        return
    pending = {"text": text, "extraction": extraction.model_dump(mode="json"),
               "voice": bool(isinstance(ctx.event, IncomingMessage) and ctx.event.from_voice)}
    _continue(ctx, pending)


def _identity(ex: Any) -> bool:
    return bool(ex.company or ex.contact_name or ex.phone)


def _activity(ex: Any) -> bool:
    """Something happened or was agreed: only then is the message a follow-up."""
    facts = [ex.method, ex.conclusion, ex.next_action, ex.stage, ex.amount]
    # a date alone ("今天天气不错") is not a follow-up; a date with a customer is ("恒康医疗 下周三再联系")
    return any(f is not None for f in facts) or bool(ex.pain_points) or bool(ex.next_followup and _identity(ex))


def _reported(ex: Any) -> bool:
    """What happened with the customer, beyond a bare date: the part of a follow-up a short answer lacks."""
    facts = [ex.method, ex.conclusion, ex.next_action, ex.stage, ex.amount]
    return any(f is not None for f in facts) or bool(ex.pain_points)


def _mentions(customer: Customer, ex: Any) -> bool:
    company = ex.company or ""
    if company and (company in customer.name or customer.name in company):
        return True
    return any((ex.phone and c.phone_norm == ex.phone) or (ex.contact_name and c.name == ex.contact_name)
               for c in customer.contacts)


def _is_new_followup(ctx: Context, text: str, about: Customer | None = None) -> bool:
    """An answer to an open question that is really a whole new follow-up about another customer.

    Reps often skip the question and report the next visit; taking that message as the answer
    would file its facts under the wrong customer, or drop them.
    """
    parser = _parser(ctx)
    if parser is None:
        return False
    ex = parser.parse_text(text, ctx.local_now)
    if not (_identity(ex) and _reported(ex)):
        return False
    return about is None or not _mentions(about, ex)


def _lookup(ctx: Context, text: str, ex: Any) -> None:
    from bot.handlers.customers import find_customer

    keyword = ex.phone or ex.company or ex.contact_name
    if not keyword:
        ctx.reply("您想查哪个客户？请告诉我客户名称、联系人或电话，例如：/客户 恒康")
        return
    find_customer(ctx, keyword)


# ------------------------------------------------------------------ customer resolution
def _continue(ctx: Context, pending: dict[str, Any]) -> None:
    """Resolve the customer, then record; ask for the customer if it cannot be found."""
    ex = pending["extraction"]
    customer = pending.get("customer_id") and ctx.uow.customers.get(pending["customer_id"])
    if not customer:
        customer = _find_customer(ctx, ex)
    if customer is None and (ex.get("company") or pending.get("company_answer")):
        company = pending.get("company_answer") or ex["company"]
        result = create_for(ctx, NewCustomer(
            company=company, contact_name=ex.get("contact_name"), phone=ex.get("phone"),
            source="voice" if pending.get("voice") else "chat"), ctx.now)
        if result.decision.kind == "ask":
            from bot.handlers.customers import answer_created

            # the follow-up waits for the "是否关联" answer and is recorded with it
            answer_created(ctx, result, NewCustomer(company=company, contact_name=ex.get("contact_name"),
                                                    phone=ex.get("phone"), source="chat"), pending_followup=pending)
            return
        customer = result.customer
        pending["new_customer"] = result.created
    if customer is None:
        ctx.ask("followup", "ask_customer", "这次跟进的是哪个客户？请回复客户名称或电话。", data=pending)
        return
    record_pending(ctx, customer, pending)


def _find_customer(ctx: Context, ex: dict[str, Any]) -> Customer | None:
    """By phone first, then by company name, then by contact name, among what the rep may see."""
    if ex.get("phone"):
        active = [c for c in ctx.uow.customers.by_phone(ex["phone"]) if c.status == CustomerStatus.ACTIVE]
        hits = [c for c in active if can_see_customer(ctx.user, c)]
        if len(hits) == 1:
            return hits[0]
        if active and not hits:
            owner = ctx.uow.users.get(active[0].owner_id) if active[0].owner_id else None
            raise PermissionDenied(f"这个号码属于{owner.name if owner else '其他同事'}负责的客户，跟进没有记录。"
                                   "如需接手，请联系主管转派。")
    for keyword in (ex.get("company"), ex.get("contact_name")):
        if not keyword:
            continue
        hits = [c for c in find_visible_customers(ctx.uow, ctx.user, keyword) if c.status == CustomerStatus.ACTIVE]
        exact = [c for c in hits if c.name == keyword or any(x.name == keyword for x in c.contacts)]
        if len(exact) == 1:
            return exact[0]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise Ambiguous(f"「{keyword}」匹配到多个客户，请说全称：", [(c.id or 0, c.name) for c in hits[:6]])
    return None


@router.dialog("followup", "ask_customer")
def on_customer_answer(ctx: Context, dialog: Dialog, text: str) -> None:
    pending = dialog.data
    if _is_new_followup(ctx, text):
        ctx.end_dialog()
        earlier = str(pending.get("text", ""))[:40]
        ctx.reply(f"上一条「{earlier}」还不知道是哪个客户，没有记录；需要的话请带上客户名称重新发送。")
        on_text(ctx, text)
        return
    parser = _parser(ctx)
    answer = parser.parse_text(text, ctx.local_now) if parser else None
    ex = pending["extraction"]
    if answer is not None and answer.phone and not ex.get("phone"):
        ex["phone"] = answer.phone
    keyword = (answer.company if answer and answer.company else None) or text.strip()
    found = _find_customer(ctx, {"company": keyword, "phone": ex.get("phone")})
    ctx.end_dialog()
    if found is not None:
        pending["customer_id"] = found.id
    else:
        pending["company_answer"] = keyword
    _continue(ctx, pending)


# ------------------------------------------------------------------ recording and the card
def _confident(ex: dict[str, Any], key: str) -> bool:
    return float(ex.get("confidence", {}).get(key, 1.0)) >= LOW_CONFIDENCE


def record_pending(ctx: Context, customer: Customer, pending: dict[str, Any]) -> None:
    ex = pending["extraction"]
    keep = {k: ex.get(k) for k in ("method", "conclusion", "next_action", "next_followup", "amount", "stage")
            if ex.get(k) is not None and _confident(ex, k)}
    unsure = {k: ex.get(k) for k in ("method", "conclusion", "next_action", "next_followup", "amount", "stage")
              if ex.get(k) is not None and not _confident(ex, k)}
    deals = ctx.uow.deals.for_customer(customer.id or 0, open_only=True)
    chosen = [d for d in deals if d.id == pending.get("deal_id")]
    if len(deals) > 1 and not chosen:
        from bot.handlers.deals import choose_deal

        choose_deal(ctx, customer, "freetext_followup", {"customer_id": customer.id, "pending": pending},
                    closed_too=False)
        return
    deal_before = None
    if len(chosen or deals) == 1:
        deal = (chosen or deals)[0]
        deal_before = {"next_followup_on": deal.next_followup_on.isoformat() if deal.next_followup_on else None}
    contact_id = _contact_id(customer, ex)
    result = record_followup(ctx.uow, ctx.user, FollowUpInput(
        customer_id=customer.id or 0, occurred_at=ctx.now,
        source=FollowUpSource.VOICE if pending.get("voice") else FollowUpSource.CHAT,
        method=Method(keep["method"]) if "method" in keep else None,
        conclusion=Conclusion(keep["conclusion"]) if "conclusion" in keep else None,
        next_action=NextAction(keep["next_action"]) if "next_action" in keep else None,
        next_followup_on=date.fromisoformat(keep["next_followup"]) if "next_followup" in keep else None,
        stage_hint=keep.get("stage"), amount=keep.get("amount"), pain_points=list(ex.get("pain_points") or []),
        raw_text=pending["text"], extracted=ex, contact_id=contact_id, deal_id=pending.get("deal_id"),
    ), ctx.now)
    stage_note = _milestone(ctx, result, keep.get("stage"))
    followup_id = result.followup.id or 0
    state = {"followup_id": followup_id, "unsure": unsure, "deal_before": deal_before,
             "voice": pending.get("voice", False), "new_customer": pending.get("new_customer", False)}
    ctx.reply_card(confirmation_card(ctx, result, state, stage_note), state=state)
    if result.followup.next_followup_on is None and "next_followup" not in unsure:
        ctx.ask("followup", "ask_date", "下次什么时候跟进？例如：明天、下周三、3月18日。回复「不定」可跳过。",
                data={"followup_id": followup_id, "tries": 0})


def _record_on_deal(ctx: Context, deal: Any, args: dict[str, Any]) -> None:
    """The rep picked the deal of a customer with several: record the waiting follow-up on it."""
    customer = ctx.uow.customers.get(int(args["customer_id"]))
    if customer is None:
        raise InvalidInput("这个客户已不存在，跟进没有记录。")
    record_pending(ctx, customer, {**args["pending"], "deal_id": deal.id})


def _register_runner() -> None:
    try:
        from bot.handlers.deals import deal_runner
    except ImportError:
        return
    deal_runner("freetext_followup")(_record_on_deal)


_register_runner()


def _contact_id(customer: Customer, ex: dict[str, Any]) -> int | None:
    for contact in customer.contacts:
        if (ex.get("phone") and contact.phone_norm == ex["phone"]) or (
                ex.get("contact_name") and contact.name == ex["contact_name"]):
            return contact.id
    return None


def _milestone(ctx: Context, result: FollowUpResult, stage: str | None) -> str:
    """Move the deal when the text says a milestone was reached, through the stage rules."""
    if not stage or result.deal is None:
        return ""
    target = STAGE_MAP.get(stage)
    advance = _stage_advancer()
    if target is None or advance is None:
        return ""
    try:
        return advance(ctx, result.customer, target) or ""
    except DomainError as err:
        return f"阶段未变更：{err.user_text()}"


def _stage_advancer() -> Any:
    try:
        from bot.handlers.deals import advance_from_text
    except ImportError:
        return None
    return advance_from_text


def _field_rows(ex_values: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    if ex_values.get("method"):
        rows.append(("方式", METHOD_NAMES_ZH[Method(ex_values["method"])]))
    if ex_values.get("conclusion"):
        rows.append(("结论", CONCLUSION_NAMES_ZH[Conclusion(ex_values["conclusion"])]))
    if ex_values.get("next_action"):
        rows.append(("下一步", NEXT_ACTION_NAMES_ZH[NextAction(ex_values["next_action"])]))
    if ex_values.get("next_followup"):
        rows.append(("下次跟进", str(ex_values["next_followup"])))
    if ex_values.get("amount") is not None:
        rows.append(("金额", fmt_amount(float(ex_values["amount"]))))
    if ex_values.get("stage"):
        rows.append(("里程碑", str(ex_values["stage"])))
    return rows


def confirmation_card(ctx: Context, result: FollowUpResult, state: dict[str, Any], note: str = "") -> Card:
    f = result.followup
    contact = next((c for c in result.customer.contacts if c.id == f.contact_id), None)
    fields: list[tuple[str, str]] = [("客户", result.customer.name + ("（新建）" if state.get("new_customer") else ""))]
    if contact is not None:
        fields.append(("联系人", f"{contact.name} {contact.phone_norm or ''}".strip()))
    fields += [("方式", METHOD_NAMES_ZH[f.method] if f.method else "—"),
               ("结论", CONCLUSION_NAMES_ZH[f.conclusion] if f.conclusion else "—"),
               ("下一步", NEXT_ACTION_NAMES_ZH[f.next_action] if f.next_action else "—"),
               ("下次跟进", fmt_date(f.next_followup_on))]
    if f.amount is not None:
        fields.append(("金额", fmt_amount(f.amount)))
    if f.pain_points:
        fields.append(("关注点", "、".join(PAIN_NAMES_ZH.get(p, p) for p in f.pain_points)))
    for key, value in _field_rows(state.get("unsure", {})):
        fields.append((key, f"{value}？（请确认）"))
    footer = "（来自语音）" if state.get("voice") else ""
    if note:
        footer = f"{footer}\n{note}".strip()
    fid = f.id or 0
    return Card(
        title="跟进已记录", fields=tuple(fields), footer=footer,
        buttons=(Button("确认", action("fu", "ok", fid), "primary"), Button("修改", action("fu", "edit", fid)),
                 Button("取消", action("fu", "void", fid), "danger")),
    )


@router.action("fu:ok")
def on_confirm(ctx: Context, act: ActionId) -> None:
    followup_id = act.int_arg(0)
    state = ctx.card_state()
    changes = _changes(state.get("unsure", {}) if state.get("followup_id") == followup_id else {})
    current = _result(ctx, followup_id).followup
    # a field the rep already set through 修改 wins over the card's older guess
    changes = {k: v for k, v in changes.items() if getattr(current, k, None) in (None, [])}
    result = amend_followup(ctx.uow, ctx.user, followup_id, changes, ctx.now) if changes else _result(ctx, followup_id)
    if not ctx.close_card(_done_card(ctx, result, "已确认"), "fu:ok"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")


def _result(ctx: Context, followup_id: int) -> FollowUpResult:
    followup = ctx.uow.followups.get(followup_id)
    if followup is None:
        raise InvalidInput("找不到这条跟进记录。")
    if followup.user_id != ctx.user.id:
        author = ctx.uow.users.get(followup.user_id)
        raise PermissionDenied(f"这条跟进是{author.name if author else '其他同事'}记录的，只有本人可以确认、修改或取消。")
    customer = ctx.uow.customers.get(followup.customer_id)
    deal = ctx.uow.deals.get(followup.deal_id) if followup.deal_id else None
    assert customer is not None
    return FollowUpResult(followup, customer, deal)


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if values.get("next_followup"):
        out["next_followup_on"] = date.fromisoformat(values["next_followup"])
    if values.get("amount") is not None:
        out["amount"] = float(values["amount"])
    for key in ("method", "conclusion", "next_action"):
        if values.get(key):
            out[key] = {"method": Method, "conclusion": Conclusion, "next_action": NextAction}[key](values[key])
    if values.get("stage"):
        out["stage_hint"] = values["stage"]
    return out


def _done_card(ctx: Context, result: FollowUpResult, status: str) -> Card:
    card = confirmation_card(ctx, result, {})
    who = f"{ctx.user.name} {ctx.local_now:%H:%M}"
    return Card(title=f"跟进已记录（{status}）", fields=card.fields, footer=f"{status}（{who}）")


@router.action("fu:void")
def on_void(ctx: Context, act: ActionId) -> None:
    followup_id = act.int_arg(0)
    state = ctx.card_state()
    deal_before = state.get("deal_before") if state.get("followup_id") == followup_id else None
    dialog = ctx.uow.dialogs.get(ctx.user.id)
    if dialog is not None and dialog.data.get("followup_id") == followup_id:
        ctx.end_dialog()
    result = _result(ctx, followup_id)
    void_followup(ctx.uow, ctx.user, followup_id, ctx.now, deal_before)
    if ctx.close_card(Card(title="跟进已取消", fields=(("客户", result.customer.name),),
                           footer=f"已取消（{ctx.user.name} {ctx.local_now:%H:%M}），记录保留备查。"), "fu:void"):
        return
    ctx.uow.rollback()
    ctx.reply("这张卡片已处理过了。")


EDIT_FIELDS = {"日期": "next_followup_on", "下次跟进": "next_followup_on", "金额": "amount", "方式": "method",
               "结论": "conclusion", "下一步": "next_action"}


@router.action("fu:edit")
def on_edit(ctx: Context, act: ActionId) -> None:
    followup_id = act.int_arg(0)
    _result(ctx, followup_id)  # checks it is the presser's own follow-up
    ctx.ask("followup", "edit", "要修改哪一项？请按「字段 新值」回复，例如：日期 下周三、金额 80万、结论 观望、"
                                "下一步 报价、方式 电话。", data={"followup_id": followup_id})


@router.dialog("followup", "edit")
def on_edit_answer(ctx: Context, dialog: Dialog, text: str) -> None:
    name, value = _split_edit(text)
    field = EDIT_FIELDS.get(name)
    if field is None or not value.strip():
        ctx.ask("followup", "edit", "没看懂要改哪一项。请按「字段 新值」回复，字段可以是：日期、金额、方式、结论、下一步。",
                data=dialog.data)
        return
    change = _parse_field(ctx, field, value.strip())
    result = amend_followup(ctx.uow, ctx.user, int(dialog.data["followup_id"]), change, ctx.now)
    ctx.end_dialog()
    ctx.reply_card(_done_card(ctx, result, "已修改"))


def _split_edit(text: str) -> tuple[str, str]:
    """「结论 推进」, 「结论：推进」 and 「金额80万」 all mean field + value."""
    text = text.strip()
    for name in sorted(EDIT_FIELDS, key=len, reverse=True):
        if text.startswith(name):
            return name, text[len(name):].strip(" \u3000:：,，")
    name, _, value = text.partition(" ")
    return name, value.strip()


def _parse_field(ctx: Context, field: str, value: str) -> dict[str, Any]:
    from bot.handlers.common import CONCLUSIONS, METHODS, NEXT_ACTIONS

    if field in ("method", "conclusion", "next_action"):
        table = {"method": METHODS, "conclusion": CONCLUSIONS, "next_action": NEXT_ACTIONS}[field]
        if value not in table:
            raise InvalidInput(f"「{value}」不是有效的取值。可选：{'、'.join(table)}")
        return {field: table[value]}
    parser = _parser(ctx)
    ex = parser.parse_text(value, ctx.local_now) if parser else None
    if field == "next_followup_on":
        when = ex.next_followup if ex else None
        if when is None:
            raise InvalidInput(f"看不懂日期「{value}」。可以写：明天、下周三、3月18日。")
        return {field: when}
    amount = ex.amount if ex else None
    if amount is None:
        try:
            amount = float(value)
        except ValueError as exc:
            raise InvalidInput(f"看不懂金额「{value}」。可以写：50万、500000。") from exc
    return {"amount": amount}


@router.dialog("followup", "ask_date")
def on_date_answer(ctx: Context, dialog: Dialog, text: str) -> None:
    followup_id = int(dialog.data["followup_id"])
    previous = ctx.uow.followups.get(followup_id)
    customer = ctx.uow.customers.get(previous.customer_id) if previous else None
    if customer is not None and _is_new_followup(ctx, text, about=customer):
        ctx.end_dialog()
        ctx.reply(f"好的，「{customer.name}」先不设下次跟进日期（之后可在它的跟进卡片上点「修改」补充）。"
                  "这条按新的跟进记录：")
        on_text(ctx, text)
        return
    if text.strip() in ("不定", "跳过", "不知道", "待定", "-"):
        ctx.end_dialog()
        ctx.reply("好的，暂不设置下次跟进日期。")
        return
    parser = _parser(ctx)
    when = parser.parse_text(text, ctx.local_now).next_followup if parser else None
    if when is None:
        tries = int(dialog.data.get("tries", 0)) + 1
        if tries >= 2:
            ctx.end_dialog()
            ctx.reply("还是没看懂日期，先不设置了。之后可以在跟进卡片上点「修改」补充。")
            return
        ctx.ask("followup", "ask_date", "没看懂这个日期，请换个说法，例如：明天、下周三、3月18日。回复「不定」可跳过。",
                data={"followup_id": followup_id, "tries": tries})
        return
    result = amend_followup(ctx.uow, ctx.user, followup_id, {"next_followup_on": when}, ctx.now)
    ctx.end_dialog()
    ctx.reply(f"好的，下次跟进：{when:%Y-%m-%d}（{result.customer.name}）。到时我会提醒您。")


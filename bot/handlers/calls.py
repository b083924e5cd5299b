"""The "新号码，是否新建客户？" card: create the customer from a call, or ignore the number."""

from __future__ import annotations

from bot.actions import ActionId
from bot.context import Context
from bot.customer_service import create_for
from bot.router import Router
from bot.types import Card
from core.errors import InvalidInput
from core.model import CallLog
from core.usecases.calls import CallFacts, record_call_followup
from core.usecases.customers import NewCustomer
from storage.messaging import Dialog

router = Router("calls")


def _own_call(ctx: Context, call_log_id: int) -> CallLog:
    call = ctx.uow.calls.get(call_log_id)
    if call is None or call.rep_id != ctx.user.id:
        raise InvalidInput("找不到这通电话，或它不是您的通话。")
    return call


@router.action("call:create")
def create_from_call(ctx: Context, act: ActionId) -> None:
    call = _own_call(ctx, act.int_arg(0))
    if call.status != "unknown_number":
        ctx.reply("这通电话已经处理过了。")
        return
    company = ctx.card_state().get("company")
    if company:
        _create(ctx, call, company, ctx.card_state().get("contact"))
        return
    ctx.ask("call", "company", "请回复这个客户的公司名称（可以顺便带上联系人，例如：恒康医疗 张伟）。",
            data={"call_log_id": call.id, "card_id": ctx.card_id})


@router.dialog("call", "company")
def on_company(ctx: Context, dialog: Dialog, text: str) -> None:
    call = _own_call(ctx, int(dialog.data["call_log_id"]))
    parts = text.split()
    if not parts:
        ctx.ask("call", "company", "请回复公司名称。", data=dialog.data)
        return
    ctx.end_dialog()
    ctx.card_id = dialog.data.get("card_id")
    _create(ctx, call, parts[0], parts[1] if len(parts) > 1 else None)


def _create(ctx: Context, call: CallLog, company: str, contact: str | None) -> None:
    result = create_for(ctx, NewCustomer(company=company, contact_name=contact, phone=call.customer_phone,
                                         source="call_log"), ctx.now)
    customer = result.customer if result.decision.kind != "ask" else result.decision.customer
    if customer is None:
        raise InvalidInput("没能建立客户，请用 /新客户 手动新建。")
    from bot.calls import facts_from

    facts: CallFacts = facts_from(ctx.services, {
        "call_id": call.call_id, "rep": call.rep_id, "customer_phone": call.customer_phone,
        "started_at": call.started_at.isoformat(), "duration_s": call.duration_s,
        "transcript": call.transcript})
    record_call_followup(ctx.uow, ctx.user, customer, call, facts, ctx.now)
    done = Card(title="已新建客户并记录通话" if result.created else "已关联到已有客户并记录通话",
                fields=(("客户", customer.name), ("号码", call.phone_norm or "")),
                footer=f"{ctx.user.name} {ctx.local_now:%H:%M}")
    if ctx.card_id is None or not ctx.close_card(done, "call:create"):
        ctx.reply_card(done)


@router.action("call:ignore")
def ignore_call(ctx: Context, act: ActionId) -> None:
    call = _own_call(ctx, act.int_arg(0))
    call.status = "ignored"
    ctx.uow.calls.update(call)
    if not ctx.close_card(Card(title="已忽略这个号码", footer=f"{ctx.user.name} {ctx.local_now:%H:%M}"),
                          "call:ignore"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")

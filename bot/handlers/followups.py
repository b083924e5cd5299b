"""/跟进: a structured follow-up, for reps who prefer commands to free text."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from bot.context import Context
from bot.handlers.common import (
    CONCLUSIONS,
    METHODS,
    NEXT_ACTIONS,
    fmt_amount,
    fmt_date,
    parse_date_word,
    pick,
)
from bot.router import Router, split_args
from bot.types import Card
from core.errors import InvalidInput
from core.model import (
    CONCLUSION_NAMES_ZH,
    METHOD_NAMES_ZH,
    NEXT_ACTION_NAMES_ZH,
    Conclusion,
    FollowUpSource,
    Method,
    NextAction,
)
from core.usecases.customers import resolve_customer
from core.usecases.followups import FollowUpInput, FollowUpResult, record_followup

router = Router("followups")

USAGE = "/跟进 客户 方式 结论 下一步 日期"
EXAMPLE = (
    "例如：/跟进 恒康医疗 拜访 推进 演示 2026-03-18\n"
    "方式：电话/拜访/微信/邮件/视频；结论：推进/观望/拒绝；下一步：演示/报价/合同/拜访/电话/发资料/拉群；"
    "不知道的填「-」。"
)


@router.command("跟进", usage=USAGE, help="记录一次跟进（也可以直接用一句话描述）")
def followup_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if len(parts) < 2:
        raise InvalidInput("请至少告诉我客户和跟进方式。", hint=EXAMPLE)
    if len(parts) > 5:
        raise InvalidInput("参数太多了。", hint=EXAMPLE)
    parts += ["-"] * (5 - len(parts))
    customer = resolve_customer(ctx.uow, ctx.user, parts[0])
    method = cast(Method | None, pick(METHODS, parts[1], "跟进方式"))
    conclusion = cast(Conclusion | None, pick(CONCLUSIONS, parts[2], "结论"))
    next_action = cast(NextAction | None, pick(NEXT_ACTIONS, parts[3], "下一步"))
    next_date = parse_date_word(parts[4], ctx.local_now.date())
    data = {
        "customer_id": customer.id or 0,
        "method": method.value if method else None,
        "conclusion": conclusion.value if conclusion else None,
        "next_action": next_action.value if next_action else None,
        "next_followup_on": next_date.isoformat() if next_date else None,
        "raw_text": f"/跟进 {args}",
    }
    if len(ctx.uow.deals.for_customer(customer.id or 0, open_only=True)) > 1:
        from bot.handlers.deals import choose_deal

        choose_deal(ctx, customer, "followup_command", data, closed_too=False)
        return
    _record(ctx, data, None)


def _record(ctx: Context, data: dict[str, Any], deal_id: int | None) -> None:
    when = data.get("next_followup_on")
    result = record_followup(
        ctx.uow,
        ctx.user,
        FollowUpInput(
            customer_id=int(data["customer_id"]),
            occurred_at=ctx.now,
            source=FollowUpSource.COMMAND,
            method=Method(data["method"]) if data.get("method") else None,
            conclusion=Conclusion(data["conclusion"]) if data.get("conclusion") else None,
            next_action=NextAction(data["next_action"]) if data.get("next_action") else None,
            next_followup_on=date.fromisoformat(when) if when else None,
            raw_text=str(data["raw_text"]),
            deal_id=deal_id,
        ),
        ctx.now,
    )
    ctx.reply_card(followup_card(ctx, result, title="跟进已记录"))


def _register_runner() -> None:
    try:
        from bot.handlers.deals import deal_runner
    except ImportError:
        return
    deal_runner("followup_command")(lambda ctx, deal, data: _record(ctx, data, deal.id))


_register_runner()


def followup_card(ctx: Context, result: FollowUpResult, *, title: str, footer: str = "") -> Card:
    f = result.followup
    fields = [
        ("客户", result.customer.name),
        ("方式", METHOD_NAMES_ZH[f.method] if f.method else "—"),
        ("结论", CONCLUSION_NAMES_ZH[f.conclusion] if f.conclusion else "—"),
        ("下一步", NEXT_ACTION_NAMES_ZH[f.next_action] if f.next_action else "—"),
        ("下次跟进", fmt_date(f.next_followup_on)),
    ]
    if f.amount is not None:
        fields.append(("金额", fmt_amount(f.amount)))
    if result.deal is not None:
        fields.append(("商机", f"{result.deal.title} · {ctx.services.pipeline.name(result.deal.stage)}"))
    return Card(title=title, fields=tuple(fields), footer=footer)

"""/待审核: managers decide the possible duplicates an import found, one card per group of rows.

Each card asks "是否关联到 X？" with the evidence; 关联 / 新建 / 忽略 (`review:link|new|ignore:<id>`)
call `core.usecases.imports.decide_review`, which writes the rows through `create_customer`. The same
decision can be made from a CSV (`crmbot import --review-export / --review-apply`); whichever comes
second is told the item was already handled.
"""

from __future__ import annotations

from bot.actions import ActionId, action
from bot.context import Context
from bot.handlers.common import mask_phone
from bot.router import Router
from bot.types import Button, Card
from core.imports import ReviewDecision, ReviewItem
from core.usecases.imports import decide_review, list_pending_reviews

router = Router("imports")

CARDS_PER_LIST = 5


@router.command(
    "待审核", usage="/待审核", help="确认导入时发现的疑似重复客户（主管及以上）", aliases=("导入审核",)
)
def pending_reviews(ctx: Context, args: str) -> None:
    items, total = list_pending_reviews(ctx.uow, ctx.user, limit=CARDS_PER_LIST)
    if not items:
        ctx.reply("目前没有待审核的导入记录。")
        return
    ctx.reply(
        f"共有 {total} 条待审核的导入记录"
        + (f"，先显示最早的 {len(items)} 条" if total > len(items) else "")
        + "："
    )
    for item in items:
        ctx.reply_card(review_card(ctx, item))
    if total > len(items):
        ctx.reply(f"处理完这些后，再发送 /待审核 查看其余 {total - len(items)} 条。")


def review_card(ctx: Context, item: ReviewItem) -> Card:
    rows = item.rows
    first = rows[0]
    candidate = ctx.uow.customers.get(item.candidate_customer_id) if item.candidate_customer_id else None
    title = f"是否关联到「{candidate.name}」？" if candidate else "疑似重复的导入记录"
    source = f"「{item.data.get('file', '')}」第 {item.row_no} 行" + (
        f"（同一公司共 {len(rows)} 行）" if len(rows) > 1 else ""
    )
    fields: list[tuple[str, str]] = [
        (
            "导入记录",
            " · ".join(p for p in (first.company, first.name or "未留姓名", first.phone or "") if p),
        ),
        ("来自", source),
    ]
    if candidate is not None:
        owner = ctx.uow.users.get(candidate.owner_id) if candidate.owner_id else None
        people = "；".join(
            f"{c.name or '未留姓名'}" + (f" {mask_phone(c.phone_norm)}" if c.phone_norm else "")
            for c in candidate.contacts[:2]
        )
        fields.append(
            (
                "已有客户",
                f"{candidate.name}（负责人：{owner.name if owner else '公海'}"
                + (f"；联系人：{people}" if people else "")
                + "）",
            )
        )
    fields.append(("相似度", f"{item.score:.0f}%"))
    fields.append(("依据", "，".join(item.evidence) or "—"))
    return Card(
        title=title,
        fields=tuple(fields),
        buttons=(
            Button("关联", action("review", "link", item.id), "primary"),
            Button("新建", action("review", "new", item.id)),
            Button("忽略", action("review", "ignore", item.id)),
        ),
        footer="关联：并入已有客户；新建：作为新客户导入；忽略：这些行不导入。",
    )


def _decide(ctx: Context, act: ActionId, decision: ReviewDecision) -> None:
    from bot.handlers.assignment import announce_assignment, lead_assigner

    outcome = decide_review(
        ctx.uow,
        ctx.user,
        act.int_arg(0),
        decision,
        ctx.now,
        dedup=ctx.services.dedup,
        pipeline=ctx.services.pipeline,
        assigner=lead_assigner(ctx.services),
    )
    rows = outcome.item.rows
    customer = outcome.customer
    title = {
        "link": f"已关联到「{customer.name if customer else ''}」",
        "new": f"已新建客户「{customer.name if customer else ''}」",
        "ignore": "已忽略，这些行不导入",
    }[decision]
    done = Card(
        title=title,
        fields=(("导入记录", rows[0].label if rows else "—"), ("行数", str(len(rows)))),
        footer=f"已处理（{ctx.user.name} {ctx.local_now:%m-%d %H:%M}）",
    )
    if not ctx.close_card(done, act.key):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    for assignment in outcome.assignments:
        announce_assignment(ctx.services, ctx.uow, assignment, ctx.now, notifier=ctx.notifier)


@router.action("review:link")
def link(ctx: Context, act: ActionId) -> None:
    _decide(ctx, act, "link")


@router.action("review:new")
def create_new(ctx: Context, act: ActionId) -> None:
    _decide(ctx, act, "new")


@router.action("review:ignore")
def ignore(ctx: Context, act: ActionId) -> None:
    _decide(ctx, act, "ignore")

"""/合并 and /撤销合并: managers merge duplicate customers, reversibly within 30 days."""

from __future__ import annotations

from bot.actions import ActionId, action
from bot.context import Context
from bot.router import Router, split_args
from bot.types import Button, Card
from core.errors import Ambiguous, InvalidInput, NotFound
from core.model import Customer, CustomerStatus
from core.usecases.customers import find_visible_customers, resolve_customer
from core.usecases.merge import MergeResult, merge_customers, require_merger, undo_merge

router = Router("merge")

EXAMPLE = "例如：/合并 恒康医疗 恒康医疗器械有限公司 重复录入（把后者合并到前者）"


@router.command("合并", usage="/合并 保留的客户 被合并的客户 [原因]", help="合并重复客户（主管及以上，30 天内可撤销）")
def merge_command(ctx: Context, args: str) -> None:
    parts = split_args(args)
    if len(parts) < 2:
        raise InvalidInput("请告诉我保留哪个客户、合并哪个客户。", hint=EXAMPLE)
    require_merger(ctx.user)  # say who may merge before looking anything up
    winner = resolve_customer(ctx.uow, ctx.user, parts[0])
    loser = resolve_customer(ctx.uow, ctx.user, parts[1])
    result = merge_customers(ctx.uow, ctx.user, winner, loser, " ".join(parts[2:]) or "重复客户", ctx.now)
    ctx.reply_card(_merged_card(result))


def _merged_card(result: MergeResult) -> Card:
    moved = result.link.moved
    return Card(
        title="客户已合并",
        fields=(("保留", result.winner.name), ("并入", f"{result.loser.name}（保留原记录，可撤销）"),
                ("转移", f"联系人 {len(moved.get('contacts', []))} 个，商机 {len(moved.get('deals', []))} 个，"
                         f"跟进 {len(moved.get('followups', []))} 条"),
                ("原因", result.link.reason)),
        buttons=(Button("撤销合并", action("merge", "undo", result.loser.id), "danger"),),
    )


def _merged_customer(ctx: Context, keyword: str) -> Customer:
    hits = [c for c in find_visible_customers(ctx.uow, ctx.user, keyword) if c.status == CustomerStatus.MERGED]
    if not hits:
        raise NotFound(f"没有找到已合并的客户「{keyword}」。")
    exact = [c for c in hits if c.name == keyword]
    if len(exact) == 1:
        return exact[0]
    if len(hits) > 1:
        raise Ambiguous(f"「{keyword}」匹配到多个已合并的客户，请说全称：", [(c.id or 0, c.name) for c in hits])
    return hits[0]


@router.command("撤销合并", usage="/撤销合并 被合并的客户", help="撤销 30 天内的客户合并")
def undo_command(ctx: Context, args: str) -> None:
    if not args.strip():
        raise InvalidInput("请告诉我要撤销合并的客户。", hint="例如：/撤销合并 恒康医疗器械有限公司")
    result = undo_merge(ctx.uow, ctx.user, _merged_customer(ctx, args.strip()), ctx.now)
    ctx.reply(f"已撤销合并：「{result.loser.name}」恢复为独立客户，原有联系人、商机和跟进已移回。")


@router.action("merge:undo")
def undo_button(ctx: Context, act: ActionId) -> None:
    loser = ctx.uow.customers.get(act.int_arg(0))
    if loser is None:
        raise NotFound("这个客户不存在。")
    result = undo_merge(ctx.uow, ctx.user, loser, ctx.now)
    done = Card(title="合并已撤销", fields=(("客户", result.loser.name),),
                footer=f"已撤销（{ctx.user.name} {ctx.local_now:%m-%d %H:%M}）")
    if not ctx.close_card(done, "merge:undo"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")

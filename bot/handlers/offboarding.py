"""Offboarding, absence, exports and the audit trail in chat.

/离职 @张三 [交接给 @李四] [原因]  HR or admin: a preview card with 确认 / 取消; 确认 ends the leaver's access
                                  at once and starts the tracked handover job (bot/jobs.py)
/复职 @张三                      the end of a temporary absence (the same as /销假; /休假 registers one)
/导出 客户|商机|跟进              a CSV under data_dir/exports in the user's scope, restricted fields masked;
                                  above `export_confirm_rows` rows a second card asks again; audited
/审计 客户                        recent audit entries of a customer (managers and above, in their scope)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from bot import audit_text, jobs
from bot.actions import ActionId, action
from bot.context import Context
from bot.handlers.assignment import lead_assigner
from bot.handlers.common import fmt_time
from bot.router import Router, split_args
from bot.types import Button, Card
from bot.visibility import audit_reads, field_rules, show_amount, viewer_for
from core.errors import Conflict, InvalidInput, NotFound
from core.model import User, UserStatus
from core.permissions import require
from core.usecases import offboarding as uc
from core.usecases.assignment import end_leave
from core.usecases.visibility import audit_trail, record_export
from storage.export import count_scoped, field_names, iter_scoped

router = Router("offboarding")

OFFBOARD_EXAMPLE = "例如：/离职 @张三 交接给 @李四 个人原因；不写接手人时在本组内轮转分配。"
HANDOVER_WORDS = ("交接给", "交给", "转给", "移交给")


# ---------------------------------------------------------------------------- /离职
def _parse(args: str) -> tuple[str, str | None, str]:
    parts = split_args(args)
    if not parts:
        raise InvalidInput("请告诉我是哪位同事离职。", hint=OFFBOARD_EXAMPLE)
    leaver, rest = parts[0], parts[1:]
    successor = None
    if rest:
        word = rest[0]
        glued = next((w for w in HANDOVER_WORDS if word.startswith(w) and len(word) > len(w)), None)
        if glued:  # 交接给@李四
            successor, rest = word[len(glued) :], rest[1:]
        elif word in HANDOVER_WORDS:
            if len(rest) < 2:
                raise InvalidInput("请告诉我交接给哪位同事。", hint=OFFBOARD_EXAMPLE)
            successor, rest = rest[1], rest[2:]
    return leaver, successor, " ".join(rest)


def _people(ctx: Context, word: str) -> list[User]:
    name = word.strip().lstrip("@＠")
    if not name:
        raise InvalidInput("请用 @姓名 或账号指明是哪位同事。", hint=OFFBOARD_EXAMPLE)
    found = ctx.uow.users.find_by_name(name)
    if not found:
        raise NotFound(f"没有找到同事「{name}」。", hint="请用系统里的姓名或账号，例如 @张三 或 @zhangsan。")
    return found


@router.command(
    "离职",
    usage="/离职 @姓名 [交接给 @姓名] [原因]",
    help="人事办理离职：停用账号，客户、商机、提醒和审批自动交接",
    aliases=("离职交接",),
)
def offboard_command(ctx: Context, args: str) -> None:
    require(ctx.user, "user.offboard")  # a refusal comes before any lookup of colleagues
    leaver_word, successor_word, reason = _parse(args)
    _resolve_and_preview(
        ctx, {"leaver_word": leaver_word, "successor_word": successor_word, "reason": reason}
    )


def _resolve_and_preview(ctx: Context, state: dict[str, Any]) -> None:
    """Resolve the names (asking back when one is ambiguous), then show the preview."""
    for role, label in (("leaver", "离职"), ("successor", "接手")):
        if state.get(role) or not state.get(f"{role}_word"):
            continue
        people = _people(ctx, str(state[f"{role}_word"]))
        if len(people) == 1:
            state[role] = people[0].id
            continue
        buttons = tuple(
            Button(f"{u.name}（{u.team or u.id}）"[:20], action("offboard", "pick", role, u.id))
            for u in people[:6]
        )
        ctx.reply_card(
            Card(
                f"有 {len(people)} 位同事叫「{people[0].name}」，请选择{label}的是哪一位",
                tuple((u.name, f"{u.id} · {u.team or '未分组'}") for u in people[:6]),
                buttons,
            ),
            state=state,
        )
        return
    _preview(ctx, state)


@router.action("offboard:pick")
def pick_person(ctx: Context, act: ActionId) -> None:
    state = ctx.card_state()
    if len(act.args) < 2 or act.args[0] not in ("leaver", "successor") or not state:
        ctx.reply("这个按钮已失效，请重新发送 /离职。")
        return
    picked = ctx.uow.users.get(act.args[1])
    if picked is None:
        raise NotFound("这位同事已不存在。")
    if not ctx.close_card(Card(f"已选择：{picked.name}（{picked.id}）"), "offboard:pick"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    state[act.args[0]] = picked.id
    _resolve_and_preview(ctx, state)


def _preview(ctx: Context, state: dict[str, Any]) -> None:
    assigner = lead_assigner(ctx.services)
    leaver = ctx.uow.users.get(state["leaver"])
    successor = ctx.uow.users.get(state["successor"]) if state.get("successor") else None
    viewer = viewer_for(ctx.services, ctx.user)
    p = uc.preview(
        ctx.uow,
        ctx.user,
        leaver,
        successor,
        ctx.now,
        today=assigner.today(ctx.now),
        config=assigner.config,
        viewer=viewer,
        reason=str(state.get("reason") or ""),
    )
    ctx.reply_card(
        preview_card(ctx, p),
        state={
            "leaver": p.leaver.id,
            "successor": p.successor.id if p.successor else None,
            "reason": p.reason,
        },
    )
    audit_reads(ctx.uow, viewer, ctx.now, via="offboarding.preview")


def preview_card(ctx: Context, p: uc.Preview) -> Card:
    if p.successor is not None:
        to = f"{p.successor.name}（指定接手人）"
    elif p.shares:
        to = "本组轮转：" + "；".join(f"{u.name if u else '公海（需主管分配）'} {n} 个" for u, n in p.shares)
    else:
        to = "—"
    stages = (
        "；".join(
            f"{ctx.services.pipeline.name(s.stage)} {s.deals} 个"
            + (f"（{show_amount(s.amount)}）" if s.amount else "")
            for s in p.stages
        )
        or "无"
    )
    fields: list[tuple[str, str]] = [
        ("离职人", f"{p.leaver.name}（{p.leaver.id}，{p.leaver.team or '未分组'}）"),
        ("客户", f"{p.customers} 个"),
        ("交接给", to),
        ("进行中的商机", stages),
        ("待处理提醒", f"{p.alerts} 条"),
        ("待审批", f"{p.approvals} 个 → {p.manager.name if p.manager else '（未找到主管）'}"),
    ]
    if ctx.services.settings.wecom.enabled and p.leaver.wecom_userid:
        fields.append(("企业微信客户", f"{p.external_contacts} 位外部联系人，通过离职继承迁移给接手人"))
    if p.reason:
        fields.append(("原因", p.reason))
    return Card(
        f"离职交接预览：{p.leaver.name}",
        tuple(fields),
        (
            Button("确认", action("offboard", "confirm", p.leaver.id), "primary"),
            Button("取消", action("offboard", "cancel", p.leaver.id)),
        ),
        description="确认后该同事的账号立即停用，以下内容将逐批交接，每一步都有记录。",
        footer="分配结果以确认时的名额为准。",
    )


@router.action("offboard:confirm")
def confirm(ctx: Context, act: ActionId) -> None:
    state = ctx.card_state()
    if not act.args or state.get("leaver") != act.args[0]:
        ctx.reply("这个按钮已失效，请重新发送 /离职。")
        return
    assigner = lead_assigner(ctx.services)
    job = uc.start(
        ctx.uow,
        ctx.user,
        act.args[0],
        state.get("successor"),
        ctx.now,
        today=assigner.today(ctx.now),
        config=assigner.config,
        reason=str(state.get("reason") or ""),
        wecom=ctx.services.settings.wecom.enabled,
    )
    leaver = ctx.uow.users.get(act.args[0])
    name = leaver.name if leaver else act.args[0]
    done = Card(
        f"离职交接已确认：{name}",
        (("账号", "已停用"), ("交接任务", f"#{job.id} 进行中")),
        footer=f"{ctx.user.name} {ctx.local_now:%m-%d %H:%M} 确认",
    )
    if not ctx.close_card(done, "offboard:confirm"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    ctx.uow.dialogs.clear(act.args[0])  # their open question ends with their access
    jobs.install(ctx.services)  # the console and `!advance` run the job from the next scan on
    ctx.reply(
        f"已停用{name}的账号，交接任务 #{job.id} 已开始：客户、商机、提醒和审批会分批转移，"
        "完成后把汇总发给您。进度可用 crmbot jobs 查看。"
    )


@router.action("offboard:cancel")
def cancel(ctx: Context, act: ActionId) -> None:
    leaver = ctx.uow.users.get(act.args[0]) if act.args else None
    if not ctx.close_card(Card(f"已取消离职交接：{leaver.name if leaver else ''}"), "offboard:cancel"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    ctx.reply("好的，已取消，没有做任何改动。")


# ---------------------------------------------------------------------------- /复职
@router.command("复职", usage="/复职 @姓名", help="休假结束、恢复工作（同 /销假）")
def back_to_work(ctx: Context, args: str) -> None:
    parts = split_args(args)
    people = _people(ctx, parts[0]) if parts else [ctx.user]
    if len(people) > 1:
        raise InvalidInput(
            f"有 {len(people)} 位同事叫「{people[0].name}」，请改用账号："
            + "、".join(f"@{u.id}" for u in people)
        )
    rep = people[0]
    if rep.status == UserStatus.OFFBOARDED:
        raise Conflict(
            f"{rep.name}已离职，账号已停用，不能复职。", hint="如需重新启用，请管理员在用户表中恢复账号。"
        )
    rep = end_leave(ctx.uow, ctx.user, rep, ctx.now)
    ctx.reply(f"已为{rep.name}复职，从现在起恢复分配新线索。")
    if rep.id != ctx.user.id:
        ctx.notify(rep, f"{ctx.user.name}已为您办理复职，从现在起会恢复给您分配新线索。")


# ---------------------------------------------------------------------------- /导出
EXPORT_KINDS = {"客户": "customers", "商机": "deals", "跟进": "followups", "联系人": "contacts"}
EXPORT_NAMES = {v: k for k, v in EXPORT_KINDS.items()}


@router.command(
    "导出", usage="/导出 客户|商机|跟进", help="导出您可查看范围内的数据为 CSV（超过 1000 行需再次确认）"
)
def export_command(ctx: Context, args: str) -> None:
    require(ctx.user, "export.chat")
    word = args.strip()
    what = EXPORT_KINDS.get(word)
    if what is None:
        raise InvalidInput("请告诉我要导出什么：客户、商机、跟进或联系人。", hint="例如：/导出 商机")
    rows = count_scoped(ctx.uow.session, what, ctx.user)
    if rows == 0:
        ctx.reply(f"您可查看的范围内没有{word}数据，无需导出。")
        return
    limit = field_rules(ctx.services).export_confirm_rows
    if rows > limit:
        ctx.reply_card(
            Card(
                f"导出确认：{word} {rows} 行",
                (("行数", f"{rows}（超过 {limit} 行）"), ("范围", "您可查看的全部" + word)),
                (
                    Button("确认导出", action("export", "confirm", what), "primary"),
                    Button("取消", action("export", "cancel", what)),
                ),
                description="大量导出会记录在审计日志中。",
            )
        )
        return
    _export(ctx, what)


@router.action("export:confirm")
def export_confirm(ctx: Context, act: ActionId) -> None:
    what = act.args[0] if act.args else ""
    if what not in EXPORT_NAMES:
        ctx.reply("这个按钮已失效，请重新发送 /导出。")
        return
    if not ctx.close_card(Card(f"已确认导出：{EXPORT_NAMES[what]}"), "export:confirm"):
        ctx.uow.rollback()
        ctx.reply("这张卡片已处理过了。")
        return
    _export(ctx, what)


@router.action("export:cancel")
def export_cancel(ctx: Context, act: ActionId) -> None:
    if ctx.close_card(Card("已取消导出"), "export:cancel"):
        ctx.reply("好的，已取消导出。")


def _export(ctx: Context, what: str) -> None:
    require(ctx.user, "export.chat")
    viewer = viewer_for(ctx.services, ctx.user)
    folder = Path(ctx.services.settings.data_dir) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{what}-{ctx.user.id}-{ctx.local_now:%Y%m%d-%H%M%S}.csv"
    count = write_csv(folder / name, iter_scoped(ctx.uow.session, what, ctx.tz, viewer), field_names(what))
    masked = not all(viewer.sees(f) for f in ("amount", "payment_terms"))
    record_export(ctx.uow, ctx.user.id, what, count, ctx.now, target=name, masked=masked, scope="chat")
    ctx.reply(
        f"已导出{EXPORT_NAMES[what]} {count} 行：{name}（保存在数据目录的 exports 文件夹）。"
        + ("合同金额等受限字段显示为 ***。" if masked and what in ("deals", "followups") else "")
    )


def write_csv(path: Path, rows: Any, fields: list[str]) -> int:
    count = 0
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8-sig", newline="") as out:  # BOM: Excel opens Chinese correctly
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                    for k, v in row.items()
                }
            )
            count += 1
    tmp.replace(path)
    return count


# ---------------------------------------------------------------------------- /审计
@router.command("审计", usage="/审计 客户", help="查看某个客户最近的变更记录（主管及以上）")
def audit_command(ctx: Context, args: str) -> None:
    if not args.strip():
        raise InvalidInput("请告诉我要查看哪个客户的记录。", hint="例如：/审计 恒康医疗")
    viewer = viewer_for(ctx.services, ctx.user)
    trail = audit_trail(ctx.uow, ctx.user, args.strip(), viewer)
    if not trail.entries:
        ctx.reply(f"客户「{trail.customer.name}」还没有审计记录。")
        return
    users = {u.id: u.name for u in ctx.uow.users.list(include_offboarded=True)}
    lines = [f"客户「{trail.customer.name}」最近 {len(trail.entries)} 条记录："]
    for e in trail.entries:
        change = audit_text.change_text(e.before, e.after, tz=ctx.tz, stage_name=ctx.services.pipeline.name,
                                        user_name=lambda uid: users.get(uid, uid))
        who = users.get(e.actor_id, e.actor_id)
        what = audit_text.action_name(e.action)
        subject = audit_text.subject_name(e.subject_type, e.subject_id)
        lines.append(f"{fmt_time(e.at, ctx.tz)} {who} {what}（{subject}）{change}")
    ctx.reply("\n".join(lines))

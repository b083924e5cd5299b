"""Processing one inbound event: resolve the sender, route, run the handler in one transaction."""

from __future__ import annotations

import logging
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from bot.actions import ActionId, BadActionId
from bot.context import Context
from bot.router import parse_command
from bot.services import Services
from bot.types import Attachment, CardAction, IncomingMessage
from core.errors import Ambiguous, DomainError
from core.model import User, UserStatus

log = logging.getLogger(__name__)

UNKNOWN_USER = "抱歉，您还不是 crmbot 的用户，暂时无法使用。请联系管理员为您开通账号。"
OFFBOARDED_USER = "您的账号已停用，无法继续使用 crmbot。如有疑问请联系人事或管理员。"
INTERNAL_ERROR = "抱歉，处理您的消息时出了点问题，已记录下来，请稍后再试。您之前的数据没有受到影响。"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def event_payload(event: IncomingMessage | CardAction) -> dict[str, Any]:
    names = _FIELD_NAMES.get(type(event))
    if names is None:
        names = _FIELD_NAMES[type(event)] = tuple(f.name for f in fields(event))
    data = {name: getattr(event, name) for name in names}
    # asdict copies recursively (slow, every event): needed only when a field holds something to copy
    if any(isinstance(v, (tuple, list, dict)) and v for v in data.values()):
        data = asdict(event)
    for key, value in list(data.items()):
        if hasattr(value, "isoformat"):
            data[key] = value.isoformat()
    return data


def event_from_payload(kind: str, payload: dict[str, Any]) -> IncomingMessage | CardAction:
    """The event an inbox row was written from (`event_payload` undone)."""
    data = dict(payload)
    if data.get("received_at"):
        data["received_at"] = datetime.fromisoformat(data["received_at"])
    if kind == "action":
        data["values"] = dict(data.get("values") or {})
        return CardAction(**data)
    data["attachments"] = tuple(Attachment(**a) for a in data.get("attachments") or ())
    return IncomingMessage(**data)


def record_inbound(services: Services, event: IncomingMessage | CardAction) -> int | None:
    """Write the event to the inbox; None for a redelivery (already seen)."""
    return record_inbound_many(services, [event])[0]


def record_inbound_many(services: Services, events: list[IncomingMessage | CardAction]) -> list[int | None]:
    """Write events to the inbox in one transaction; None for each redelivery (already seen)."""
    now = services.clock.now()
    ids = []
    with services.uow_factory() as uow:
        for event in events:
            kind = "action" if isinstance(event, CardAction) else "message"
            message_id = event.event_id if isinstance(event, CardAction) else event.message_id
            ids.append(uow.inbox.record(channel=event.channel, message_id=message_id,
                                        sender=event.sender_platform_id, kind=kind, payload=event_payload(event),
                                        now=now))
        uow.commit()
    return ids


def handle_event(services: Services, event: IncomingMessage | CardAction, inbox_id: int | None = None) -> None:
    """Run the event's handler. Sync: call it from a worker thread, never on the event loop."""
    now = services.clock.now()
    try:
        with services.uow_factory() as uow:
            user = uow.users.by_platform_id(event.channel, event.sender_platform_id)
            refusal = _refusal(user)
            if refusal is not None or user is None:
                _bare_reply(uow, event, refusal or UNKNOWN_USER, now)
                _finish(uow, inbox_id, "refused", now)
                uow.commit()
                return
            ctx = Context(services, uow, user, event, now)
            try:
                _route(ctx)
            except DomainError as err:
                uow.rollback()
                ctx = Context(services, uow, user, event, now)
                ctx.reply(_error_text(err))
            _finish(uow, inbox_id, "done", now)
            new_names = _new_names(uow)
            uow.commit()
            if new_names[0] or new_names[1]:
                services.learn_names(*new_names)
    except Exception:
        log.exception("handler failed for %s", event)
        with services.uow_factory() as uow:
            _bare_reply(uow, event, INTERNAL_ERROR, now)
            _finish(uow, inbox_id, "failed", now, "handler error")
            uow.commit()


def _new_names(uow: Any) -> tuple[list[str], list[str]]:
    """Customers and contacts this transaction is about to create (for the parser's dictionary)."""
    from storage.models import ContactRow, CustomerRow

    return [o.name for o in uow.created(CustomerRow)], [o.name for o in uow.created(ContactRow)]


def _refusal(user: User | None) -> str | None:
    if user is None:
        return UNKNOWN_USER
    if user.status == UserStatus.OFFBOARDED:
        return OFFBOARDED_USER
    return None


def _error_text(err: DomainError) -> str:
    if isinstance(err, Ambiguous) and err.choices:
        lines = [err.message] + [f"  {i}. {label}" for i, (_, label) in enumerate(err.choices, 1)]
        if err.hint:
            lines.append(err.hint)
        return "\n".join(lines)
    return err.user_text()


def _finish(uow: Any, inbox_id: int | None, status: str, now: Any, error: str | None = None) -> None:
    if inbox_id is not None:
        uow.inbox.mark(inbox_id, status, now, error)


def _bare_reply(uow: Any, event: IncomingMessage | CardAction, text: str, now: Any) -> None:
    uow.outbox.add(channel=event.channel, user_id=f"?{event.sender_platform_id}", recipient=event.sender_platform_id,
                   kind="text", body={"text": text}, now=now)


def _route(ctx: Context) -> None:
    if isinstance(ctx.event, CardAction):
        _route_action(ctx, ctx.event)
    else:
        _route_message(ctx, ctx.event)


def _route_action(ctx: Context, event: CardAction) -> None:
    try:
        action = ActionId.parse(event.action_id)
    except BadActionId:
        ctx.reply("这个按钮无效或已过期，请重新打开最新的卡片操作。")
        return
    card = None
    if event.card_ref:
        card = ctx.uow.cards.get(event.card_ref) or ctx.uow.cards.by_ref(event.card_ref)
        if card is None:
            ctx.reply("这张卡片已失效，请以最新的卡片为准。")
            return
        buttons = {b["action_id"] for b in card.body.get("buttons", [])}
        if event.action_id not in buttons:
            ctx.reply("这个按钮不属于这张卡片，操作未执行。")
            return
        if card.handled_at is not None:
            handler_name = _user_name(ctx, card.handled_by)
            when = card.handled_at.astimezone(ctx.tz).strftime("%m-%d %H:%M")
            ctx.reply(f"这张卡片已处理（{handler_name} {when}）。")
            return
        ctx.card_id = card.id
    handler = ctx.services.router.find_action(action.key)
    if handler is None:
        ctx.reply("这个按钮无效或已过期，请重新打开最新的卡片操作。")
        return
    try:
        handler(ctx, action)
    except BadActionId:
        ctx.uow.rollback()
        ctx.reply("这个按钮的参数不正确，操作未执行。")


def _user_name(ctx: Context, user_id: str | None) -> str:
    if not user_id:
        return "他人"
    user = ctx.uow.users.get(user_id)
    return user.name if user else user_id


def _route_message(ctx: Context, event: IncomingMessage) -> None:
    text = event.text.strip()
    limit = ctx.services.settings.max_message_chars
    if len(text) > limit:
        ctx.reply(f"消息太长了（{len(text)} 字，最多 {limit} 字），请分几条发送。")
        return
    if event.kind == "voice" and not text:
        ctx.reply("暂时无法识别语音内容：请在企业微信/钉钉管理后台开启「语音转文字」，或直接发送文字。")
        return
    if event.attachments and not text:
        handler = ctx.services.router.find_dialog("attachment", "received")
        if handler is not None:
            from storage.messaging import Dialog

            handler(ctx, Dialog(ctx.user.id, "attachment", "received", {}, ctx.channel, ctx.now), "")
        else:
            ctx.reply("已收到文件。要作为商机证据，请在 /推进 时附上。")
        return
    if not text:
        ctx.reply("我没有看到文字内容。发送 /帮助 查看我能做什么。")
        return

    command = parse_command(text)
    dialog = ctx.uow.dialogs.get(ctx.user.id)
    if dialog is not None and dialog.expires_at <= ctx.now:
        ctx.uow.dialogs.clear(ctx.user.id)
        minutes = ctx.services.settings.dialog_timeout_minutes
        ctx.reply(f"上一个问题已超过 {minutes} 分钟没有回复，已自动取消。")
        ctx.uow.commit()  # the notice stands even if handling the new message fails
        dialog = None
    if dialog is not None and command is None:
        if text in ("取消", "算了", "不用了"):
            ctx.uow.dialogs.clear(ctx.user.id)
            ctx.reply("好的，已取消。")
            return
        step = ctx.services.router.find_dialog(dialog.kind, dialog.step)
        if step is not None:
            step(ctx, dialog, text)
            return
        ctx.uow.dialogs.clear(ctx.user.id)

    if command is not None:
        name, args = command
        cmd = ctx.services.router.find_command(name)
        if cmd is None:
            ctx.reply(_unknown_command(ctx, name))
            return
        if dialog is not None:
            ctx.uow.dialogs.clear(ctx.user.id)
        cmd.handler(ctx, args)
        return

    handler = ctx.services.router.find_text()
    if handler is None:
        ctx.reply("我暂时只认识命令。发送 /帮助 查看可用命令。")
        return
    handler(ctx, text)


def _unknown_command(ctx: Context, name: str) -> str:
    from rapidfuzz import process

    names = [c.name for c in ctx.services.router.all_commands()]
    best = process.extractOne(name, names)
    hint = f"您是不是想用 /{best[0]}？" if best and best[1] >= 50 else ""
    return f"没有 /{name} 这个命令。{hint}发送 /帮助 查看全部命令。"

"""Decrypted WeCom messages (as dicts from `crypto.parse_xml`) → neutral crmbot events.

Inbox keys: a message's `MsgId`; an event's `FromUserName:CreateTime` (the platform's documented
dedup key) plus the card's `TaskId` for clicks, so that one user pressing two different cards in the
same second is not mistaken for a redelivery.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bot.types import Attachment, CardAction, IncomingMessage

log = logging.getLogger("crmbot.wecom")

# WeCom's `Format` of voice messages and the files we name after the message id.
_IMAGE_TYPE = ("jpg", "image/jpeg")
_VOICE_TYPES = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}


def _text(msg: dict[str, Any], key: str) -> str:
    value = msg.get(key)
    return value if isinstance(value, str) else ""


def _received_at(msg: dict[str, Any]) -> datetime | None:
    raw = _text(msg, "CreateTime")
    if not raw.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _selected_values(msg: dict[str, Any]) -> dict[str, str]:
    """Vote / multiple-choice cards: `SelectedItems` → {QuestionKey: "opt1,opt2"}."""
    container = msg.get("SelectedItems")
    if not isinstance(container, dict):
        return {}
    items = container.get("SelectedItem")
    if isinstance(items, dict):  # one item parses as a dict, several as a list
        items = [items]
    if not isinstance(items, list):
        return {}
    values: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        key = _text(item, "QuestionKey")
        options = item.get("OptionIds")
        ids = options.get("OptionId") if isinstance(options, dict) else None
        if isinstance(ids, str):
            ids = [ids]
        if key and isinstance(ids, list):
            values[key] = ",".join(i for i in ids if isinstance(i, str))
    return values


def to_event(msg: dict[str, Any]) -> IncomingMessage | CardAction | None:
    """Translate one decrypted message; None means "acknowledge and ignore" (e.g. enter_agent)."""
    sender = _text(msg, "FromUserName")
    msg_type = _text(msg, "MsgType")
    create_time = _text(msg, "CreateTime")
    if not sender or not msg_type:
        raise ValueError("message without FromUserName or MsgType")
    received_at = _received_at(msg)

    if msg_type == "event":
        event = _text(msg, "Event")
        if event != "template_card_event":
            log.debug("wecom event %s ignored", event[:40])
            return None
        task_id = _text(msg, "TaskId")
        key = _text(msg, "EventKey")
        if not key:
            raise ValueError("template_card_event without EventKey")
        return CardAction(
            channel="wecom",
            event_id=f"{sender}:{create_time}:{task_id}",
            sender_platform_id=sender,
            action_id=key,
            card_ref=task_id or None,
            response_code=_text(msg, "ResponseCode") or None,
            received_at=received_at,
            values=_selected_values(msg),
        )

    message_id = _text(msg, "MsgId") or f"{sender}:{create_time}"
    common: dict[str, Any] = {
        "channel": "wecom",
        "message_id": message_id,
        "sender_platform_id": sender,
        "received_at": received_at,
    }
    if msg_type == "text":
        return IncomingMessage(text=_text(msg, "Content"), kind="text", **common)
    if msg_type == "voice":
        recognition = _text(msg, "Recognition")
        if recognition:
            return IncomingMessage(text=recognition, kind="text", from_voice=True, **common)
        fmt = _text(msg, "Format").lower() or "amr"
        voice = Attachment(
            filename=f"{message_id}.{fmt}",
            path="",
            content_type=_VOICE_TYPES.get(fmt, "application/octet-stream"),
            media_ref=_text(msg, "MediaId") or None,
        )
        # No transcription: the router explains that WeCom's speech-to-text must be turned on.
        return IncomingMessage(text="", kind="voice", attachments=(voice,), **common)
    if msg_type == "image":
        ext, content_type = _IMAGE_TYPE
        image = Attachment(
            filename=f"{message_id}.{ext}",
            path="",
            content_type=content_type,
            media_ref=_text(msg, "MediaId") or None,
        )
        return IncomingMessage(text="", kind="image", attachments=(image,), **common)
    if msg_type == "file":
        name = _text(msg, "FileName") or _text(msg, "Title") or f"{message_id}.bin"
        document = Attachment(filename=name, path="", media_ref=_text(msg, "MediaId") or None)
        return IncomingMessage(text="", kind="file", attachments=(document,), **common)
    # video, location, link, …: the router answers politely that it cannot read these yet.
    return IncomingMessage(text="", kind="unknown", **common)

"""Neutral `Card` → WeCom `template_card` JSON, task ids, and text splitting under the byte limit."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bot.types import Card

TEXT_LIMIT_BYTES = 2048  # text and markdown content; WeCom silently truncates longer content
TASK_ID_MAX_BYTES = 128
BUTTON_KEY_MAX_BYTES = 1024
MAX_BUTTONS = 6
MAX_HORIZONTAL_ITEMS = 6

_TASK_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_\-@]")
# WeCom button styles are numbers 1–4; 1 is the highlighted one.
_BUTTON_STYLE = {"primary": 1, "default": 2, "danger": 3}


def _card_digest(card: Card) -> str:
    canonical = json.dumps(
        [
            card.title,
            card.description,
            card.footer,
            card.fields,
            [(b.label, b.action_id, b.style) for b in card.buttons],
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def make_task_id(card_id: str, card: Card, variant: str = "") -> str:
    """A task_id unique within the app and stable across retries of the same outbox row.

    The readable part is the sanitized card id; the digest of (card id, variant, content) keeps it
    unique when ids repeat (a re-created database) or the same card is re-sent as an update.
    """
    readable = _TASK_ID_UNSAFE.sub("_", card_id)[:80] or "card"
    digest = hashlib.sha256(f"{card_id}\x00{variant}\x00{_card_digest(card)}".encode()).hexdigest()[:20]
    task_id = f"{readable}-{variant}{digest}" if variant else f"{readable}-{digest}"
    assert len(task_id.encode("ascii")) <= TASK_ID_MAX_BYTES
    return task_id


def render_button_card(card: Card, task_id: str) -> dict[str, Any]:
    """A `button_interaction` template card: fields → horizontal_content_list, description → desc."""
    if not card.buttons:
        raise ValueError("a button_interaction card needs at least one button")
    if len(card.buttons) > MAX_BUTTONS:
        raise ValueError("WeCom cards carry at most 6 buttons")
    buttons = []
    for button in card.buttons:
        if len(button.action_id.encode("utf-8")) > BUTTON_KEY_MAX_BYTES:
            raise ValueError(f"button key longer than {BUTTON_KEY_MAX_BYTES} bytes")
        buttons.append({"text": button.label, "style": _BUTTON_STYLE[button.style], "key": button.action_id})
    main_title: dict[str, str] = {"title": card.title}
    if card.description:
        main_title["desc"] = card.description
    template: dict[str, Any] = {"card_type": "button_interaction", "main_title": main_title}
    shown = card.fields[:MAX_HORIZONTAL_ITEMS]
    if shown:
        template["horizontal_content_list"] = [{"keyname": k, "value": v} for k, v in shown]
    # Fields beyond WeCom's six rows and the footer go to the secondary text, not lost.
    extra = [f"{k}：{v}" for k, v in card.fields[MAX_HORIZONTAL_ITEMS:]]
    if card.footer:
        extra.append(card.footer)
    if extra:
        template["sub_title_text"] = "\n".join(extra)
    template["task_id"] = task_id
    template["button_list"] = buttons
    return template


def render_card_as_text(card: Card) -> str:
    """Cards without buttons are plain notifications: sent as text, readable in WeChat too."""
    lines = [card.title]
    if card.description:
        lines.append(card.description)
    lines.extend(f"{k}：{v}" for k, v in card.fields)
    if card.footer:
        lines.append(card.footer)
    return "\n".join(lines)


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split into pieces of at most `limit` UTF-8 bytes, on character boundaries.

    A piece ends at the last newline of its window when that keeps it at least half full, so that
    lists break between lines rather than in the middle of one.
    """
    if limit < 4:
        raise ValueError("limit must hold at least one character")
    if len(text.encode("utf-8")) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    start = 0
    n = len(text)
    while start < n:
        size = 0
        end = start
        last_newline = -1
        while end < n:
            char_bytes = len(text[end].encode("utf-8"))
            if size + char_bytes > limit:
                break
            size += char_bytes
            if text[end] == "\n":
                last_newline = end
            end += 1
        if end < n and last_newline >= start and last_newline - start >= (end - start) // 2:
            end = last_newline + 1
        piece = text[start:end].rstrip("\n")
        if piece:
            pieces.append(piece)
        start = end
    return pieces

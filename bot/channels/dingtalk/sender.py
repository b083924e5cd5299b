"""The DingTalk `ChannelSender`: what the outbox drainer calls to deliver texts and cards.

Cards are rendered into one interactive-card template (`card_template_id`) whose variables are
listed in `render_card`; without a template a card goes out as a markdown message (no buttons).
The drainer owns retries: we raise `SendError(retryable=...)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence

from bot.channels.dingtalk.client import BatchSendError, DingTalkAPIError, DingTalkClient
from bot.types import Card, ChannelName, SendError, SendResult

log = logging.getLogger(__name__)

MAX_BUTTONS = 6
MAX_VALUE_BYTES = 1024  # cardParamMap: a value of at most 1 KB
_TRACK_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class PartialSendError(SendError):
    """Some recipients of a multi-user send got the message; retry only `pending`."""

    def __init__(self, message: str, *, retryable: bool, delivered: list[str], pending: list[str]) -> None:
        super().__init__(message, retryable=retryable)
        self.delivered = delivered
        self.pending = pending


def _fit(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


def _fit_json(items: list[dict[str, str]]) -> str:
    """A JSON list within the value limit: drop trailing items rather than cut the JSON."""
    while True:
        encoded = json.dumps(items, ensure_ascii=False)
        if len(encoded.encode()) <= MAX_VALUE_BYTES or not items:
            return encoded
        items = items[:-1]


def render_card(card: Card) -> dict[str, str]:
    """The neutral card as a `cardParamMap`: every value a string (DingTalk's rule).

    Template variables: `title`, `description`, `footer`, `markdown` (description and fields as
    one markdown block, for simple templates), `fields` (JSON list of {label, value}), `buttons`
    (JSON list of {text, action_id, style}), `button_count`, and fixed slots `btn_<n>_text`,
    `btn_<n>_action`, `btn_<n>_style`, `btn_<n>_visible` ("true"/"false") for n = 1..6. A template
    button sends its slot's action id back as callback param `action_id` (`${btn_<n>_action}`).
    """
    lines = [card.description] if card.description else []
    lines += [f"**{label}**：{value}" for label, value in card.fields]
    if card.footer:
        lines.append(card.footer)
    params: dict[str, str] = {
        "title": _fit(card.title),
        "description": _fit(card.description),
        "footer": _fit(card.footer),
        "markdown": _fit("\n\n".join(lines)),
        "fields": _fit_json([{"label": k, "value": v} for k, v in card.fields]),
        "buttons": _fit_json(
            [{"text": b.label, "action_id": b.action_id, "style": b.style} for b in card.buttons]
        ),
        "button_count": str(len(card.buttons)),
    }
    for n in range(1, MAX_BUTTONS + 1):
        button = card.buttons[n - 1] if n <= len(card.buttons) else None
        params[f"btn_{n}_text"] = _fit(button.label) if button else ""
        params[f"btn_{n}_action"] = _fit(button.action_id) if button else ""
        params[f"btn_{n}_style"] = button.style if button else "default"
        params[f"btn_{n}_visible"] = "true" if button else "false"
    return params


def render_markdown(card: Card) -> dict[str, str]:
    """`sampleMarkdown` params for a card sent without an interactive-card template."""
    lines = [f"#### {card.title}"]
    if card.description:
        lines.append(card.description)
    lines += [f"- **{label}**：{value}" for label, value in card.fields]
    if card.footer:
        lines.append(card.footer)
    return {"title": card.title[:64], "text": "\n\n".join(lines)}


def out_track_id(card_id: str) -> str:
    """A stable outTrackId for the outbox's card id, so a retried send targets the same card."""
    if _TRACK_ID_RE.match(card_id):
        return card_id
    return "crm-" + hashlib.sha256(card_id.encode()).hexdigest()[:40]


def _send_error(exc: DingTalkAPIError) -> SendError:
    return SendError(str(exc), retryable=exc.retryable)


class DingTalkSender:
    """`ChannelSender` for DingTalk; `to` is a staffId."""

    name: ChannelName = "dingtalk"

    def __init__(self, client: DingTalkClient) -> None:
        self.client = client

    async def send_text(self, to: str, text: str) -> SendResult:
        try:
            report = await self.client.batch_send([to], "sampleText", {"content": text})
        except DingTalkAPIError as exc:
            raise _send_error(exc) from exc
        if to in report.flow_controlled_user_ids:
            raise SendError(f"DingTalk throttled messages to {to}", retryable=True)
        if to in report.invalid_user_ids:
            raise SendError(f"DingTalk does not know staffId {to}", retryable=False)
        return SendResult(ref=report.process_query_keys[0] if report.process_query_keys else None)

    async def send_text_many(self, to: Sequence[str], text: str) -> SendResult:
        """One text to many staff (batched 20 per call); raises `PartialSendError` mid-way."""
        try:
            report = await self.client.batch_send(to, "sampleText", {"content": text})
        except BatchSendError as exc:
            raise PartialSendError(
                str(exc), retryable=exc.retryable, delivered=exc.delivered, pending=exc.pending
            ) from exc
        except DingTalkAPIError as exc:
            raise _send_error(exc) from exc
        if report.flow_controlled_user_ids:
            pending = report.flow_controlled_user_ids
            delivered = [u for u in to if u not in pending and u not in report.invalid_user_ids]
            raise PartialSendError(
                "DingTalk throttled some recipients", retryable=True, delivered=delivered, pending=pending
            )
        return SendResult(ref=",".join(report.process_query_keys) or None)

    async def _send_markdown(self, to: str, card: Card) -> SendResult:
        if card.buttons:
            log.warning(
                "dingtalk card_template_id is not set: card %r goes out without its buttons", card.title
            )
        try:
            report = await self.client.batch_send([to], "sampleMarkdown", render_markdown(card))
        except DingTalkAPIError as exc:
            raise _send_error(exc) from exc
        if to in report.flow_controlled_user_ids:
            raise SendError(f"DingTalk throttled messages to {to}", retryable=True)
        if to in report.invalid_user_ids:
            raise SendError(f"DingTalk does not know staffId {to}", retryable=False)
        return SendResult(ref=None)  # a markdown message cannot be updated later

    async def send_card(self, to: str, card: Card, *, card_id: str) -> SendResult:
        if not self.client.settings.card_template_id:
            return await self._send_markdown(to, card)
        track_id = out_track_id(card_id)
        try:
            await self.client.create_and_deliver_card(
                user_id=to, out_track_id=track_id, param_map=render_card(card)
            )
        except DingTalkAPIError as exc:
            raise _send_error(exc) from exc
        return SendResult(ref=track_id)

    async def update_card(self, to: str, card: Card, *, card_id: str, ref: SendResult) -> SendResult:
        if not ref.ref and not self.client.settings.card_template_id:
            return await self._send_markdown(to, card)  # the original was markdown: send the new state
        track_id = ref.ref or out_track_id(card_id)
        try:
            await self.client.update_card(out_track_id=track_id, param_map=render_card(card))
        except DingTalkAPIError as exc:
            raise _send_error(exc) from exc
        return SendResult(ref=track_id)

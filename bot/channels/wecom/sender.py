"""The WeCom `ChannelSender` the outbox drainer calls (`to` is a WeCom userid).

Idempotence under the drainer's retries:
- text: WeCom's duplicate check (`enable_duplicate_check`) drops an identical text to the same user
  inside `duplicate_check_seconds`, so a resend after an ambiguous timeout is not shown twice;
- cards: the task_id is derived from the outbox's card id, so a resend of a card that did arrive is
  answered 42014 ("taskid has existed") and treated as delivered;
- card updates: a response_code is single-use, so when a resend of an update whose first attempt was
  ambiguous is refused, the update is treated as done instead of falling back to a second card.
"Ambiguous" attempts are remembered in memory (bounded); after a restart the worst case is one
duplicate card, never a lost one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from bot.channels.wecom.cards import make_task_id, render_button_card, render_card_as_text
from bot.channels.wecom.client import ERRCODE_TASK_ID_EXISTS, WeComAPIError, WeComClient
from bot.channels.wecom.settings import WeComSettings
from bot.types import Attachment, Card, ChannelName, SendError, SendResult

log = logging.getLogger("crmbot.wecom")

_UNSAFE_FILENAME = re.compile(r"[^\w.\-]+")


class _Recent:
    """A bounded set of keys, oldest forgotten first."""

    def __init__(self, size: int = 10_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys


class WeComSender:
    name: ChannelName = "wecom"

    def __init__(self, client: WeComClient, settings: WeComSettings) -> None:
        self.client = client
        self._settings = settings
        self._ambiguous_tasks = _Recent()
        self._ambiguous_codes = _Recent()

    async def close(self) -> None:
        await self.client.close()

    async def send_text(self, to: str, text: str) -> SendResult:
        msgids = await self.client.send_text(to, text)
        return SendResult(ref=msgids[-1] if msgids else None)

    async def send_markdown(self, to: str, text: str) -> SendResult:
        """Markdown shows in the WeCom client only (not in WeChat's 微工作台): use for staff reports."""
        msgids = await self.client.send_text(to, text, markdown=True)
        return SendResult(ref=msgids[-1] if msgids else None)

    async def _send_card(self, to: str, card: Card, task_id: str) -> SendResult:
        try:
            template = render_button_card(card, task_id)
        except ValueError as exc:
            raise SendError(f"card cannot be rendered for WeCom: {exc}", retryable=False) from exc
        try:
            payload = await self.client.send_template_card(to, template)
        except WeComAPIError as exc:
            if exc.retryable:
                self._ambiguous_tasks.add(task_id)
                raise
            if exc.errcode == ERRCODE_TASK_ID_EXISTS and task_id in self._ambiguous_tasks:
                # Our earlier, timed-out attempt did arrive. Its response_code is lost, but a click
                # brings a fresh one, so the card can still be updated.
                log.info("wecom: card %s was already delivered by an earlier attempt", task_id)
                return SendResult(ref=task_id)
            raise
        return SendResult(ref=task_id, response_code=str(payload.get("response_code") or "") or None)

    async def send_card(self, to: str, card: Card, *, card_id: str) -> SendResult:
        if not card.buttons:
            return await self.send_text(to, render_card_as_text(card))
        task_id = make_task_id(card_id, card)
        try:
            return await self._send_card(to, card, task_id)
        except WeComAPIError as exc:
            if exc.errcode != ERRCODE_TASK_ID_EXISTS:
                raise
            # The id is taken by a card we did not send in this process (e.g. a re-created database
            # reusing outbox ids): send under a fresh id rather than lose the card.
            return await self._send_card(to, card, make_task_id(card_id, card, variant="r"))

    async def update_card(self, to: str, card: Card, *, card_id: str, ref: SendResult) -> SendResult:
        """Update a clicked card in place; fall back to a new card when the code is spent or expired."""
        code = ref.response_code
        if code:
            template = (
                render_button_card(card, ref.ref or make_task_id(card_id, card)) if card.buttons else None
            )
            if template is not None:
                template.pop("task_id", None)  # the response_code names the card being replaced
            replace_name = None if template is not None else (card.footer or card.title)[:20]
            try:
                await self.client.update_template_card(
                    to, code, template_card=template, replace_name=replace_name
                )
                return SendResult(ref=ref.ref)
            except WeComAPIError as exc:
                if exc.retryable:
                    self._ambiguous_codes.add(code)
                    raise
                if code in self._ambiguous_codes:
                    log.info("wecom: card update was applied by an earlier, timed-out attempt")
                    return SendResult(ref=ref.ref)
                log.info("wecom: response_code refused (%s); sending the update as a new card", exc)
        if not card.buttons:
            return await self.send_text(to, render_card_as_text(card))
        return await self.send_card(to, card, card_id=f"{card_id}-u")

    async def fetch_attachment(self, attachment: Attachment) -> Attachment:
        """Download an attachment's media into attachments_dir (in the work task, not the request path).

        Idempotent: an attachment already on disk is returned as is. WeCom keeps media 3 days.
        """
        if attachment.path and await asyncio.to_thread(Path(attachment.path).exists):
            return attachment
        if not attachment.media_ref:
            raise SendError("attachment has neither a path nor a media id", retryable=False)
        media = await self.client.get_media(attachment.media_ref)
        name = _UNSAFE_FILENAME.sub("_", Path(media.filename or attachment.filename).name) or "media.bin"
        prefix = hashlib.sha256(attachment.media_ref.encode()).hexdigest()[:12]
        target = Path(self._settings.attachments_dir) / f"{prefix}-{name}"
        await asyncio.to_thread(_write_atomically, target, media.content)
        return replace(
            attachment,
            path=str(target),
            size=len(media.content),
            content_type=media.content_type or attachment.content_type,
        )


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(content)
    partial.replace(target)

"""DingTalk frame data → neutral events, and the duplicate gate in front of the dispatcher.

Everything here treats `data` as untrusted: a field of the wrong type or a missing key gives
`None` (acked and logged by the caller), never an exception that would leave a frame unacked.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import mimetypes
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dingtalk_stream.chatbot import ChatbotMessage

from bot.channels.dingtalk.client import DingTalkAPIError, DingTalkClient
from bot.channels.dingtalk.settings import DingTalkSettings
from bot.types import Attachment, CardAction, Dispatcher, IncomingMessage, MessageKind

log = logging.getLogger(__name__)

BOT_MESSAGE_TOPIC = ChatbotMessage.TOPIC  # /v1.0/im/bot/messages/get
CARD_CALLBACK_TOPIC = "/v1.0/card/instances/callback"

# Namespaced action ids as every channel uses them: `alert:snooze:42:3d`.
ACTION_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}(?::[A-Za-z0-9_.\-]{1,64}){1,6}$")
_SAFE_NAME_RE = re.compile(r"[^\w.\-]+")
Event = IncomingMessage | CardAction
_MAX_TEXT = 20_000  # DingTalk caps messages far below this; a longer "text" is not a real message


class Ignored(Exception):
    """The frame is valid DingTalk traffic that crmbot does not act on (logged at debug)."""


class Malformed(Exception):
    """The frame's data is not what DingTalk sends (logged as a warning)."""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _received_at(data: Mapping[str, Any]) -> datetime | None:
    created = data.get("createAt")
    if isinstance(created, int | float) and not isinstance(created, bool) and created > 0:
        try:
            return datetime.fromtimestamp(created / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _safe_filename(name: str, fallback: str) -> str:
    cleaned = _SAFE_NAME_RE.sub("_", Path(name).name).strip("._")[:120]
    return cleaned or fallback


def _mentions_bot(msg: ChatbotMessage) -> bool:
    if msg.is_in_at_list is True:
        return True
    # Older payloads lack isInAtList: the bot appears in atUsers under its chatbotUserId.
    bot_id = msg.chatbot_user_id
    return any(u.dingtalk_id and u.dingtalk_id == bot_id for u in msg.at_users or ())


class InboundTranslator:
    """Turns bot-message and card-callback data into `IncomingMessage` / `CardAction`."""

    def __init__(self, settings: DingTalkSettings, client: DingTalkClient | None) -> None:
        self.settings = settings
        self.client = client  # None: attachments are not downloaded (HTTP mode without API access)

    # -- bot messages -------------------------------------------------------------------------------

    async def bot_message(self, data: Any) -> IncomingMessage:
        """Raises `Ignored` or `Malformed` for frames that must be acked without an event."""
        if not isinstance(data, dict):
            raise Malformed("bot message data is not an object")
        message_id = _str(data.get("msgId"))
        sender = _str(data.get("senderStaffId"))
        msgtype = _str(data.get("msgtype"))
        if not message_id or not msgtype:
            raise Malformed("bot message without msgId or msgtype")
        try:
            # 0.24.3 indexes d['text'] / d['content'] directly and raises on odd payloads.
            msg = ChatbotMessage.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Malformed(f"bot message {message_id}: {exc!r}") from exc
        if not sender:
            # External contacts and users of other corps carry no staffId: nobody crmbot knows.
            raise Ignored(f"bot message {message_id} without senderStaffId")
        is_group = _str(data.get("conversationType")) == "2"
        mentioned = _mentions_bot(msg)
        if is_group and not mentioned:
            raise Ignored(f"group message {message_id} does not @ the bot")

        text, kind, from_voice, attachments = await self._content(msg, data, message_id)
        if len(text) > _MAX_TEXT:
            raise Malformed(f"bot message {message_id} text of {len(text)} chars")
        return IncomingMessage(
            channel="dingtalk",
            message_id=message_id,
            sender_platform_id=sender,
            text=text.strip(),
            kind=kind,
            received_at=_received_at(data),
            from_voice=from_voice,
            attachments=attachments,
            conversation_id=_str(data.get("conversationId")) or None,
            is_group=is_group,
            mentioned_bot=mentioned,
        )

    async def _content(
        self, msg: ChatbotMessage, data: Mapping[str, Any], message_id: str
    ) -> tuple[str, MessageKind, bool, tuple[Attachment, ...]]:
        msgtype = msg.message_type
        if msgtype == "text":
            content = msg.text.content if msg.text is not None else None
            if not isinstance(content, str):
                raise Malformed(f"text message {message_id} without text.content")
            return content, "text", False, ()
        if msgtype == "audio":
            # 0.24.3's ChatbotMessage does not parse audio: its content stays in extensions.
            content = msg.extensions.get("content")
            recognition = content.get("recognition") if isinstance(content, dict) else None
            if not isinstance(recognition, str):
                raise Malformed(f"audio message {message_id} without content.recognition")
            return recognition, "voice", True, ()
        if msgtype == "richText":
            items = msg.rich_text_content.rich_text_list if msg.rich_text_content else None
            if not isinstance(items, list):
                raise Malformed(f"richText message {message_id} without content.richText")
            parts = [i["text"] for i in items if isinstance(i, dict) and isinstance(i.get("text"), str)]
            codes = [
                _str(i.get("downloadCode")) for i in items if isinstance(i, dict) and i.get("downloadCode")
            ]
            files = [
                await self._download(message_id, code, f"image{n}.jpg") for n, code in enumerate(codes, 1)
            ]
            attachments = tuple(a for a in files if a is not None)
            return "".join(parts), ("image" if codes and not parts else "text"), False, attachments
        if msgtype in ("picture", "file", "video"):
            content = data.get("content")
            if not isinstance(content, dict):
                raise Malformed(f"{msgtype} message {message_id} without content")
            code = _str(content.get("downloadCode"))
            if not code:
                raise Malformed(f"{msgtype} message {message_id} without downloadCode")
            default_name = {"picture": "image.jpg", "video": "video.mp4"}.get(msgtype, "file")
            filename = _str(content.get("fileName")) or default_name
            attachment = await self._download(message_id, code, filename)
            kind: MessageKind = "image" if msgtype == "picture" else "file"
            # A failed download still reaches the router, which asks the user to send it again.
            return "", kind, False, (attachment,) if attachment else ()
        raise Ignored(f"message {message_id} of unsupported type {msgtype!r}")

    async def _download(self, message_id: str, download_code: str, filename: str) -> Attachment | None:
        if self.client is None:
            return None
        digest = hashlib.sha256(f"{message_id}\0{download_code}".encode()).hexdigest()[:24]
        name = _safe_filename(filename, "file")
        dest = Path(self.settings.attachments_dir) / digest / name
        try:
            size = await self.client.download_message_file(download_code, dest)
        except DingTalkAPIError as exc:
            log.warning("could not download attachment of DingTalk message %s: %s", message_id, exc)
            return None
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Attachment(filename=name, path=str(dest), content_type=content_type, size=size)

    # -- card callbacks ----------------------------------------------------------------------------------

    def card_action(self, data: Any, frame_message_id: str) -> CardAction:
        """Raises `Malformed` for callbacks without a sender or a well-formed namespaced action id."""
        if not isinstance(data, dict):
            raise Malformed("card callback data is not an object")
        user_id = _str(data.get("userId"))
        out_track_id = _str(data.get("outTrackId"))
        raw_content = data.get("content")
        try:
            content = json.loads(raw_content) if isinstance(raw_content, str) else raw_content
        except ValueError as exc:
            raise Malformed("card callback content is not JSON") from exc
        private = content.get("cardPrivateData") if isinstance(content, dict) else None
        if not user_id or not isinstance(private, dict):
            raise Malformed("card callback without userId or cardPrivateData")
        params = private.get("params") if isinstance(private.get("params"), dict) else {}
        action_ids = private.get("actionIds") if isinstance(private.get("actionIds"), list) else []
        # A template button sends its namespaced id in params.action_id; a template may also use it
        # as the button's own actionId.
        candidates = [params.get("action_id"), *action_ids]
        action_id = next((c for c in candidates if isinstance(c, str) and ACTION_ID_RE.match(c)), None)
        if action_id is None:
            raise Malformed(
                f"card callback on {out_track_id!r} without a valid action id: {candidates!r:.200}"
            )
        values = {
            str(k)[:64]: (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))[:1024]
            for k, v in params.items()
            if k != "action_id"
        }
        event_id = (
            frame_message_id
            or "cb-"
            + hashlib.sha256(
                json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()
            ).hexdigest()[:32]
        )
        return CardAction(
            channel="dingtalk",
            event_id=event_id,
            sender_platform_id=user_id,
            action_id=action_id,
            card_ref=out_track_id or None,
            received_at=datetime.now(UTC),
            values=values,
        )


class SenderOrder:
    """Frames run concurrently, but one sender's messages reach the inbox in arrival order.

    Frame tasks start in arrival order and take the sender's lock before their first suspension;
    asyncio locks are FIFO, so a slow attachment download cannot let a later message overtake.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, sender: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(sender, asyncio.Lock())
        self._users[sender] = self._users.get(sender, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[sender] -= 1
            if not self._users[sender]:  # nobody waits: forget the sender
                del self._users[sender], self._locks[sender]


class AcceptGate:
    """Hands events to the dispatcher once per process, before the inbox dedupes across replicas.

    A duplicate that arrives while the first copy is still being built or recorded waits for it,
    and a recent duplicate is answered from memory: a storm of redeliveries costs no database
    writes and no repeated attachment downloads. The inbox remains the source of truth.
    """

    def __init__(self, dispatcher: Dispatcher, *, remember: int = 10_000) -> None:
        self.dispatcher = dispatcher
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[bool]] = {}

    async def accept(self, key: str, build: Callable[[], Awaitable[Event]]) -> bool:
        """Build the event (which may download files) and accept it, once per `key`.

        Returns False for a duplicate. `Ignored`/`Malformed` from `build` and dispatcher errors
        propagate and are not remembered, so a redelivery gets another chance.
        """
        if key in self._seen:
            return False
        pending = self._inflight.get(key)
        if pending is not None:
            try:
                await asyncio.shield(pending)
            except Exception:
                return await self.accept(key, build)  # the first copy failed: this one is not a duplicate
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            accepted = await self.dispatcher.accept(await build())
        except BaseException as exc:
            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            fut.exception()  # retrieved here; waiters see it through their own await
            raise
        else:
            fut.set_result(accepted)
            self._seen[key] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return accepted
        finally:
            del self._inflight[key]

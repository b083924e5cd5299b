"""The DingTalk Stream connection: our own loop on top of the dingtalk-stream SDK.

We keep the SDK's handler registry, frame classes and ack format (`CallbackHandler.raw_process`,
`SystemHandler` echoing the ping's `opaque`), and replace the parts that misbehave in a server:
- `start()` in 0.24.3 catches `CancelledError`, sleeps 10 s and reconnects, so a shutdown never
  ends it; our loop lets cancellation through and `stop()` ends it for certain;
- `open_connection()` is a blocking `requests` call to a URL fixed at import time, without a
  timeout; ours is an aiohttp call to a configured URL, with a fresh ticket every reconnect;
- `get_host_ip()` "connects" a UDP socket to 8.8.8.8; `localIp` is optional, we send "";
- frames with malformed data or an unknown topic are acked (the SDK logs and never acks);
- reconnects back off exponentially with jitter instead of a fixed 3/10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import websockets
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, Credential, DingTalkStreamClient
from dingtalk_stream.frames import Headers, SystemMessage

from bot.channels.dingtalk.client import DingTalkAPIError, DingTalkClient
from bot.channels.dingtalk.inbound import (
    BOT_MESSAGE_TOPIC,
    CARD_CALLBACK_TOPIC,
    AcceptGate,
    Ignored,
    InboundTranslator,
    Malformed,
    SenderOrder,
)
from bot.channels.dingtalk.settings import DingTalkSettings
from bot.types import Dispatcher

log = logging.getLogger(__name__)

DISCONNECT_DRAIN_SECONDS = 5.0  # DingTalk closes the socket 10 s after a disconnect frame
STABLE_CONNECTION_SECONDS = 10.0  # a connection that lived this long resets the backoff


class BotMessageHandler(CallbackHandler):
    """`/v1.0/im/bot/messages/get`: record the message (deduped by msgId), then ack."""

    def __init__(self, translator: InboundTranslator, gate: AcceptGate) -> None:
        super().__init__()
        self.translator = translator
        self.gate = gate
        self.order = SenderOrder()

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        data = message.data
        key = data.get("msgId") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            log.warning(
                "DingTalk bot message without msgId acked and dropped (frame %s)", message.headers.message_id
            )
            return AckMessage.STATUS_OK, "ignored: malformed"
        sender = data.get("senderStaffId") if isinstance(data.get("senderStaffId"), str) else ""
        try:
            async with self.order.hold(sender):
                await self.gate.accept(key, lambda: self.translator.bot_message(data))
        except Ignored as exc:
            log.debug("DingTalk frame ignored: %s", exc)
            return AckMessage.STATUS_OK, "ignored"
        except Malformed as exc:
            log.warning("DingTalk frame acked and dropped: %s", exc)
            return AckMessage.STATUS_OK, "ignored: malformed"
        return AckMessage.STATUS_OK, "OK"


class CardCallbackHandler(CallbackHandler):
    """`/v1.0/card/instances/callback`: a button press becomes a `CardAction`."""

    def __init__(self, translator: InboundTranslator, gate: AcceptGate) -> None:
        super().__init__()
        self.translator = translator
        self.gate = gate

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        try:
            action = self.translator.card_action(message.data, message.headers.message_id or "")
        except Malformed as exc:
            log.warning("DingTalk card callback acked and dropped: %s", exc)
            return AckMessage.STATUS_OK, {}
        await self.gate.accept("card:" + action.event_id, _ready(action))
        # The card is updated for everyone through the outbox (PUT card instances), not here.
        return AckMessage.STATUS_OK, {}


def _ready(value: Any) -> Callable[[], Awaitable[Any]]:
    async def build() -> Any:
        return value

    return build


def _plain_ack(message_id: str, code: int, message: str) -> AckMessage:
    ack = AckMessage()
    ack.code = code
    ack.headers.message_id = message_id
    ack.headers.content_type = Headers.CONTENT_TYPE_APPLICATION_JSON
    ack.message = message
    ack.data = {"response": None}
    return ack


class DingTalkStream(DingTalkStreamClient):
    """A Stream client that reconnects with a new ticket each time and really stops."""

    def __init__(
        self,
        settings: DingTalkSettings,
        dispatcher: Dispatcher,
        *,
        client: DingTalkClient | None = None,
        translator: InboundTranslator | None = None,
    ) -> None:
        super().__init__(
            Credential(settings.client_id, settings.client_secret.get_secret_value()),
            logger=logging.getLogger("bot.channels.dingtalk.sdk"),
        )
        self.settings = settings
        self.api = client or DingTalkClient(settings)
        self._own_api = client is None
        translator = translator or InboundTranslator(settings, self.api)
        self.gate = AcceptGate(dispatcher)
        self.register_callback_handler(BOT_MESSAGE_TOPIC, BotMessageHandler(translator, self.gate))
        self.register_callback_handler(CARD_CALLBACK_TOPIC, CardCallbackHandler(translator, self.gate))
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._frame_tasks: set[asyncio.Task[None]] = set()
        self._aux_tasks: set[asyncio.Task[None]] = set()  # disconnect drains
        self._slots = asyncio.Semaphore(settings.max_concurrent_frames)
        self._ws: Any = None
        self._reconnect_now = False
        self.connected = asyncio.Event()  # set while a websocket is open; tests wait on it
        self.connections = 0  # websockets opened so far
        self.frames_handled = 0

    # -- the SDK entry points that must not run in crmbot ----------------------------------------------

    def get_host_ip(self) -> str:
        return ""  # optional field; the SDK's version "connects" a UDP socket to 8.8.8.8

    def open_connection(self) -> dict[str, str] | None:  # type: ignore[override]
        raise RuntimeError("blocking open_connection() is disabled; DingTalkStream uses DingTalkClient")

    def get_access_token(self) -> str | None:  # type: ignore[override]
        raise RuntimeError("use DingTalkClient.access_token(); the SDK's version blocks and ignores settings")

    async def start(self) -> None:
        """Run until `stop()` (or cancellation, which is not swallowed)."""
        await self.run()

    def start_forever(self) -> None:
        raise RuntimeError("run DingTalkStream inside the app's event loop: start_background() / stop()")

    # -- lifecycle ------------------------------------------------------------------------------------

    def start_background(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name="dingtalk-stream")
        return self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, grace: float = 3.0) -> None:
        """End the client: let in-flight frames finish and ack (up to `grace` s), then close."""
        self._stopping.set()
        if self._frame_tasks:
            await asyncio.wait(set(self._frame_tasks), timeout=grace)
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=1.0)
        task = self._task
        if task is not None:
            if ws is not None:  # the read loop ends by itself once its socket is closed
                await asyncio.wait({task}, timeout=1.0)
            # Our loop lets cancellation through, but keep cancelling until it is really done so a
            # future SDK/websockets change that swallows one cancel cannot keep the process alive.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        for frame_task in [*self._frame_tasks, *self._aux_tasks]:
            frame_task.cancel()
        if self._frame_tasks:
            await asyncio.wait(set(self._frame_tasks), timeout=1.0)
        if self._own_api:
            await self.api.close()

    # -- connection loop --------------------------------------------------------------------------------

    def _subscriptions(self) -> list[dict[str, str]]:
        topics = [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]
        if self._is_event_required:
            topics.append({"type": "EVENT", "topic": "*"})
        return topics

    def _backoff(self, attempt: int) -> float:
        base = self.settings.reconnect_base_delay
        delay = min(self.settings.reconnect_max_delay, base * (2 ** min(attempt, 16)))
        return delay * random.uniform(0.5, 1.0)

    async def run(self) -> None:
        self.pre_start()
        attempt = 0
        while not self._stopping.is_set():
            opened_at: float | None = None
            try:
                # A ticket is good for one connection only: open a new one on every (re)connect.
                ticket = await self.api.open_stream_connection(self._subscriptions(), self.get_host_ip())
                uri = f"{ticket.endpoint}?ticket={quote_plus(ticket.ticket)}"
                async with websockets.connect(
                    uri,
                    proxy=None,  # never route the gateway through an environment proxy
                    compression=None,  # frames and acks are tiny: deflate cost ~100 µs per ack here
                    open_timeout=self.settings.request_timeout,
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=2,
                    max_size=4 * 1024 * 1024,
                ) as ws:
                    opened_at = time.monotonic()
                    self._ws = ws
                    self.connections += 1
                    self.connected.set()
                    log.info("DingTalk Stream connected (connection %d)", self.connections)
                    await self._read(ws)
            except DingTalkAPIError as exc:
                level = logging.WARNING if exc.retryable else logging.ERROR
                log.log(level, "DingTalk Stream: could not open a connection: %s", exc)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                log.warning("DingTalk Stream connection lost: %r", exc)
            finally:
                self._ws = None
                self.connected.clear()
            if self._stopping.is_set():
                break
            if opened_at is not None and time.monotonic() - opened_at >= STABLE_CONNECTION_SECONDS:
                attempt = 0
            if self._reconnect_now:
                self._reconnect_now = False
                delay = 0.0
            else:
                delay = self._backoff(attempt)
                attempt += 1
            log.info("DingTalk Stream reconnecting in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        log.info("DingTalk Stream stopped")

    async def _read(self, ws: Any) -> None:
        conn_tasks: set[asyncio.Task[None]] = set()
        async for raw in ws:
            if self._stopping.is_set():
                break
            await self._slots.acquire()  # backpressure: stop reading while too many frames are in flight
            task = asyncio.create_task(self._handle(ws, raw, conn_tasks))
            self._frame_tasks.add(task)
            conn_tasks.add(task)
            task.add_done_callback(self._frame_done)
            task.add_done_callback(conn_tasks.discard)

    def _frame_done(self, task: asyncio.Task[None]) -> None:
        self._frame_tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("DingTalk frame task failed", exc_info=task.exception())

    async def _drain_and_close(self, ws: Any, conn_tasks: set[asyncio.Task[None]]) -> None:
        others = {t for t in conn_tasks if t is not asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=DISCONNECT_DRAIN_SECONDS)
        await ws.close()

    # -- one frame ------------------------------------------------------------------------------------

    async def _handle(self, ws: Any, raw: str | bytes, conn_tasks: set[asyncio.Task[None]]) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("DingTalk sent a frame that is not JSON (%d bytes); nothing to ack", len(raw))
            return
        if not isinstance(frame, dict):
            log.warning("DingTalk sent a frame that is not an object; nothing to ack")
            return
        headers = frame.get("headers") if isinstance(frame.get("headers"), dict) else {}
        message_id = headers.get("messageId") if isinstance(headers.get("messageId"), str) else ""
        topic = headers.get("topic")
        kind = frame.get("type")
        ack: AckMessage
        try:
            if kind == SystemMessage.TYPE:
                try:
                    system = SystemMessage.from_dict(frame)
                except (ValueError, TypeError):
                    system = SystemMessage.from_dict({**frame, "data": ""})  # still ack, without the data
                ack = await self.system_handler.raw_process(system)
                if topic == SystemMessage.TOPIC_DISCONNECT:
                    log.info("DingTalk asked to reconnect (disconnect frame)")
                    self._reconnect_now = True
                    drain = asyncio.create_task(self._drain_and_close(ws, conn_tasks))
                    self._aux_tasks.add(drain)
                    drain.add_done_callback(self._aux_tasks.discard)
            elif kind == CallbackMessage.TYPE and topic in self.callback_handler_map:
                try:
                    message = CallbackMessage.from_dict(frame)
                except (ValueError, TypeError) as exc:
                    log.warning("DingTalk frame %s on %s has malformed data: %r", message_id, topic, exc)
                    ack = _plain_ack(message_id, AckMessage.STATUS_OK, "ignored: malformed data")
                else:
                    ack = await self.callback_handler_map[topic].raw_process(message)
            else:
                # Acked as OK so that DingTalk does not redeliver what we will never handle.
                log.warning(
                    "DingTalk frame %s of type %r on unknown topic %r acked and ignored",
                    message_id,
                    kind,
                    topic,
                )
                ack = _plain_ack(message_id, AckMessage.STATUS_OK, "ignored: unknown topic")
        except Exception:
            # The inbox is unavailable: a non-200 ack lets DingTalk redeliver what it can.
            log.exception("DingTalk frame %s on %r could not be recorded", message_id, topic)
            ack = _plain_ack(message_id, AckMessage.STATUS_SYSTEM_EXCEPTION, "error")
        self.frames_handled += 1
        if not message_id:
            log.warning("DingTalk frame without headers.messageId cannot be acked")
            return
        try:
            await ws.send(json.dumps(ack.to_dict(), ensure_ascii=False))
        except websockets.exceptions.ConnectionClosed:
            log.info("DingTalk frame %s handled but the connection closed before its ack", message_id)

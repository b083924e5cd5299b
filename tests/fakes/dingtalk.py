"""A fake DingTalk on 127.0.0.1: Stream gateway, OAuth token, robot and card APIs.

It runs in its own thread with its own event loop, because the code under test (and the
dingtalk-stream SDK, which blocks) runs on another loop. Everything is recorded for assertions
(`open_requests`, `connections`, `acks`, `sent_messages`, `cards`, `requests`), and faults can be
injected: HTTP errors and throttling per endpoint, expired tokens, dropped connections, disconnect
frames, duplicate frames, slow endpoints.

Tests: `with FakeDingTalk() as fake: settings = fake.settings(...)`.
Demo:  `python -m tests.fakes.dingtalk --port 8765`, then type lines to send them as a rep.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
THROTTLE_BODY = {
    "code": "Forbidden.AccessDenied.QpsLimitForApi",
    "message": "应用调用该接口的请求次数超过限流阈值",
    "requestid": "fake",
}
_ids = itertools.count(1)


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- payload builders (what DingTalk puts in a frame's `data`) ----------------------------------------


def bot_text(
    text: str,
    *,
    msg_id: str | None = None,
    staff_id: str = "staff-001",
    nick: str = "张三",
    group: bool = False,
    at_bot: bool = False,
    robot_code: str = "ding-fake-robot",
) -> dict[str, Any]:
    data = _bot_base(msg_id, staff_id, nick, group, at_bot, robot_code)
    data.update(msgtype="text", text={"content": text})
    return data


def bot_audio(
    recognition: str, *, duration: int = 3000, download_code: str = "audio-code", **kw: Any
) -> dict[str, Any]:
    data = _bot_base(
        kw.pop("msg_id", None),
        kw.pop("staff_id", "staff-001"),
        kw.pop("nick", "张三"),
        False,
        False,
        kw.pop("robot_code", "ding-fake-robot"),
    )
    data.update(
        msgtype="audio",
        content={"duration": duration, "downloadCode": download_code, "recognition": recognition},
    )
    return data


def bot_picture(download_code: str, **kw: Any) -> dict[str, Any]:
    data = _bot_base(
        kw.pop("msg_id", None),
        kw.pop("staff_id", "staff-001"),
        kw.pop("nick", "张三"),
        False,
        False,
        kw.pop("robot_code", "ding-fake-robot"),
    )
    data.update(
        msgtype="picture", content={"downloadCode": download_code, "pictureDownloadCode": download_code}
    )
    return data


def bot_file(download_code: str, file_name: str, **kw: Any) -> dict[str, Any]:
    data = _bot_base(
        kw.pop("msg_id", None),
        kw.pop("staff_id", "staff-001"),
        kw.pop("nick", "张三"),
        False,
        False,
        kw.pop("robot_code", "ding-fake-robot"),
    )
    data.update(
        msgtype="file",
        content={"downloadCode": download_code, "fileName": file_name, "spaceId": "1", "fileId": "2"},
    )
    return data


def _bot_base(
    msg_id: str | None, staff_id: str, nick: str, group: bool, at_bot: bool, robot_code: str
) -> dict[str, Any]:
    n = next(_ids)
    data: dict[str, Any] = {
        "conversationId": "cid-group-1" if group else f"cid-{staff_id}",
        "chatbotCorpId": "ding-corp",
        "chatbotUserId": "$:LWCP_v1:$bot",
        "msgId": msg_id or f"msg{n:08d}",
        "senderNick": nick,
        "isAdmin": False,
        "senderStaffId": staff_id,
        "sessionWebhookExpiredTime": _now_ms() + 5_400_000,
        "createAt": _now_ms(),
        "senderCorpId": "ding-corp",
        "conversationType": "2" if group else "1",
        "senderId": f"$:LWCP_v1:${staff_id}",
        "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=fake",
        "robotCode": robot_code,
    }
    if group:
        data["conversationTitle"] = "华东销售群"
        data["isInAtList"] = at_bot
        data["atUsers"] = [{"dingtalkId": "$:LWCP_v1:$bot"}] if at_bot else []
    return data


def card_callback(
    user_id: str, out_track_id: str, action_id: str | None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    private_params = dict(params or {})
    if action_id is not None:
        private_params["action_id"] = action_id
    content = {"cardPrivateData": {"actionIds": ["crmbot_button"], "params": private_params}}
    return {
        "outTrackId": out_track_id,
        "userId": user_id,
        "corpId": "ding-corp",
        "type": "actionCallback",
        "extension": "{}",
        "content": json.dumps(content, ensure_ascii=False),
        "value": json.dumps(content, ensure_ascii=False),
        "spaceType": "IM",
        "spaceId": f"dtv1.card//IM_ROBOT.{user_id}",
    }


# -- the fake ---------------------------------------------------------------------------------------


@dataclass
class Connection:
    index: int
    ticket: str
    opened_at: float
    ws: web.WebSocketResponse
    request: web.Request
    closed_at: float | None = None
    frames_sent: int = 0
    drop_after: int | None = None  # abort the socket after sending this many more frames


@dataclass
class Fault:
    status: int
    body: Any
    times: int
    delay: float = 0.0


@dataclass
class Ack:
    message_id: str
    code: Any
    message: Any
    data: Any
    connection: int
    latency: float | None  # seconds from sending the frame to receiving this ack
    expected: bool  # the acked messageId was a frame sent on this connection and not yet acked


@dataclass
class _Pending:
    frame: dict[str, Any]
    sent_at: float | None = None
    connection: int | None = None
    sends: int = 0


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeDingTalk:
    def __init__(
        self,
        client_id: str = "ding-fake-id",
        client_secret: str = "fake-secret",
        *,
        robot_code: str = "ding-fake-robot",
        token_ttl: int = 7200,
        ticket_ttl: float = 90.0,
        redeliver_unacked: bool = True,
        disconnect_close_after: float = 10.0,
        known_staff: Iterable[str] | None = None,
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.robot_code = robot_code
        self.token_ttl = token_ttl
        self.ticket_ttl = ticket_ttl
        self.redeliver_unacked = redeliver_unacked
        self.disconnect_close_after = disconnect_close_after
        self.known_staff = set(known_staff) if known_staff is not None else None
        self._port = port
        # recorded traffic
        self.requests: list[Recorded] = []
        self.open_requests: list[dict[str, Any]] = []
        self.tickets_used: list[str] = []
        self.rejected_connections = 0
        self.connections: list[Connection] = []
        self.acks: list[Ack] = []
        self.client_messages: list[Any] = []  # anything the client sent that is not an ack
        self.sent_messages: list[dict[str, Any]] = []  # batchSend bodies, msgParam decoded
        self.cards: dict[
            str, dict[str, Any]
        ] = {}  # outTrackId -> {"create": body, "params": {...}, "updates": [...]}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.token_fetches = 0
        self.pings: dict[str, str] = {}  # ping messageId -> opaque the ack must echo
        self.redelivered = 0  # frames sent again on a new socket because the old one never acked them
        # state
        self._tokens: dict[str, float] = {}
        self._tickets: dict[str, float] = {}
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self._backlog: deque[str] = deque()  # messageIds waiting for a connection, in order
        self._pending: dict[str, _Pending] = {}  # push key -> frame not yet acked
        self._sent_on: dict[tuple[int, str], deque[str]] = {}  # (connection, messageId) -> push keys sent
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._bg: set[asyncio.Future[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    def settings(self, **overrides: Any) -> Any:
        """`DingTalkSettings` pointing at this fake (imported lazily: the fake stands alone)."""
        from bot.channels.dingtalk.settings import DingTalkSettings

        values: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "robot_code": self.robot_code,
            "card_template_id": "tpl-crmbot.schema",
            "api_base_url": self.base_url,
            "request_timeout": 5.0,
            "reconnect_base_delay": 0.05,
            "reconnect_max_delay": 0.5,
        }
        values.update(overrides)
        return DingTalkSettings(**values)

    def start(self) -> FakeDingTalk:
        self._thread = threading.Thread(target=self._run_thread, name="fake-dingtalk", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake DingTalk did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeDingTalk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_thread(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        app = web.Application(middlewares=[self._faults_middleware])
        app.router.add_post("/v1.0/gateway/connections/open", self._open_connection)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/echo", self._echo)
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._batch_send)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self._create_and_deliver)
        app.router.add_put("/v1.0/card/instances", self._update_card)
        app.router.add_post("/v1.0/robot/messageFiles/download", self._file_url)
        app.router.add_get("/files/{code}", self._file)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        for conn in self.live_connections():
            with contextlib.suppress(Exception):
                await conn.ws.close()
        await runner.cleanup()

    def _call(self, fn: Callable[[], Any]) -> None:
        assert self._loop is not None, "fake not started"
        self._loop.call_soon_threadsafe(fn)

    # -- fault injection ----------------------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int = 500,
        body: Any = None,
        *,
        times: int = 1,
        method: str = "POST",
        delay: float = 0.0,
    ) -> None:
        """The next `times` calls to `path` answer `status` with `body` (default: a server error)."""
        if body is None:
            body = (
                {"code": "ServiceUnavailable", "message": "fake outage"}
                if status >= 500
                else {"code": "invalidParameter", "message": "fake request error"}
            )
        with self._lock:
            self._faults.setdefault((method, path), deque()).append(Fault(status, body, times, delay))

    def throttle(self, path: str, *, times: int = 1, status: int = 403, method: str = "POST") -> None:
        """DingTalk's rate limit: HTTP 403 with code Forbidden.AccessDenied.QpsLimitForApi (or 429)."""
        self.fail(path, status, THROTTLE_BODY, times=times, method=method)

    def slow(self, path: str, seconds: float, *, times: int = 1, method: str = "POST") -> None:
        """The next calls to `path` hang for `seconds` before answering normally."""
        with self._lock:
            self._faults.setdefault((method, path), deque()).append(Fault(0, None, times, seconds))

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def add_file(
        self, download_code: str, content: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        self.files[download_code] = (content, content_type)

    def drop_connection(self, after_frames: int = 0) -> None:
        """Abort the newest live socket (no close frame), now or after sending `after_frames` more frames."""

        def go() -> None:
            live = self.live_connections()
            if not live:
                return
            if after_frames:
                live[-1].drop_after = after_frames
            else:
                self._abort(live[-1])

        self._call(go)

    def send_disconnect(self) -> str:
        """A SYSTEM disconnect frame; the fake closes that socket `disconnect_close_after` s later."""
        return self.push_frame(self._frame("SYSTEM", "disconnect", {"reason": "fake maintenance"}))

    def ping(self) -> str:
        opaque = secrets.token_hex(8)
        message_id = self.push_frame(self._frame("SYSTEM", "ping", {"opaque": opaque}))
        self.pings[message_id] = opaque
        return message_id

    # -- pushing frames -----------------------------------------------------------------------------------

    def _frame(self, kind: str, topic: str, data: Any, message_id: str | None = None) -> dict[str, Any]:
        return {
            "specVersion": "1.0",
            "type": kind,
            "headers": {
                "appId": "fake-app",
                "connectionId": "fake-conn",
                "contentType": "application/json",
                "messageId": message_id or f"frame-{next(_ids)}-{secrets.token_hex(4)}",
                "time": str(_now_ms()),
                "topic": topic,
            },
            "data": data if isinstance(data, str) else json.dumps(data, ensure_ascii=False),
        }

    def push_bot_message(self, data: dict[str, Any] | str, *, message_id: str | None = None) -> str:
        return self.push_frame(self._frame("CALLBACK", BOT_TOPIC, data, message_id))

    def push_card_callback(self, data: dict[str, Any] | str, *, message_id: str | None = None) -> str:
        return self.push_frame(self._frame("CALLBACK", CARD_TOPIC, data, message_id))

    def push_callback(
        self, topic: str, data: Any, *, kind: str = "CALLBACK", message_id: str | None = None
    ) -> str:
        return self.push_frame(self._frame(kind, topic, data, message_id))

    def push_frame(self, frame: dict[str, Any] | str) -> str:
        """Queue a frame for the newest live connection (or the next one); returns its messageId."""
        if isinstance(frame, str):  # raw text, possibly not JSON at all
            message_id = f"raw-{next(_ids)}"
            payload: dict[str, Any] = {"__raw__": frame}
        else:
            message_id = str(frame.get("headers", {}).get("messageId") or f"anon-{next(_ids)}")
            payload = frame
        key = f"{message_id}#{next(_ids)}"  # the same messageId may be pushed many times

        def go() -> None:
            self._pending[key] = _Pending(frame=payload)
            self._backlog.append(key)
            assert self._wake is not None
            self._wake.set()

        self._call(go)
        return message_id

    def push_many(self, frames: list[dict[str, Any]]) -> None:
        keys = [(f"{f['headers']['messageId']}#{next(_ids)}", f) for f in frames]

        def go() -> None:
            for key, frame in keys:
                self._pending[key] = _Pending(frame=frame)
                self._backlog.append(key)
            assert self._wake is not None
            self._wake.set()

        self._call(go)

    def bot_frame(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._frame("CALLBACK", BOT_TOPIC, data)

    # -- observing -------------------------------------------------------------------------------------

    def live_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.closed_at is None and not c.ws.closed]

    @property
    def unacked(self) -> int:
        return len(self._pending)

    def acks_for(self, message_id: str) -> list[Ack]:
        return [a for a in self.acks if a.message_id == message_id]

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        """Poll from the caller's event loop (the fake's own loop lives in another thread)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake DingTalk: timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def wait_acks(self, n: int, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: len(self.acks) >= n, timeout, f"{n} acks (have {len(self.acks)})")

    async def wait_connections(self, n: int, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: len(self.connections) >= n, timeout, f"{n} connections")

    # -- HTTP -------------------------------------------------------------------------------------------

    @web.middleware
    async def _faults_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path not in ("/gateway", "/echo") and not request.path.startswith("/files/"):
            try:
                body = await request.json() if request.can_read_body else None
            except ValueError:
                body = None
            self.requests.append(Recorded(request.method, request.path, body, dict(request.headers)))
        with self._lock:
            queue = self._faults.get((request.method, request.path))
            fault = queue[0] if queue else None
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.popleft()  # type: ignore[union-attr]
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                return web.json_response(fault.body, status=fault.status)
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("x-acs-dingtalk-access-token", "")
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response(
            {"code": "InvalidAuthentication", "message": "不合法的access_token"}, status=401
        )

    @staticmethod
    def _bad(code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "requestid": "fake"}, status=400)

    async def _access_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            return self._bad("invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = "tok-" + secrets.token_hex(8)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        self.token_fetches += 1
        return web.json_response({"accessToken": token, "expireIn": self.token_ttl})

    async def _open_connection(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.open_requests.append(body)
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return web.json_response(
                {"code": "invalidClientIdOrSecret", "message": "clientId或clientSecret错误"}, status=401
            )
        if not isinstance(body.get("subscriptions"), list) or not body["subscriptions"]:
            return self._bad("invalidParameter", "subscriptions is required")
        ticket = secrets.token_urlsafe(24) + "+/="  # real tickets need URL-encoding too
        with self._lock:
            self._tickets[ticket] = time.monotonic() + self.ticket_ttl
        return web.json_response({"endpoint": f"ws://127.0.0.1:{self._port}/gateway", "ticket": ticket})

    async def _batch_send(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        users = body.get("userIds")
        if body.get("robotCode") != self.robot_code:
            return self._bad("invalidParameter.robotCode", "robotCode 不正确")
        if not isinstance(users, list) or not users or len(users) > 20:
            return self._bad("invalidParameter.userIds", "userIds 必须是 1 到 20 个")
        if body.get("msgKey") not in (
            "sampleText",
            "sampleMarkdown",
            "sampleActionCard",
            "sampleLink",
            "sampleImageMsg",
        ):
            return self._bad("invalidParameter.msgKey", "msgKey 不支持")
        try:
            param = json.loads(body.get("msgParam"))
        except (TypeError, ValueError):
            return self._bad("invalidParameter.msgParam", "msgParam 必须是 JSON 字符串")
        invalid = [u for u in users if self.known_staff is not None and u not in self.known_staff]
        self.sent_messages.append({"userIds": users, "msgKey": body["msgKey"], "msgParam": param})
        return web.json_response(
            {
                "processQueryKey": f"pqk-{next(_ids)}",
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": [],
            }
        )

    @staticmethod
    def _check_param_map(card_data: Any) -> str | None:
        params = card_data.get("cardParamMap") if isinstance(card_data, dict) else None
        if not isinstance(params, dict):
            return "cardData.cardParamMap is required"
        for key, value in params.items():
            if not isinstance(value, str):
                return f"cardParamMap.{key} must be a string"
            if len(key.encode()) > 100 or len(value.encode()) > 1024:
                return f"cardParamMap.{key} too long"
        return None

    async def _create_and_deliver(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        track = body.get("outTrackId")
        if not body.get("cardTemplateId") or not isinstance(track, str) or not track:
            return self._bad("invalidParameter", "cardTemplateId 和 outTrackId 必填")
        if problem := self._check_param_map(body.get("cardData")):
            return self._bad("invalidParameter.cardParamMap", problem)
        space = str(body.get("openSpaceId", ""))
        if not space.startswith(("dtv1.card//IM_ROBOT.", "dtv1.card//IM_GROUP.")):
            return self._bad("invalidParameter.openSpaceId", "openSpaceId 格式不正确")
        if (
            space.startswith("dtv1.card//IM_ROBOT.")
            and body.get("imRobotOpenDeliverModel", {}).get("spaceType") != "IM_ROBOT"
        ):
            return self._bad("invalidParameter.imRobotOpenDeliverModel", "缺少 imRobotOpenDeliverModel")
        self.cards[track] = {"create": body, "params": dict(body["cardData"]["cardParamMap"]), "updates": []}
        user = space.rsplit(".", 1)[-1]
        return web.json_response(
            {
                "success": True,
                "result": {
                    "outTrackId": track,
                    "deliverResults": [
                        {
                            "spaceType": "IM_ROBOT",
                            "spaceId": user,
                            "success": True,
                            "carrierId": f"carrier-{next(_ids)}",
                        }
                    ],
                },
            }
        )

    async def _update_card(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        card = self.cards.get(body.get("outTrackId"))
        if card is None:
            return self._bad("param.cardNotExist", "卡片不存在")
        if problem := self._check_param_map(body.get("cardData")):
            return self._bad("invalidParameter.cardParamMap", problem)
        params = body["cardData"]["cardParamMap"]
        by_key = (body.get("cardUpdateOptions") or {}).get("updateCardDataByKey", False)
        card["params"] = {**card["params"], **params} if by_key else dict(params)
        card["updates"].append(body)
        return web.json_response({"success": True, "result": True})

    async def _file_url(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        code = body.get("downloadCode")
        if body.get("robotCode") != self.robot_code or code not in self.files:
            return self._bad("resource.not.found", "下载码无效或已过期")
        return web.json_response({"downloadUrl": f"{self.base_url}/files/{code}?sig=fake"})

    async def _file(self, request: web.Request) -> web.Response:
        item = self.files.get(request.match_info["code"])
        if item is None:
            return web.Response(status=404)
        return web.Response(body=item[0], content_type=item[1])

    # -- the Stream gateway -------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            expiry = self._tickets.pop(ticket, None)  # one connection per ticket
        if expiry is None or expiry < time.monotonic():
            self.rejected_connections += 1
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        # Registered before the handshake goes out: the client may see it (and a test may look at
        # `connections`) before this coroutine runs again.
        conn = Connection(len(self.connections), ticket, time.monotonic(), ws, request)
        self.connections.append(conn)
        self.tickets_used.append(ticket)
        try:
            await ws.prepare(request)
        except BaseException:
            conn.closed_at = time.monotonic()
            raise
        if self.redeliver_unacked:
            # At-least-once: what an earlier socket sent but never got acked goes out again first.
            live = {c.index for c in self.live_connections()}
            stale = [
                k
                for k, p in self._pending.items()
                if p.sent_at is not None and p.connection not in live and k not in self._backlog
            ]
            self._backlog.extendleft(reversed(stale))
            self.redelivered += len(stale)
        assert self._wake is not None
        self._wake.set()
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_client_message(conn, msg.data)
        finally:
            conn.closed_at = time.monotonic()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._wake.set()  # let another live connection take over the backlog
        return ws

    async def _writer(self, conn: Connection) -> None:
        assert self._wake is not None
        while not conn.ws.closed:
            if not self._backlog or conn is not self._newest_live():
                self._wake.clear()
                await self._wake.wait()
                continue
            key = self._backlog.popleft()
            pending = self._pending.get(key)
            if pending is None:
                continue
            frame = pending.frame
            try:
                text = frame["__raw__"] if "__raw__" in frame else json.dumps(frame, ensure_ascii=False)
                pending.sent_at = time.perf_counter()
                pending.connection = conn.index
                pending.sends += 1
                mid = str(frame.get("headers", {}).get("messageId", ""))
                self._sent_on.setdefault((conn.index, mid), deque()).append(key)
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self._backlog.appendleft(key)
                return
            if "__raw__" in frame or frame.get("headers", {}).get("topic") == "disconnect":
                if frame.get("headers", {}).get("topic") == "disconnect":
                    asyncio.get_running_loop().call_later(self.disconnect_close_after, self._close_soon, conn)
                # Raw junk and disconnect frames are not tracked for acks.
                self._pending.pop(key, None)
            conn.frames_sent += 1
            if conn.drop_after is not None:
                conn.drop_after -= 1
                if conn.drop_after <= 0:
                    self._abort(conn)
                    return

    def _newest_live(self) -> Connection | None:
        live = self.live_connections()
        return live[-1] if live else None

    def _close_soon(self, conn: Connection) -> None:
        if not conn.ws.closed:
            task = asyncio.ensure_future(conn.ws.close())
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    def _abort(self, conn: Connection) -> None:
        transport = conn.request.transport
        if transport is not None:
            transport.abort()
        conn.closed_at = time.monotonic()

    def _on_client_message(self, conn: Connection, text: str) -> None:
        now = time.perf_counter()
        try:
            msg = json.loads(text)
        except ValueError:
            self.client_messages.append(text)
            return
        headers = msg.get("headers") if isinstance(msg, dict) else None
        if not isinstance(headers, dict) or "code" not in msg or "messageId" not in headers:
            self.client_messages.append(msg)
            return
        message_id = headers["messageId"]
        # Match the oldest unacked copy of this messageId that went out on this connection.
        key = None
        sent = self._sent_on.get((conn.index, message_id))
        while sent:
            candidate = sent.popleft()
            p = self._pending.get(candidate)
            if p is not None and p.connection == conn.index:
                key = candidate
                break
        latency = None
        if key is not None:
            latency = now - (self._pending[key].sent_at or now)
            del self._pending[key]
        try:
            data = json.loads(msg.get("data", "null"))
        except (TypeError, ValueError):
            data = msg.get("data")
        self.acks.append(
            Ack(message_id, msg.get("code"), msg.get("message"), data, conn.index, latency, key is not None)
        )

    # -- bare websocket echo (the benchmark's baseline) ----------------------------------------------------

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        """Sends N frames like the gateway and times the client's acks: no SDK, no dispatcher."""
        n = int(request.query.get("n", "1000"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sent: dict[str, float] = {}
        latencies: list[float] = []
        done = asyncio.Event()

        async def reader() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                mid = json.loads(msg.data)["headers"]["messageId"]
                latencies.append(time.perf_counter() - sent.pop(mid))
                if len(latencies) >= n:
                    done.set()
                    return

        rate = float(request.query.get("rate", "0"))  # frames/s; 0 = as fast as possible
        batch = max(1, int(rate / 200)) if rate else n
        task = asyncio.create_task(reader())
        start = time.perf_counter()
        for i in range(n):
            frame = self._frame("CALLBACK", BOT_TOPIC, bot_text(f"echo {i}"))
            sent[frame["headers"]["messageId"]] = time.perf_counter()
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
            if rate and (i + 1) % batch == 0:
                delay = start + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
        await asyncio.wait_for(done.wait(), 60)
        elapsed = time.perf_counter() - start
        await ws.send_str(json.dumps({"done": True, "elapsed": elapsed, "latencies": latencies}))
        task.cancel()
        await ws.close()
        return ws


# -- demo ----------------------------------------------------------------------------------------------


def _demo(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="本地假钉钉：Stream 网关 + 机器人/卡片接口（仅监听 127.0.0.1）"
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--staff", default="staff-001", help="输入的消息以哪个 staffId 发送")
    args = parser.parse_args(argv)
    fake = FakeDingTalk(port=args.port).start()
    print(f"假钉钉已启动：{fake.base_url}")
    print("在 crmbot.toml 里设置：")
    print(
        f'[dingtalk]\nclient_id = "{fake.client_id}"\nclient_secret = "{fake.client_secret}"\nrobot_code = "{fake.robot_code}"'
    )
    print(f'card_template_id = "tpl-crmbot.schema"\napi_base_url = "{fake.base_url}"\n')
    print(
        "输入文字即以销售身份发给机器人；/voice 文字 = 语音；/click <outTrackId> <action_id> = 点卡片按钮；"
    )
    print("/ping、/disconnect、/drop、/status；Ctrl-D 退出。")
    shown_msgs = shown_cards = 0
    try:
        while True:
            try:
                line = input("> ").strip()
            except EOFError:
                break
            if line.startswith("/voice "):
                fake.push_bot_message(bot_audio(line[7:], staff_id=args.staff, robot_code=fake.robot_code))
            elif line.startswith("/click "):
                parts = line.split()
                if len(parts) == 3:
                    fake.push_card_callback(card_callback(args.staff, parts[1], parts[2]))
            elif line == "/ping":
                fake.ping()
            elif line == "/disconnect":
                fake.send_disconnect()
            elif line == "/drop":
                fake.drop_connection()
            elif line == "/status":
                print(
                    f"连接 {len(fake.connections)}（在线 {len(fake.live_connections())}），ack {len(fake.acks)}，未 ack {fake.unacked}"
                )
            elif line:
                fake.push_bot_message(bot_text(line, staff_id=args.staff, robot_code=fake.robot_code))
            time.sleep(0.3)
            for m in fake.sent_messages[shown_msgs:]:
                print(f"机器人 → {m['userIds']}: {m['msgParam']}")
            shown_msgs = len(fake.sent_messages)
            for track, card in list(fake.cards.items())[shown_cards:]:
                print(f"卡片 {track}: {card['params'].get('title')} / {card['params'].get('buttons')}")
            shown_cards = len(fake.cards)
    finally:
        fake.stop()


if __name__ == "__main__":
    _demo()

"""A fake WeCom (企业微信) on 127.0.0.1 and a driver that plays WeCom's encrypted callbacks.

Server side (`FakeWeCom`): gettoken, message/send (text, markdown, template_card), message/
update_template_card (single-use response codes that expire), media/upload + media/get,
externalcontact/resigned/transfer_customer + transfer_result, agent/get — with WeCom's JSON formats
and errcodes, and fault injection per endpoint: hangs (before or after the message is processed),
HTTP 5xx, an expired token once, or any errcode (45009 …).

Client side (`WeComDriver`): builds the XML WeCom posts for text, voice (with or without
Recognition), image, file and template_card_event clicks, encrypts and signs it exactly as WeCom does
and posts it to the bot, once, N times (duplicate deliveries), out of order, or like WeCom's retry
loop (5 s timeout, 3 retries).

Run `python -m tests.fakes.wecom [--port 8088] [--bot-url http://127.0.0.1:8080/wecom/callback]`
for a demo: it prints its URL and the settings to point crmbot at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web

from bot.channels.wecom.crypto import WeComCrypto
from bot.channels.wecom.settings import WeComSettings

DEFAULT_CORP_ID = "ww5fa6e0c0ffee0crm"
DEFAULT_SECRET = "fake-wecom-secret-for-tests-only-0000000000"
DEFAULT_AGENT_ID = 1000002
DEFAULT_TOKEN = "crmbotFakeToken2024"
# 43 letters and digits, like the admin console's 随机获取 (base64 of it plus "=" is the AES key)
DEFAULT_AES_KEY = "crmbotFakeWeComEncodingAESKey0123456789abcd"

TEXT_LIMIT_BYTES = 2048
RESPONSE_CODE_TTL = 72 * 3600
# WeCom does not document the errcode of a spent/expired response_code in our sources; the fake
# answers "invalid parameter" and the sender treats any request error as "send a new card".
ERRCODE_INVALID_PARAM = 40058
ERRCODE_TASK_ID_EXISTS = 42014
ERRCODE_INVALID_EXTERNAL_USERID = 40096

# A fault is one of these names or an int errcode answered with HTTP 200.
FAULTS = ("timeout", "timeout_after_send", "http500", "http502", "http503", "expired_token")
Fault = str | int


@dataclass
class SentMessage:
    touser: str
    msgtype: str
    body: dict[str, Any]  # the whole request JSON
    msgid: str
    response_code: str | None = None
    truncated: bool = False

    @property
    def content(self) -> str:
        inner = self.body.get(self.msgtype)
        return str(inner.get("content", "")) if isinstance(inner, dict) else ""

    @property
    def task_id(self) -> str | None:
        card = self.body.get("template_card")
        return card.get("task_id") if isinstance(card, dict) else None


@dataclass
class _Transfer:
    handover: str
    takeover: str
    external_userid: str
    outcome: str
    waiting_polls: int
    polls: int = 0
    started_at: int = 0

    def status(self) -> int:
        if self.outcome == "refused":
            return 3
        if self.outcome == "over_limit":
            return 4
        if self.outcome == "waiting_then_done" and self.polls <= self.waiting_polls:
            return 2
        return 1


@dataclass
class _ResponseCode:
    created_at: float
    used: bool = False
    task_id: str | None = None


@dataclass
class _Media:
    content: bytes
    filename: str
    content_type: str


@dataclass
class FakeWeCom:
    corp_id: str = DEFAULT_CORP_ID
    secret: str = DEFAULT_SECRET
    agent_id: int = DEFAULT_AGENT_ID
    token: str = DEFAULT_TOKEN
    aes_key: str = DEFAULT_AES_KEY
    token_ttl: int = 7200
    hang_seconds: float = 30.0  # how long a "timeout" fault holds the request (ends early on close)
    transfer_page_size: int = 100
    known_users: set[str] | None = None  # None: every userid exists
    clock: Callable[[], float] = time.time
    on_message: Callable[[SentMessage], None] | None = None

    sent: list[SentMessage] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # every API call by endpoint, faults included
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        self.crypto = WeComCrypto(self.token, self.aes_key, self.corp_id)
        self._tokens: dict[str, float] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._response_codes: dict[str, _ResponseCode] = {}
        self._task_ids: set[str] = set()
        self._recent: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._media: dict[str, _Media] = {}
        self._outcomes: dict[str, tuple[str, int]] = {}
        self._transfers: dict[tuple[str, str], dict[str, _Transfer]] = defaultdict(dict)
        self._msgids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- life cycle ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        routes = [
            ("GET", "gettoken", self._gettoken),
            ("POST", "message/send", self._message_send),
            ("POST", "message/update_template_card", self._update_template_card),
            ("POST", "media/upload", self._media_upload),
            ("GET", "media/get", self._media_get),
            ("POST", "externalcontact/resigned/transfer_customer", self._transfer_customer),
            ("POST", "externalcontact/resigned/transfer_result", self._transfer_result),
            ("GET", "agent/get", self._agent_get),
        ]
        for method, endpoint, handler in routes:
            app.router.add_route(method, f"/cgi-bin/{endpoint}", self._wrap(endpoint, handler))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # the port chosen by the OS
        bound = sockets[0].getsockname()[1] if sockets else port
        self.url = f"http://{host}:{bound}"
        return self.url

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeWeCom:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def settings(self, **overrides: Any) -> WeComSettings:
        values: dict[str, Any] = {
            "corp_id": self.corp_id,
            "agent_id": self.agent_id,
            "secret": self.secret,
            "token": self.token,
            "aes_key": self.aes_key,
            "api_base_url": self.url,
        }
        values.update(overrides)
        return WeComSettings(**values)

    # -- fault injection and state ---------------------------------------------------------
    def fail_next(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for the next calls of `endpoint` ("message/send", "gettoken", …)."""
        for fault in faults:
            if isinstance(fault, str) and fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; use one of {FAULTS} or an errcode")
            self._faults[endpoint].append(fault)

    def expire_tokens(self) -> None:
        """Every issued token now answers 42001 (expired); the next gettoken works."""
        for token in self._tokens:
            self._tokens[token] = 0.0

    def expire_response_codes(self) -> None:
        for state in self._response_codes.values():
            state.created_at -= RESPONSE_CODE_TTL + 1

    def issue_response_code(self, task_id: str | None = None) -> str:
        code = "rc_" + secrets.token_urlsafe(24)
        self._response_codes[code] = _ResponseCode(self.clock(), task_id=task_id)
        return code

    def add_media(self, content: bytes, filename: str, content_type: str = "application/octet-stream") -> str:
        media_id = "m_" + secrets.token_urlsafe(24)
        self._media[media_id] = _Media(content, filename, content_type)
        return media_id

    def set_transfer_outcome(self, external_userid: str, outcome: str, *, waiting_polls: int = 1) -> None:
        """Per-customer outcome: done | waiting_then_done | refused | over_limit | invalid."""
        if outcome not in ("done", "waiting_then_done", "refused", "over_limit", "invalid"):
            raise ValueError(f"unknown transfer outcome {outcome!r}")
        self._outcomes[external_userid] = (outcome, waiting_polls)

    def calls_to(self, endpoint: str) -> int:
        return sum(1 for c in self.calls if c == endpoint)

    def texts_to(self, userid: str) -> list[str]:
        return [m.content for m in self.sent if m.touser == userid and m.msgtype in ("text", "markdown")]

    # -- plumbing --------------------------------------------------------------------------
    @staticmethod
    def _ok(**fields: Any) -> web.Response:
        return web.json_response({"errcode": 0, "errmsg": "ok", **fields})

    @staticmethod
    def _error(errcode: int, errmsg: str) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.hang_seconds)

    def _wrap(self, endpoint: str, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.calls.append(endpoint)
            fault = self._faults[endpoint].popleft() if self._faults[endpoint] else None
            if fault == "timeout":
                await self._hang()
                return web.Response(status=504)
            if fault in ("http500", "http502", "http503"):
                return web.Response(status=int(str(fault)[4:]), text="upstream error")
            if isinstance(fault, int):
                return self._error(fault, "injected fault")
            if endpoint != "gettoken":
                token = request.query.get("access_token", "")
                if fault == "expired_token":
                    self._tokens.pop(token, None)
                    return self._error(42001, "access_token expired")
                expires = self._tokens.get(token)
                if expires is None:
                    return self._error(40014, "invalid access_token")
                if expires <= self.clock():
                    return self._error(42001, "access_token expired")
            response = await handler(request)
            if fault == "timeout_after_send":
                await self._hang()  # processed, but the caller never hears back
            return response

        return wrapped

    async def _json(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    # -- endpoints -------------------------------------------------------------------------
    async def _gettoken(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != self.corp_id:
            return self._error(40013, "invalid corpid")
        if request.query.get("corpsecret") != self.secret:
            return self._error(40001, "invalid secret")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self.clock() + self.token_ttl
        self.tokens_issued += 1
        return self._ok(access_token=token, expires_in=self.token_ttl)

    async def _agent_get(self, request: web.Request) -> web.Response:
        if request.query.get("agentid") != str(self.agent_id):
            return self._error(40056, "invalid agentid")
        return self._ok(agentid=self.agent_id, name="crmbot 销售助手（模拟）", close=0)

    @staticmethod
    def _card_problem(card: Any) -> str | None:
        if not isinstance(card, dict) or card.get("card_type") != "button_interaction":
            return "only button_interaction cards are simulated"
        task_id = card.get("task_id")
        if not isinstance(task_id, str) or not task_id or len(task_id.encode()) > 128:
            return "task_id empty or longer than 128 bytes"
        if any(not (c.isascii() and (c.isalnum() or c in "_-@")) for c in task_id):
            return "task_id has characters outside [A-Za-z0-9_-@]"
        title = card.get("main_title")
        if not isinstance(title, dict) or not title.get("title"):
            return "main_title.title missing"
        buttons = card.get("button_list")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
            return "button_list needs 1 to 6 buttons"
        for button in buttons:
            if not isinstance(button, dict) or not button.get("text") or not button.get("key"):
                return "button without text or key"
            if len(str(button["key"]).encode()) > 1024:
                return "button key longer than 1024 bytes"
        return None

    async def _message_send(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if body is None:
            return self._error(47001, "data format error")
        if body.get("agentid") != self.agent_id:
            return self._error(40056, "invalid agentid")
        msgtype = str(body.get("msgtype") or "")
        users = [u for u in str(body.get("touser") or "").split("|") if u]
        if not users:
            return self._error(40031, "invalid userid list")
        invalid = [u for u in users if self.known_users is not None and u not in self.known_users]
        if len(invalid) == len(users):
            return self._error(81013, "user & party & tag all invalid")
        response_code = None
        truncated = False
        if msgtype in ("text", "markdown"):
            content = body.get(msgtype, {}).get("content") if isinstance(body.get(msgtype), dict) else None
            if not isinstance(content, str) or not content:
                return self._error(41009, "missing content")
            truncated = len(content.encode()) > TEXT_LIMIT_BYTES  # WeCom truncates, it does not refuse
        elif msgtype == "template_card":
            card = body.get("template_card")
            problem = self._card_problem(card)
            if problem:
                return self._error(ERRCODE_INVALID_PARAM, problem)
            assert isinstance(card, dict)
            if card["task_id"] in self._task_ids:
                return self._error(ERRCODE_TASK_ID_EXISTS, "taskid has existed or empty or exceed max len")
            self._task_ids.add(card["task_id"])
        else:
            return self._error(40008, "invalid message type")

        now = self.clock()
        if body.get("enable_duplicate_check") == 1 and msgtype != "template_card":
            key = (str(body.get("touser")), msgtype, json.dumps(body.get(msgtype), sort_keys=True))
            interval = int(body.get("duplicate_check_interval") or 1800)
            previous = self._recent.get(key)
            if previous and now - previous[0] < interval:
                return self._ok(invaliduser="", msgid=previous[1])  # accepted, not shown again
        msgid = f"msg{next(self._msgids):08d}"
        if msgtype == "template_card":
            response_code = self.issue_response_code(task_id=body["template_card"]["task_id"])
        if body.get("enable_duplicate_check") == 1:
            self._recent[
                (str(body.get("touser")), msgtype, json.dumps(body.get(msgtype), sort_keys=True))
            ] = (
                now,
                msgid,
            )
        for user in users:
            if user in invalid:
                continue
            message = SentMessage(user, msgtype, body, msgid, response_code, truncated)
            self.sent.append(message)
            if self.on_message:
                self.on_message(message)
        fields: dict[str, Any] = {"invaliduser": "|".join(invalid), "msgid": msgid}
        if response_code:
            fields["response_code"] = response_code
        return self._ok(**fields)

    async def _update_template_card(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if body is None:
            return self._error(47001, "data format error")
        if body.get("agentid") != self.agent_id:
            return self._error(40056, "invalid agentid")
        code = str(body.get("response_code") or "")
        state = self._response_codes.get(code)
        if state is None or state.used or self.clock() - state.created_at > RESPONSE_CODE_TTL:
            return self._error(ERRCODE_INVALID_PARAM, "invalid response_code: unknown, used or expired")
        card = body.get("template_card")
        button = body.get("button")
        if card is None and not (isinstance(button, dict) and button.get("replace_name")):
            return self._error(ERRCODE_INVALID_PARAM, "template_card or button.replace_name required")
        if card is not None:
            problem = self._card_problem({**card, "task_id": state.task_id or "x"})
            if problem:
                return self._error(ERRCODE_INVALID_PARAM, problem)
        state.used = True
        self.updates.append({**body, "task_id": state.task_id})
        return self._ok(invaliduser=[])

    async def _media_upload(self, request: web.Request) -> web.Response:
        kind = request.query.get("type", "")
        if kind not in ("image", "voice", "video", "file"):
            return self._error(40004, "invalid media type")
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, aiohttp.BodyPartReader) and part.name == "media":
                content = await part.read()
                media_id = self.add_media(
                    bytes(content),
                    part.filename or "media",
                    part.headers.get("Content-Type", "application/octet-stream"),
                )
                return self._ok(type=kind, media_id=media_id, created_at=str(int(self.clock())))
        return self._error(41005, "media data missing")

    async def _media_get(self, request: web.Request) -> web.Response:
        media = self._media.get(request.query.get("media_id", ""))
        if media is None:
            return self._error(40007, "invalid media_id")
        return web.Response(
            body=media.content,
            content_type=media.content_type,
            headers={"Content-Disposition": f'attachment; filename="{quote(media.filename)}"'},
        )

    async def _transfer_customer(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if body is None:
            return self._error(47001, "data format error")
        contacts = body.get("external_userid")
        handover, takeover = str(body.get("handover_userid") or ""), str(body.get("takeover_userid") or "")
        if not handover or not takeover or not isinstance(contacts, list) or not contacts:
            return self._error(
                ERRCODE_INVALID_PARAM, "handover_userid, takeover_userid, external_userid required"
            )
        if len(contacts) > 100:
            return self._error(ERRCODE_INVALID_PARAM, "at most 100 external_userid per call")
        answers = []
        for contact in map(str, contacts):
            outcome, waiting = self._outcomes.get(contact, ("done", 0))
            if outcome == "invalid":
                answers.append({"external_userid": contact, "errcode": ERRCODE_INVALID_EXTERNAL_USERID})
                continue
            transfers = self._transfers[(handover, takeover)]
            transfers.setdefault(
                contact,
                _Transfer(handover, takeover, contact, outcome, waiting, started_at=int(self.clock())),
            )
            answers.append({"external_userid": contact, "errcode": 0})
        return self._ok(customer=answers)

    async def _transfer_result(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if body is None:
            return self._error(47001, "data format error")
        key = (str(body.get("handover_userid") or ""), str(body.get("takeover_userid") or ""))
        records = list(self._transfers.get(key, {}).values())
        cursor = str(body.get("cursor") or "0")
        start = int(cursor) if cursor.isdigit() else 0
        page = records[start : start + self.transfer_page_size]
        customers = []
        for record in page:
            record.polls += 1
            status = record.status()
            entry: dict[str, Any] = {"external_userid": record.external_userid, "status": status}
            if status == 1:
                entry["takeover_time"] = record.started_at
            customers.append(entry)
        end = start + len(page)
        return self._ok(customer=customers, next_cursor=str(end) if end < len(records) else "")


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeComDriver:
    """Posts encrypted callbacks to the bot exactly as WeCom does."""

    def __init__(
        self,
        fake: FakeWeCom,
        bot_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fake = fake
        self.bot_url = bot_url
        self._session = session
        self._own_session = session is None
        self._clock = clock
        self._msg_ids = itertools.count(7_300_000_000_000_000_000 + secrets.randbelow(10**12))

    async def __aenter__(self) -> WeComDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    # -- message builders (the decrypted XML WeCom sends) ----------------------------------
    def _head(self, user: str, msg_type: str, create_time: int | None) -> str:
        created = int(self._clock()) if create_time is None else create_time
        return (
            f"<xml><ToUserName>{_cdata(self.fake.corp_id)}</ToUserName>"
            f"<FromUserName>{_cdata(user)}</FromUserName>"
            f"<CreateTime>{created}</CreateTime>"
            f"<MsgType>{_cdata(msg_type)}</MsgType>"
        )

    def _tail(self, msg_id: int | str | None) -> str:
        mid = next(self._msg_ids) if msg_id is None else msg_id
        return f"<MsgId>{escape(str(mid))}</MsgId><AgentID>{self.fake.agent_id}</AgentID></xml>"

    def text_xml(
        self, user: str, content: str, *, msg_id: int | str | None = None, create_time: int | None = None
    ) -> str:
        return (
            self._head(user, "text", create_time)
            + f"<Content>{_cdata(content)}</Content>"
            + self._tail(msg_id)
        )

    def voice_xml(
        self,
        user: str,
        *,
        recognition: str | None = None,
        media_id: str = "",
        msg_id: int | str | None = None,
    ) -> str:
        media = media_id or self.fake.add_media(b"#!AMR\n" + b"\0" * 64, "voice.amr", "audio/amr")
        extra = f"<MediaId>{_cdata(media)}</MediaId><Format>{_cdata('amr')}</Format>"
        if recognition is not None:
            extra += f"<Recognition>{_cdata(recognition)}</Recognition>"
        return self._head(user, "voice", None) + extra + self._tail(msg_id)

    def image_xml(self, user: str, media_id: str, *, msg_id: int | str | None = None) -> str:
        extra = f"<PicUrl>{_cdata('https://wework.qpic.cn/fake/' + media_id)}</PicUrl><MediaId>{_cdata(media_id)}</MediaId>"
        return self._head(user, "image", None) + extra + self._tail(msg_id)

    def file_xml(self, user: str, media_id: str, filename: str, *, msg_id: int | str | None = None) -> str:
        extra = f"<MediaId>{_cdata(media_id)}</MediaId><FileName>{_cdata(filename)}</FileName>"
        return self._head(user, "file", None) + extra + self._tail(msg_id)

    def click_xml(
        self,
        user: str,
        event_key: str,
        task_id: str,
        *,
        response_code: str | None = None,
        create_time: int | None = None,
    ) -> str:
        """A template_card_event; a fresh response_code is issued by the fake unless one is given."""
        code = response_code or self.fake.issue_response_code(task_id)
        return (
            self._head(user, "event", create_time)
            + f"<Event>{_cdata('template_card_event')}</Event>"
            + f"<EventKey>{_cdata(event_key)}</EventKey><TaskId>{_cdata(task_id)}</TaskId>"
            + f"<CardType>{_cdata('button_interaction')}</CardType>"
            + f"<ResponseCode>{_cdata(code)}</ResponseCode>"
            + f"<AgentID>{self.fake.agent_id}</AgentID></xml>"
        )

    def event_xml(self, user: str, event: str, *, create_time: int | None = None) -> str:
        return (
            self._head(user, "event", create_time)
            + f"<Event>{_cdata(event)}</Event><AgentID>{self.fake.agent_id}</AgentID></xml>"
        )

    # -- transport -------------------------------------------------------------------------
    def encrypt(
        self, inner_xml: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[str, bytes]:
        """The query string and body of WeCom's POST for `inner_xml`."""
        ts = timestamp or str(int(self._clock()))
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypted, signature = self.fake.crypto.encrypt(inner_xml, timestamp=ts, nonce=nonce)
        body = (
            f"<xml><ToUserName>{_cdata(self.fake.corp_id)}</ToUserName>"
            f"<Encrypt>{_cdata(encrypted)}</Encrypt>"
            f"<AgentID>{_cdata(str(self.fake.agent_id))}</AgentID></xml>"
        )
        query = f"msg_signature={signature}&timestamp={ts}&nonce={nonce}"
        return query, body.encode("utf-8")

    async def post_raw(self, query: str, body: bytes, *, timeout: float = 10.0) -> tuple[int, str]:
        url = f"{self.bot_url}?{query}"
        async with self._http().post(
            url, data=body, headers={"Content-Type": "text/xml"}, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            return resp.status, await resp.text()

    async def post(self, inner_xml: str, **kwargs: Any) -> tuple[int, str]:
        query, body = self.encrypt(inner_xml, **kwargs)
        return await self.post_raw(query, body)

    async def deliver(self, inner_xml: str, *, times: int = 1, concurrent: bool = False) -> list[int]:
        """Deliver the same callback `times` times (WeCom's redeliveries), optionally all at once."""
        if concurrent:
            results = await asyncio.gather(*(self.post(inner_xml) for _ in range(times)))
            return [status for status, _ in results]
        return [(await self.post(inner_xml))[0] for _ in range(times)]

    async def deliver_like_wecom(
        self, inner_xml: str, *, timeout: float = 5.0, retries: int = 3
    ) -> list[int | str]:
        """WeCom's loop: post, and on a timeout, network error or non-200 try again, up to 3 times."""
        query, body = self.encrypt(inner_xml)
        outcomes: list[int | str] = []
        for _ in range(1 + retries):
            try:
                status, _ = await self.post_raw(query, body, timeout=timeout)
            except (TimeoutError, aiohttp.ClientError) as exc:
                outcomes.append(type(exc).__name__)
                continue
            outcomes.append(status)
            if status == 200:
                break
        return outcomes

    async def deliver_out_of_order(self, inner_xmls: Sequence[str]) -> list[int]:
        """Deliver the callbacks in reverse order, concurrently, as WeCom's retries can."""
        results = await asyncio.gather(*(self.post(x) for x in reversed(inner_xmls)))
        return [status for status, _ in results]

    async def verify_url(
        self, plain: str | None = None, *, timestamp: str | None = None
    ) -> tuple[int, str, str]:
        """The admin console's URL check; returns (status, body, the expected plain echostr)."""
        echo_plain = plain or str(secrets.randbelow(10**19))
        ts = timestamp or str(int(self._clock()))
        nonce = str(secrets.randbelow(10**10))
        encrypted, signature = self.fake.crypto.encrypt(echo_plain, timestamp=ts, nonce=nonce)
        query = f"msg_signature={signature}&timestamp={ts}&nonce={nonce}&echostr={quote(encrypted, safe='')}"
        async with self._http().get(f"{self.bot_url}?{query}") as resp:
            return resp.status, await resp.text(), echo_plain

    async def send_text(self, user: str, content: str, **kwargs: Any) -> int:
        return (await self.post(self.text_xml(user, content, **kwargs)))[0]

    async def click(self, user: str, event_key: str, task_id: str, **kwargs: Any) -> int:
        return (await self.post(self.click_xml(user, event_key, task_id, **kwargs)))[0]


# -- demo entry point ------------------------------------------------------------------------
def _print_sent(message: SentMessage) -> None:
    if message.msgtype == "template_card":
        card = message.body["template_card"]
        buttons = " ".join(f"[{b['text']}→{b['key']}]" for b in card.get("button_list", []))
        print(
            f"\n← 卡片 给 {message.touser}: {card['main_title']['title']} {buttons} (task_id={message.task_id})"
        )
    else:
        print(f"\n← {message.msgtype} 给 {message.touser}: {message.content}")
    sys.stdout.flush()


async def _demo(port: int, bot_url: str | None) -> None:
    fake = FakeWeCom(on_message=_print_sent)
    url = await fake.start(port=port)
    print(f"模拟企业微信已启动：{url}")
    print("把 crmbot 指向它（环境变量）：")
    for key, value in (
        ("CORP_ID", fake.corp_id),
        ("AGENT_ID", fake.agent_id),
        ("SECRET", fake.secret),
        ("TOKEN", fake.token),
        ("AES_KEY", fake.aes_key),
        ("API_BASE_URL", url),
    ):
        print(f"  export CRMBOT_WECOM__{key}={value}")
    sys.stdout.flush()
    try:
        if not bot_url:
            await asyncio.Event().wait()
        async with WeComDriver(fake, bot_url) as driver:
            print(f"回调地址：{bot_url}")
            print(
                "输入  userid: 消息内容   发送文字；  click userid 按钮key task_id   模拟点击卡片；Ctrl-D 退出"
            )
            loop = asyncio.get_running_loop()
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                line = line.strip()
                try:
                    if line.startswith("click "):
                        _, user, key, task = line.split(maxsplit=3)
                        status = await driver.click(user, key, task)
                    elif ":" in line:
                        user, text = line.split(":", 1)
                        status = await driver.send_text(user.strip(), text.strip())
                    else:
                        continue
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    print(f"投递失败：{exc}")
                    continue
                print(f"→ 已投递（HTTP {status}）")
    finally:
        await fake.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.wecom", description="模拟企业微信服务端（仅监听 127.0.0.1）"
    )
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--bot-url", help="crmbot 的回调地址，例如 http://127.0.0.1:8080/wecom/callback")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(args.port, args.bot_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our own asyncio client for the WeCom server API (wechatpy's client is synchronous).

Error classification is the outbox's contract: `WeComAPIError(retryable=True)` for network errors,
timeouts, 5xx, 429, `-1` (system busy), 45009 and 45033 (rate limits); `retryable=False` for anything
that says the request itself is wrong. An expired or invalid access token (40001/40014/42001) is
refetched once and the call retried once, here, never in a loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp

from bot.channels.wecom.cards import split_text
from bot.channels.wecom.settings import WeComSettings
from bot.types import SendError

log = logging.getLogger("crmbot.wecom")

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033})
ERRCODE_TASK_ID_EXISTS = 42014  # "taskid has existed or empty or exceed max len"
TRANSFER_BATCH = 100  # resigned/transfer_customer takes at most 100 external contacts per call
# Refresh the token this long before WeCom says it expires (or at 80 % of a short lifetime).
TOKEN_EARLY_REFRESH_SECONDS = 300.0


class WeComAPIError(SendError):
    def __init__(
        self, message: str, *, retryable: bool, errcode: int | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.errcode = errcode
        self.status = status


@dataclass(frozen=True, slots=True)
class Media:
    content: bytes
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class TransferStart:
    """One customer's answer from resigned/transfer_customer (0 = handover started, not done)."""

    external_userid: str
    errcode: int


# transfer_result statuses
TRANSFER_DONE = 1
TRANSFER_WAITING = 2
TRANSFER_REFUSED = 3
TRANSFER_OVER_LIMIT = 4
TRANSFER_NO_RECORD = 5


@dataclass(frozen=True, slots=True)
class TransferStatus:
    external_userid: str
    status: int  # TRANSFER_* above
    takeover_time: int | None = None

    @property
    def settled(self) -> bool:
        return self.status != TRANSFER_WAITING


class WeComClient:
    def __init__(
        self,
        settings: WeComSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._base = settings.api_base_url.rstrip("/") + "/cgi-bin/"
        self._session = session
        self._own_session = session is None
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout_seconds)
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0  # observable in tests and `crmbot wecom check`

    # -- plumbing --------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop (aiohttp wants that), not at wiring time.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def _raw(self, method: str, path: str, **kwargs: Any) -> tuple[bytes, str, str]:
        """One HTTP exchange; returns (body, content type, content disposition)."""
        try:
            async with self._http().request(
                method, self._base + path, timeout=self._timeout, **kwargs
            ) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise WeComAPIError(f"{path}: HTTP {resp.status}", retryable=True, status=resp.status)
                if resp.status >= 400:
                    raise WeComAPIError(f"{path}: HTTP {resp.status}", retryable=False, status=resp.status)
                body = await resp.read()
                return body, resp.content_type, resp.headers.get("Content-Disposition", "")
        except TimeoutError as exc:
            raise WeComAPIError(f"{path}: timed out", retryable=True) from exc
        except aiohttp.ClientError as exc:
            raise WeComAPIError(f"{path}: {type(exc).__name__}", retryable=True) from exc

    @staticmethod
    def _decode(path: str, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            # A proxy's error page or a cut-off answer: the request may well succeed next time.
            raise WeComAPIError(f"{path}: answer is not JSON", retryable=True) from exc
        if not isinstance(payload, dict):
            raise WeComAPIError(f"{path}: answer is not a JSON object", retryable=True)
        return payload

    @staticmethod
    def _raise_for_errcode(path: str, payload: dict[str, Any]) -> None:
        errcode = int(payload.get("errcode") or 0)
        if errcode == 0:
            return
        message = f"{path}: errcode {errcode} {str(payload.get('errmsg', ''))[:200]}"
        retryable = errcode in RETRYABLE_ERRCODES or errcode in TOKEN_ERRCODES
        raise WeComAPIError(message, retryable=retryable, errcode=errcode)

    # -- access token ----------------------------------------------------------------------
    async def access_token(self, *, force: bool = False, stale: str | None = None) -> str:
        """The cached token, fetched when missing, near expiry, or when `stale` is the cached one."""
        async with self._token_lock:
            current = self._token
            if current and not force and stale != current and self._clock() < self._token_refresh_at:
                return current
            if stale is not None and current is not None and stale != current:
                return current  # another call already replaced the token that failed
            params = {"corpid": self._settings.corp_id, "corpsecret": self._settings.secret}
            body, _, _ = await self._raw("GET", "gettoken", params=params)
            payload = self._decode("gettoken", body)
            errcode = int(payload.get("errcode") or 0)
            if errcode != 0:
                # On gettoken, 40001 means a wrong secret: a configuration error, not a stale token.
                raise WeComAPIError(
                    f"gettoken: errcode {errcode} {str(payload.get('errmsg', ''))[:200]}",
                    retryable=errcode in RETRYABLE_ERRCODES,
                    errcode=errcode,
                )
            token = str(payload.get("access_token") or "")
            if not token:
                raise WeComAPIError("gettoken: no access_token in the answer", retryable=True)
            expires_in = float(payload.get("expires_in") or 7200)
            early = min(TOKEN_EARLY_REFRESH_SECONDS, expires_in * 0.2)
            self._token = token
            self._token_refresh_at = self._clock() + expires_in - early
            self.token_fetches += 1
            return token

    async def call(
        self,
        path: str,
        *,
        method: str = "POST",
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        data: Any = None,
    ) -> dict[str, Any]:
        """Call an API with the access token; on a token error, refetch once and retry once."""
        token = await self.access_token()
        for attempt in (0, 1):
            query = {**(params or {}), "access_token": token}
            body, _, _ = await self._raw(method, path, params=query, json=json_body, data=data)
            payload = self._decode(path, body)
            errcode = int(payload.get("errcode") or 0)
            if errcode in TOKEN_ERRCODES and attempt == 0:
                log.info("wecom: access token rejected (errcode %d), fetching a new one", errcode)
                token = await self.access_token(stale=token)
                continue
            self._raise_for_errcode(path, payload)
            return payload
        raise AssertionError("unreachable")

    # -- messages --------------------------------------------------------------------------
    def _message(self, to: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "touser": to,
            "msgtype": msgtype,
            "agentid": self._settings.agent_id,
            msgtype: body,
        }
        if self._settings.duplicate_check_seconds > 0:
            message["enable_duplicate_check"] = 1
            message["duplicate_check_interval"] = min(self._settings.duplicate_check_seconds, 4 * 3600)
        return message

    async def send_message(self, message: dict[str, Any]) -> dict[str, Any]:
        payload = await self.call("message/send", json_body=message)
        invalid = str(payload.get("invaliduser") or "")
        if invalid:
            raise WeComAPIError(f"message/send: unknown userid {invalid[:64]}", retryable=False)
        return payload

    async def send_text(self, to: str, text: str, *, markdown: bool = False) -> list[str]:
        """Send `text` in pieces under 2,048 bytes; returns the msgids in order."""
        msgtype = "markdown" if markdown else "text"
        msgids = []
        for piece in split_text(text):
            payload = await self.send_message(self._message(to, msgtype, {"content": piece}))
            msgids.append(str(payload.get("msgid") or ""))
        return msgids

    async def send_template_card(self, to: str, template_card: dict[str, Any]) -> dict[str, Any]:
        message = {"touser": to, "msgtype": "template_card", "agentid": self._settings.agent_id}
        message["template_card"] = template_card
        return await self.send_message(message)

    async def update_template_card(
        self,
        to: str,
        response_code: str,
        *,
        template_card: dict[str, Any] | None = None,
        replace_name: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "userids": [to],
            "agentid": self._settings.agent_id,
            "response_code": response_code,
        }
        if template_card is not None:
            body["template_card"] = template_card
        else:
            body["button"] = {"replace_name": replace_name or "已处理"}
        return await self.call("message/update_template_card", json_body=body)

    # -- media -----------------------------------------------------------------------------
    async def upload_media(self, kind: str, filename: str, content: bytes, content_type: str) -> str:
        form = aiohttp.FormData()
        form.add_field("media", content, filename=filename, content_type=content_type)
        payload = await self.call("media/upload", params={"type": kind}, data=form)
        return str(payload["media_id"])

    async def get_media(self, media_id: str) -> Media:
        token = await self.access_token()
        for attempt in (0, 1):
            body, content_type, disposition = await self._raw(
                "GET", "media/get", params={"access_token": token, "media_id": media_id}
            )
            if content_type in ("application/json", "text/plain"):
                payload = self._decode("media/get", body)
                errcode = int(payload.get("errcode") or 0)
                if errcode in TOKEN_ERRCODES and attempt == 0:
                    token = await self.access_token(stale=token)
                    continue
                self._raise_for_errcode("media/get", payload)
            return Media(body, _disposition_filename(disposition), content_type)
        raise AssertionError("unreachable")

    # -- offboarding (离职继承) -------------------------------------------------------------
    async def transfer_resigned_customers(
        self, handover_userid: str, takeover_userid: str, external_userids: Sequence[str]
    ) -> list[TransferStart]:
        """Start the handover of every contact, 100 per call; each gets its own errcode."""
        results: list[TransferStart] = []
        for i in range(0, len(external_userids), TRANSFER_BATCH):
            batch = list(external_userids[i : i + TRANSFER_BATCH])
            payload = await self.call(
                "externalcontact/resigned/transfer_customer",
                json_body={
                    "handover_userid": handover_userid,
                    "takeover_userid": takeover_userid,
                    "external_userid": batch,
                },
            )
            answered = {
                str(c.get("external_userid")): int(c.get("errcode") or 0)
                for c in payload.get("customer") or []
                if isinstance(c, dict)
            }
            # A contact missing from the answer was not started: report it so the job retries it.
            results.extend(TransferStart(e, answered.get(e, -1)) for e in batch)
        return results

    async def resigned_transfer_results(
        self, handover_userid: str, takeover_userid: str
    ) -> list[TransferStatus]:
        """Every contact's handover status, following the cursor through all pages."""
        statuses: list[TransferStatus] = []
        cursor = ""
        seen_cursors: set[str] = set()
        while True:
            body: dict[str, Any] = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
            if cursor:
                body["cursor"] = cursor
            payload = await self.call("externalcontact/resigned/transfer_result", json_body=body)
            for c in payload.get("customer") or []:
                if isinstance(c, dict):
                    takeover = c.get("takeover_time")
                    statuses.append(
                        TransferStatus(
                            str(c.get("external_userid")),
                            int(c.get("status") or 0),
                            int(takeover) if takeover else None,
                        )
                    )
            cursor = str(payload.get("next_cursor") or "")
            if not cursor or cursor in seen_cursors:  # a repeating cursor must not loop forever
                return statuses
            seen_cursors.add(cursor)

    async def get_agent(self) -> dict[str, Any]:
        return await self.call("agent/get", method="GET", params={"agentid": str(self._settings.agent_id)})


def _disposition_filename(disposition: str) -> str:
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return unquote(value.strip().strip('"'))
    return ""

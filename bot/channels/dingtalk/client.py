"""A small asyncio client for the DingTalk open API (api.dingtalk.com, v1.0).

Our own aiohttp client rather than the SDK's helpers: those use blocking `requests` and a base
URL fixed at import time. Here the base URL is a setting (tests point it at the fake), every
call has a timeout, and each failure is classified as retryable or not for the outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from dingtalk_stream.version import VERSION_STRING

from bot.channels.dingtalk.settings import DingTalkSettings

log = logging.getLogger(__name__)

BATCH_SEND_MAX_USERS = 20  # oToMessages/batchSend accepts at most 20 userIds per call
TOKEN_HEADER = "x-acs-dingtalk-access-token"
# Error codes DingTalk uses for rate limiting; it answers them with HTTP 403 as often as 429.
_THROTTLE_MARKERS = ("qpslimit", "throttl", "flowcontrol", "ratelimit", "toomanyrequests")
_SDK_UA = f"dingtalk-sdk-python/v{VERSION_STRING}-union"


class DingTalkAPIError(Exception):
    """An open-API call failed; `retryable` tells the outbox whether trying later can help."""

    def __init__(
        self, message: str, *, retryable: bool, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code


class BatchSendError(DingTalkAPIError):
    """A chunk of a multi-chunk batchSend failed after earlier chunks went out."""

    def __init__(self, cause: DingTalkAPIError, *, delivered: list[str], pending: list[str]) -> None:
        super().__init__(str(cause), retryable=cause.retryable, status=cause.status, code=cause.code)
        self.delivered = delivered
        self.pending = pending


@dataclass(frozen=True, slots=True)
class StreamTicket:
    endpoint: str
    ticket: str


@dataclass(slots=True)
class BatchSendReport:
    process_query_keys: list[str] = field(default_factory=list)
    invalid_user_ids: list[str] = field(default_factory=list)  # not staff of this corp / not visible
    flow_controlled_user_ids: list[str] = field(default_factory=list)  # throttled: send again later


def is_throttle_code(code: str | None) -> bool:
    lowered = (code or "").lower().replace(".", "").replace("_", "")
    return any(marker in lowered for marker in _THROTTLE_MARKERS)


def classify(status: int, code: str | None) -> bool:
    """Whether an HTTP error answer is worth retrying: 5xx, 429 and throttling codes are."""
    return status >= 500 or status in (408, 429) or is_throttle_code(code)


class DingTalkClient:
    """Access-token cache plus the handful of endpoints crmbot uses."""

    def __init__(
        self,
        settings: DingTalkSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = 300.0,
    ) -> None:
        self.settings = settings
        self._session = session
        self._own_session = session is None
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0  # observable for tests and `check`

    # -- plumbing -------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout)
            # trust_env=False: a proxy variable must not send loopback test traffic elsewhere.
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def _request(
        self, method: str, url: str, *, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            async with self._http().request(method, url, json=body, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DingTalkAPIError(f"network error calling {url}: {exc!r}", retryable=True) from exc
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {"result": payload}
        if status >= 400:
            code = str(payload.get("code") or "") or None
            message = str(payload.get("message") or text[:200])
            raise DingTalkAPIError(
                f"DingTalk {method} {url} -> HTTP {status} {code or ''}: {message}",
                retryable=classify(status, code),
                status=status,
                code=code,
            )
        return payload

    # -- access token -----------------------------------------------------------------------------

    def invalidate_token(self) -> None:
        self._token = None
        self._token_expires_at = 0.0

    async def access_token(self) -> str:
        """A cached token, refreshed `refresh_margin` seconds (at most a fifth of its life) early."""
        if self._token and self._clock() < self._token_expires_at:
            return self._token
        async with self._token_lock:  # one fetch for many concurrent callers
            if self._token and self._clock() < self._token_expires_at:
                return self._token
            payload = await self._request(
                "POST",
                f"{self.settings.api_base_url}/v1.0/oauth2/accessToken",
                body={
                    "appKey": self.settings.client_id,
                    "appSecret": self.settings.client_secret.get_secret_value(),
                },
            )
            token = payload.get("accessToken")
            if not isinstance(token, str) or not token:
                raise DingTalkAPIError("accessToken missing from DingTalk's answer", retryable=True)
            try:
                lifetime = float(payload.get("expireIn", 7200))
            except (TypeError, ValueError):
                lifetime = 7200.0
            self.token_fetches += 1
            self._token = token
            self._token_expires_at = self._clock() + lifetime - min(self._refresh_margin, lifetime / 5)
            return token

    async def _api(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """An authenticated call; a rejected token (401) is dropped and the call tried once more."""
        url = f"{self.settings.api_base_url}{path}"
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                return await self._request(method, url, body=body, headers={TOKEN_HEADER: token})
            except DingTalkAPIError as exc:
                if exc.status == 401 and attempt == 1:
                    log.info("DingTalk rejected the access token; fetching a new one")
                    if self._token == token:
                        self.invalidate_token()
                    continue
                raise
        raise AssertionError("unreachable")

    # -- Stream ticket ------------------------------------------------------------------------------

    async def open_stream_connection(
        self, subscriptions: Sequence[dict[str, str]], local_ip: str = ""
    ) -> StreamTicket:
        """POST gateway/connections/open: a one-use ticket (valid 90 s) for the Stream websocket."""
        payload = await self._request(
            "POST",
            self.settings.stream_open_url,
            body={
                "clientId": self.settings.client_id,
                "clientSecret": self.settings.client_secret.get_secret_value(),
                "subscriptions": list(subscriptions),
                "ua": _SDK_UA,
                "localIp": local_ip,
            },
            headers={
                "Accept": "application/json",
                "User-Agent": f"DingTalkStream/1.0 SDK/{VERSION_STRING} Python/{platform.python_version()} crmbot",
            },
        )
        endpoint, ticket = payload.get("endpoint"), payload.get("ticket")
        if not isinstance(endpoint, str) or not isinstance(ticket, str) or not endpoint or not ticket:
            raise DingTalkAPIError("open connection answer lacks endpoint/ticket", retryable=True)
        return StreamTicket(endpoint=endpoint, ticket=ticket)

    # -- robot messages -------------------------------------------------------------------------------

    async def batch_send(
        self, user_ids: Sequence[str], msg_key: str, msg_param: dict[str, Any]
    ) -> BatchSendReport:
        """One-to-one robot messages to any number of staff, 20 userIds per call."""
        ids = list(dict.fromkeys(u for u in user_ids if u))
        report = BatchSendReport()
        delivered: list[str] = []
        for start in range(0, len(ids), BATCH_SEND_MAX_USERS):
            chunk = ids[start : start + BATCH_SEND_MAX_USERS]
            try:
                payload = await self._api(
                    "POST",
                    "/v1.0/robot/oToMessages/batchSend",
                    {
                        "robotCode": self.settings.robot_code,
                        "userIds": chunk,
                        "msgKey": msg_key,
                        "msgParam": json.dumps(msg_param, ensure_ascii=False),
                    },
                )
            except DingTalkAPIError as exc:
                if not delivered:
                    raise
                raise BatchSendError(exc, delivered=delivered, pending=ids[start:]) from exc
            delivered.extend(chunk)
            if key := payload.get("processQueryKey"):
                report.process_query_keys.append(str(key))
            report.invalid_user_ids.extend(map(str, payload.get("invalidStaffIdList") or ()))
            report.flow_controlled_user_ids.extend(map(str, payload.get("flowControlledStaffIdList") or ()))
        return report

    # -- interactive cards ------------------------------------------------------------------------------

    async def create_and_deliver_card(
        self, *, user_id: str, out_track_id: str, param_map: dict[str, str], template_id: str | None = None
    ) -> dict[str, Any]:
        """Create an interactive card and deliver it to `user_id`'s one-to-one chat with the robot."""
        _check_param_map(param_map)
        return await self._api(
            "POST",
            "/v1.0/card/instances/createAndDeliver",
            {
                "cardTemplateId": template_id or self.settings.card_template_id,
                "outTrackId": out_track_id,
                "cardData": {"cardParamMap": param_map},
                "callbackType": "STREAM",
                "userIdType": 1,  # 1 = userId (staffId), 2 = unionId
                "openSpaceId": f"dtv1.card//IM_ROBOT.{user_id}",
                "imRobotOpenSpaceModel": {"supportForward": False},
                "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": self.settings.robot_code},
            },
        )

    async def update_card(self, *, out_track_id: str, param_map: dict[str, str]) -> dict[str, Any]:
        """Update a card's public data for everyone who sees it."""
        _check_param_map(param_map)
        return await self._api(
            "PUT",
            "/v1.0/card/instances",
            {
                "outTrackId": out_track_id,
                "cardData": {"cardParamMap": param_map},
                "cardUpdateOptions": {"updateCardDataByKey": True},
            },
        )

    # -- files users sent to the robot --------------------------------------------------------------------

    async def message_file_url(self, download_code: str) -> str:
        payload = await self._api(
            "POST",
            "/v1.0/robot/messageFiles/download",
            {"downloadCode": download_code, "robotCode": self.settings.robot_code},
        )
        url = payload.get("downloadUrl")
        if not isinstance(url, str) or not url:
            raise DingTalkAPIError("downloadUrl missing from DingTalk's answer", retryable=True)
        return url

    async def download_message_file(self, download_code: str, dest: Path) -> int:
        """Save a file a user sent to the robot into `dest`; returns its size in bytes."""
        url = await self.message_file_url(download_code)
        limit = self.settings.max_attachment_bytes
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        size = 0
        try:
            # A pre-signed URL: no token header, it would leak to the storage host.
            async with self._http().get(url) as resp:
                if resp.status >= 400:
                    raise DingTalkAPIError(
                        f"file download -> HTTP {resp.status}",
                        retryable=resp.status >= 500,
                        status=resp.status,
                    )
                with tmp.open("wb") as fh:
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        size += len(chunk)
                        if size > limit:
                            raise DingTalkAPIError(f"file larger than {limit} bytes", retryable=False)
                        fh.write(chunk)
            tmp.replace(dest)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DingTalkAPIError(f"network error downloading a file: {exc!r}", retryable=True) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return size


def _check_param_map(param_map: dict[str, str]) -> None:
    # DingTalk silently drops or rejects non-string values; catch the bug here, not in production.
    bad = [k for k, v in param_map.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise DingTalkAPIError(f"cardParamMap values must all be strings: {bad}", retryable=False)

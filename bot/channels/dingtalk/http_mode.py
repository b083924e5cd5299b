"""Optional outgoing-robot HTTP mode, for teams that cannot hold a Stream connection.

DingTalk POSTs each message the robot receives to our URL with headers `timestamp` (ms) and
`sign` = base64(HMAC-SHA256(key=appSecret, msg=timestamp + "\\n" + appSecret)). We check both,
record the message (same translation and dedupe as Stream) and answer at once with `{}`:
replies go out through the outbox, not in the response.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.channels.dingtalk.inbound import AcceptGate, Ignored, InboundTranslator, Malformed

log = logging.getLogger(__name__)

MAX_SKEW_MS = 60 * 60 * 1000  # DingTalk: reject a timestamp more than one hour off
MAX_BODY_BYTES = 256 * 1024


def sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(timestamp: str | None, signature: str | None, secret: str, *, now_ms: int) -> bool:
    if not timestamp or not signature or not secret or not timestamp.isdigit():
        return False
    if abs(now_ms - int(timestamp)) > MAX_SKEW_MS:
        return False
    return hmac.compare_digest(sign(timestamp, secret), signature)


def make_handler(
    secret: str,
    translator: InboundTranslator,
    gate: AcceptGate,
    *,
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        if not verify_signature(
            request.headers.get("timestamp"), request.headers.get("sign"), secret, now_ms=clock_ms()
        ):
            log.warning("DingTalk HTTP callback with a bad or stale signature from %s", request.remote)
            return web.json_response({"error": "invalid signature"}, status=403)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            data = json.loads(await request.text())
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        key = data.get("msgId") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            log.warning("DingTalk HTTP callback without msgId dropped")
            return web.json_response({})
        try:
            await gate.accept(key, lambda: translator.bot_message(data))
        except Ignored as exc:
            log.debug("DingTalk HTTP message ignored: %s", exc)
        except Malformed as exc:
            log.warning("DingTalk HTTP message dropped: %s", exc)
        return web.json_response({})

    return handle

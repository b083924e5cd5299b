"""The `/wecom/callback` endpoint: verify, decrypt, hand to the inbox, answer an empty 200.

Nothing slow happens here: media is not downloaded on the request path (an `Attachment` carries the
MediaId in `media_ref`; the work task calls `WeComSender.fetch_attachment`), and the router runs in
the dispatcher's tracked task. Bad input gets a 4xx and one warning line, never a 500; a dispatcher
(inbox) failure gets a 503 so that WeCom delivers the message again later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web

from bot.channels.wecom.crypto import CallbackRejected, WeComCrypto, parse_raw_query
from bot.channels.wecom.events import to_event
from bot.channels.wecom.settings import WeComSettings
from bot.types import Dispatcher

log = logging.getLogger("crmbot.wecom")


class WeComCallback:
    def __init__(
        self,
        settings: WeComSettings,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._crypto = WeComCrypto(
            settings.token,
            settings.aes_key,
            settings.corp_id,
            max_clock_skew_seconds=settings.max_clock_skew_seconds,
        )
        self._dispatcher = dispatcher
        self._clock = clock
        self._max_body = settings.max_body_bytes

    def register(self, app: web.Application, path: str = "/wecom/callback") -> None:
        app.router.add_get(path, self.handle_get)
        app.router.add_post(path, self.handle_post)

    @staticmethod
    def _reject(request: web.Request, exc: CallbackRejected) -> web.Response:
        log.warning("wecom callback rejected: %s (HTTP %d, from %s)", exc.reason, exc.status, request.remote)
        return web.Response(status=exc.status, text=exc.reason)

    async def handle_get(self, request: web.Request) -> web.Response:
        params = parse_raw_query(request.rel_url.raw_query_string)
        try:
            echo = self._crypto.verify_url(params, now=self._clock())
        except CallbackRejected as exc:
            return self._reject(request, exc)
        # The bare plain text: no quotes, BOM or newline, or WeCom reports the URL as invalid.
        return web.Response(text=echo, content_type="text/plain")

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self._max_body:
            raise CallbackRejected(f"body of {request.content_length} bytes is too large", 413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > self._max_body:  # chunked bodies carry no Content-Length
                raise CallbackRejected("body is too large", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    async def handle_post(self, request: web.Request) -> web.Response:
        params = parse_raw_query(request.rel_url.raw_query_string)
        try:
            body = await self._read_body(request)
            message = self._crypto.decrypt_body(body, params, now=self._clock())
            try:
                event = to_event(message)
            except ValueError as exc:
                raise CallbackRejected(f"unusable message: {exc}") from exc
        except CallbackRejected as exc:
            return self._reject(request, exc)

        if event is not None:
            try:
                accepted = await self._dispatcher.accept(event)
            except Exception:
                log.exception("wecom callback: the inbox refused the event; WeCom will deliver it again")
                return web.Response(status=503)
            if not accepted:
                log.debug("wecom callback: duplicate delivery dropped")
        return web.Response(status=200)

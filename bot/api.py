"""The HTTP API: `POST /api/calls` for the phone system (bearer token, idempotent by call_id)."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from aiohttp import web

from core.errors import InvalidInput

MAX_BODY = 256 * 1024


def setup(bot: Any) -> None:
    bot.web.router.add_post("/api/calls", _make_handler(bot))


def _make_handler(bot: Any) -> Any:
    async def post_call(request: web.Request) -> web.Response:
        token = bot.services.settings.api.token
        if not token:
            return _error(404, "API 未启用：请在 crmbot.toml 的 [api] token 中设置访问令牌。")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "访问令牌无效。")
        if (request.content_length or 0) > MAX_BODY:
            return _error(413, "请求体太大。")
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "请求体不是有效的 JSON。")
        from bot.calls import ingest

        try:
            result = await asyncio.get_running_loop().run_in_executor(
                bot.dispatcher.executor, ingest, bot.services, data)
        except InvalidInput as err:
            return _error(400, err.message)
        bot.kick()
        return web.json_response({"status": result.status, "call_id": result.call.call_id,
                                  "followup_id": result.call.followup_id, "message": result.message},
                                 status=200 if result.status == "duplicate" else 201)

    return post_call


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)

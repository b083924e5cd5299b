"""End-to-end fixtures: the whole crmbot app (build_app) on loopback, with platform fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import BotApp, build_app
from bot.clock import FakeClock
from core.usecases.users import DEMO_ORG, UserInput, upsert_users
from tests.conftest import make_settings


async def start_bot(db_url: str, tmp_path: Path, clock: FakeClock, **overrides: Any) -> tuple[BotApp, web.AppRunner, str]:
    settings = make_settings(db_url, tmp_path, **overrides)
    bot = build_app(settings, clock=clock)
    with bot.services.uow_factory() as uow:
        users = [UserInput(**{**u.__dict__, "wecom_userid": u.id.capitalize(), "dingtalk_staffid": f"staff_{u.id}"})
                 for u in DEMO_ORG]
        upsert_users(uow, "system", users, clock.now())
        uow.commit()
    runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return bot, runner, f"http://127.0.0.1:{port}"


async def eventually(check: Callable[[], Any], timeout: float = 45.0) -> Any:
    """Poll until `check()` returns something truthy (work runs in background tasks)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)

"""Wiring of the reminder scans: `install(services)` for `!advance` and the CLI, `setup(bot_app)`
for the running bot (an APScheduler 3.x job every minute, run in a worker thread).

`bot.app` calls both hooks when this module exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from bot.reminders.scans import build_engine, run_scans

if TYPE_CHECKING:
    from bot.app import BotApp
    from bot.services import Services

log = logging.getLogger(__name__)

JOB_ID = "crmbot-reminder-scans"


def install(services: Services) -> None:
    """Parse `[reminders]`, build the working-time engine, and register the scans."""
    services.extras["reminders"] = build_engine(services)
    scans = services.extras.setdefault("scans", [])
    if run_scans not in scans:
        scans.append(run_scans)


def setup(bot_app: BotApp) -> None:
    services = bot_app.services
    engine = services.extras.get("reminders")
    if engine is None or not engine.cfg.enabled:
        return
    state: dict[str, Any] = {}

    async def tick() -> None:
        state["task"] = asyncio.current_task()
        # the scans use a sync Session: run them in a worker thread, never on the event loop
        try:
            fired = await asyncio.to_thread(run_scans, services)
        except Exception:
            log.exception("reminder scans failed")
            return
        if any(n > 0 for n in fired.values()):
            bot_app.kick()  # wake the outbox drainer: the cards are waiting

    async def start(app: Any) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=services.tz)
        # one job for all scans; coalesce + max_instances=1: a slow run never piles up behind itself
        scheduler.add_job(
            tick,
            "interval",
            seconds=engine.cfg.scan_interval_seconds,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=_now(services),
        )
        scheduler.start()
        state["scheduler"] = scheduler

    async def stop(app: Any) -> None:
        scheduler = state.pop("scheduler", None)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        task = state.pop("task", None)
        if task is not None and not task.done():  # let a scan in flight finish its transaction
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=30)

    bot_app.web.on_startup.append(start)
    bot_app.web.on_cleanup.append(stop)


def _now(services: Services) -> Any:
    from datetime import datetime

    return datetime.now(services.tz)

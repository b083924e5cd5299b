"""The one wiring point: settings in, services and the aiohttp app out. Tests call it too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.api import setup as setup_api
from bot.clock import SystemClock
from bot.dedup_check import build_duplicate_check
from bot.dispatch import AsyncDispatcher
from bot.handlers import build_root_router
from bot.handlers.assignment import install as install_assignment
from bot.handlers.deals import install as install_stages
from bot.inbox_worker import InboxWorker
from bot.jobs import install as install_jobs
from bot.jobs import setup as setup_jobs
from bot.outbox import drain_once
from bot.reminders.scheduler import install as install_reminders
from bot.reminders.scheduler import setup as setup_reminders
from bot.services import Services
from bot.settings import Settings
from bot.types import ChannelSender
from bot.visibility import field_rules
from bot.workcal import build_work_calendar
from core.pipeline import Pipeline
from core.ports import Clock
from storage.db import create_db_engine, upgrade
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

BOT_KEY: web.AppKey[Any] = web.AppKey("crmbot", object)
OUTBOX_COALESCE_SECONDS = 0.005
OUTBOX_BATCH = 50


def _parser_factory(services_calendar: Any) -> Any:
    def load() -> Any:
        from bot.nlp.parser import Parser

        return Parser(calendar=services_calendar)

    return load


def build_calendar(settings: Settings) -> Any:
    return build_work_calendar(settings.calendar)


def build_dedup(settings: Settings) -> Any:
    return build_duplicate_check(settings.dedup)


def build_services(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Services:
    engine = create_db_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    calendar = build_calendar(settings)
    services = Services(
        settings=settings,
        clock=clock or SystemClock(),
        uow_factory=UnitOfWorkFactory(engine),
        router=build_root_router(),
        pipeline=Pipeline(),
        dedup=build_dedup(settings),
        tz=ZoneInfo(settings.timezone),
        calendar=calendar,
    )
    services.parser_factory = _parser_factory(calendar)
    install_reminders(services)  # the scans that the scheduler and `!advance` run
    install_stages(services)  # [pipeline]: checked at start, its stages used everywhere
    install_assignment(services)  # [assignment]: checked at start
    field_rules(services)  # [permissions]: checked at start
    install_jobs(services)  # tracked jobs (offboarding handovers) resume after a restart
    return services


Role = Literal["all", "web", "worker"]


class BotApp:
    """The running bot: services, channel senders, the dispatcher and background loops.

    Roles: "all" receives, handles and sends in one process (the default); with
    `crmbot serve --workers N` the "web" process receives, acks and runs the schedulers, and N
    "worker" processes (bot/inbox_worker.py) handle the inbox and send the replies.
    """

    def __init__(self, services: Services, role: Role = "all") -> None:
        self.services = services
        self.role = role
        self.senders: dict[str, ChannelSender] = {}
        self.dispatcher = AsyncDispatcher(services, on_done=self.kick, senders=self.senders, handle=role == "all")
        self.inbox_worker = InboxWorker(services, self.dispatcher)
        self.web = web.Application(client_max_size=2 * 1024 * 1024)
        self.web[BOT_KEY] = self
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._claimer: asyncio.Task[None] | None = None
        self.web.router.add_get("/healthz", self._healthz)
        self.web.on_startup.append(self._start)
        self.web.on_cleanup.append(self._stop)

    def kick(self) -> None:
        self._wake.set()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "channels": sorted(self.senders)})

    async def _start(self, app: web.Application) -> None:
        if self.role != "web" and self.services.parser_factory is not None:
            try:  # load jieba once, before traffic
                await asyncio.to_thread(lambda: self.services.parser)
            except ImportError:
                log.warning("free-text parser unavailable: only commands will work")
        if self.role == "all":
            await self.inbox_worker.recover()  # acked before a crash or kill, never handled
        if self.role == "worker":
            self._claimer = asyncio.create_task(self.inbox_worker.run())
            self._loops.append(self._claimer)
        if self.role != "web":
            self._loops.append(asyncio.create_task(self._outbox_loop()))

    async def _stop(self, app: web.Application) -> None:
        if self._claimer is not None:
            self.inbox_worker.stop()  # claims nothing more and finishes the batch in hand
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._claimer), 30)
        await self.dispatcher.drain()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.dispatcher.close()

    async def _outbox_loop(self) -> None:
        while True:
            self._wake.clear()  # before draining: a reply written meanwhile wakes the next round
            sent = 0
            try:
                if self.senders:
                    sent = await drain_once(self.services, self.senders, limit=OUTBOX_BATCH)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox drain failed")
            if sent >= OUTBOX_BATCH:
                continue  # more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                # replies written in the next few milliseconds go out in the same drain: under load a
                # drain per reply cost two transactions per message; the wait is not noticeable
                await asyncio.sleep(OUTBOX_COALESCE_SECONDS)


def build_app(settings: Settings, *, clock: Clock | None = None, services: Services | None = None,
              role: Role = "all") -> BotApp:
    services = services or build_services(settings, clock=clock, migrate=role != "worker")
    bot = BotApp(services, role)
    _attachments_under_data_dir(settings)
    inbound = role != "worker"
    if settings.wecom.enabled:
        from bot.channels.wecom import setup_wecom

        bot.senders["wecom"] = setup_wecom(bot.web, settings.wecom, bot.dispatcher, inbound=inbound)
    if settings.dingtalk.enabled:
        from bot.channels.dingtalk import setup_dingtalk

        bot.senders["dingtalk"] = setup_dingtalk(bot.web, settings.dingtalk, bot.dispatcher, inbound=inbound)
    if inbound:
        setup_api(bot)
        setup_reminders(bot)  # one scheduler: the scans run in the process that receives
        setup_jobs(bot)
    return bot


def _attachments_under_data_dir(settings: Settings) -> None:
    """Channel downloads go under the configured data dir unless a path was set explicitly."""
    for name, channel in (("wecom", settings.wecom), ("dingtalk", settings.dingtalk)):
        default = type(channel).model_fields["attachments_dir"].default
        if channel.attachments_dir == default:
            channel.attachments_dir = settings.data_dir / "attachments" / name

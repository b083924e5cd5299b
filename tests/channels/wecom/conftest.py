"""Fixtures: a fake WeCom, a bot app serving the callback, and an inbox-like collecting dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web

from bot.channels.wecom import CALLBACK_PATH, WeComSender, setup_wecom
from bot.channels.wecom.callback import WeComCallback
from bot.channels.wecom.settings import WeComSettings
from bot.types import CardAction, IncomingMessage
from tests.fakes.wecom import FakeWeCom, WeComDriver


class InboxDispatcher:
    """Dedupes by message_id / event_id like the inbox's unique key, and records what it accepted."""

    def __init__(self) -> None:
        self.events: list[IncomingMessage | CardAction] = []
        self.deliveries = 0
        self._seen: set[str] = set()
        self.fail = False

    async def accept(self, event: IncomingMessage | CardAction) -> bool:
        self.deliveries += 1
        if self.fail:
            raise RuntimeError("database is locked")
        key = event.message_id if isinstance(event, IncomingMessage) else event.event_id
        if key in self._seen:
            return False
        self._seen.add(key)
        self.events.append(event)
        return True


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Bot:
    url: str  # the callback URL
    dispatcher: InboxDispatcher
    settings: WeComSettings


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    server = FakeWeCom(hang_seconds=5.0)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def dispatcher() -> InboxDispatcher:
    return InboxDispatcher()


@pytest.fixture
async def make_bot(fake: FakeWeCom, dispatcher: InboxDispatcher) -> AsyncIterator[Callable[..., object]]:
    """Start a bot app with the callback for `settings` (default: the fake's) and an optional clock."""
    runners: list[web.AppRunner] = []

    async def start(settings: WeComSettings | None = None, clock: Callable[[], float] | None = None) -> Bot:
        cfg = settings or fake.settings()
        app = web.Application()
        if clock is None:
            setup_wecom(app, cfg, dispatcher)
        else:
            WeComCallback(cfg, dispatcher, clock=clock).register(app, CALLBACK_PATH)
        runner, base = await serve(app)
        runners.append(runner)
        return Bot(base + CALLBACK_PATH, dispatcher, cfg)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def bot(make_bot: Callable[..., object]) -> Bot:
    return await make_bot()  # type: ignore[misc]


@pytest.fixture
async def driver(fake: FakeWeCom, bot: Bot) -> AsyncIterator[WeComDriver]:
    async with WeComDriver(fake, bot.url) as d:
        yield d


@pytest.fixture
async def sender(fake: FakeWeCom, tmp_path: object) -> AsyncIterator[WeComSender]:
    app = web.Application()
    s = setup_wecom(
        app,
        fake.settings(request_timeout_seconds=0.5, attachments_dir=str(tmp_path)),
        InboxDispatcher(),
    )
    yield s
    await s.close()

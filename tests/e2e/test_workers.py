"""`crmbot serve --workers N`: the web process acks, worker processes handle and answer; and a
single process handles what it had acked but not handled before a crash."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select

from bot.app import build_app
from bot.clock import FakeClock
from bot.runtime import record_inbound
from bot.types import IncomingMessage
from bot.worker_pool import setup_worker_pool
from core.usecases.users import DEMO_ORG, UserInput, upsert_users
from storage.models import FollowUpRow, InboxRow
from tests.conftest import make_services, make_settings
from tests.e2e.conftest import eventually
from tests.fakes.wecom import FakeWeCom, WeComDriver


def _inbox(bot: object) -> dict[str, int]:
    with bot.services.uow_factory() as uow:  # type: ignore[attr-defined]
        return dict(uow.session.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all())


def _followups(bot: object) -> list[tuple[str, str, str | None]]:
    """(rep, next follow-up date, method) of each follow-up, in the order they were stored."""
    with bot.services.uow_factory() as uow:  # type: ignore[attr-defined]
        rows = uow.session.scalars(select(FollowUpRow).order_by(FollowUpRow.id))
        return [(f.user_id, f.next_followup_on.isoformat() if f.next_followup_on else "", f.method) for f in rows]


async def test_workers_handle_what_the_web_process_acked_in_each_senders_order(db_url: str, tmp_path: Path,
                                                                                 clock: FakeClock) -> None:
    fake = FakeWeCom()
    await fake.start()
    settings = make_settings(db_url, tmp_path, wecom=fake.settings().model_dump())
    bot = build_app(settings, clock=clock, role="web")
    with bot.services.uow_factory() as uow:
        users = [UserInput(**{**u.__dict__, "wecom_userid": u.id.capitalize()}) for u in DEMO_ORG]
        upsert_users(uow, "system", users, clock.now())
        uow.commit()
    pool = setup_worker_pool(bot.web, settings, 2)
    runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        async with WeComDriver(fake, f"{base}/wecom/callback") as driver:
            for rep in ("Zhangsan", "Lisi"):
                assert await driver.send_text(rep, f"/新客户 {rep}医疗 张伟 1381234{len(rep):04d}") == 200
            await eventually(lambda: len(fake.sent) == 2, 90)  # the workers start (and load jieba) first
            # each rep's follow-ups, sent at once: dates tell the order in which they were handled
            days = [f"2027-01-{d:02d}" for d in range(11, 19)]
            for day in days:
                for rep in ("Zhangsan", "Lisi"):
                    assert await driver.send_text(rep, f"/跟进 {rep}医疗 电话 推进 报价 {day}") == 200
            await eventually(lambda: len(fake.sent) == 2 + 2 * len(days), 60)
            assert bot.dispatcher.tasks == set()  # the web process handled nothing itself
            for rep in ("zhangsan", "lisi"):
                handled = [day for user, day, _ in _followups(bot) if user == rep]
                assert handled == days
            assert _inbox(bot) == {"done": 2 + 2 * len(days)}

            # a worker that dies is started again; its claimed rows would come back after the lease
            victim = pool.processes[0]
            assert victim is not None and victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            await eventually(lambda: pool.restarts == 1, 30)
            assert await driver.send_text("Zhangsan", "/跟进 Zhangsan医疗 拜访 推进 演示 2027-02-01") == 200
            await eventually(lambda: len(_followups(bot)) == 1 + 2 * len(days), 90)
    finally:
        await runner.cleanup()  # SIGTERM to the workers, which finish and exit
        await fake.close()
    for process in pool.processes:  # stopped by SIGTERM: each finished its batch and exited cleanly
        assert process is not None and not process.is_alive() and process.exitcode == 0


async def test_a_restart_handles_what_was_acked_but_not_handled(db_url: str, tmp_path: Path,
                                                               clock: FakeClock) -> None:
    services = make_services(db_url, tmp_path, clock)
    # acked before the crash: in the inbox, never handled
    record_inbound(services, IncomingMessage("console", "c1", "zhangsan", "/新客户 恒康医疗 张伟 13812345678"))
    record_inbound(services, IncomingMessage("console", "c2", "zhangsan", "/跟进 恒康医疗 拜访 推进 演示 2026-03-18"))
    services.uow_factory.engine.dispose()

    bot = build_app(make_settings(db_url, tmp_path), clock=clock)
    runner = web.AppRunner(bot.web)
    await runner.setup()  # on startup, before any new event
    try:
        assert _inbox(bot) == {"done": 2}
        assert _followups(bot) == [("zhangsan", "2026-03-18", "visit")]
        with bot.services.uow_factory() as uow:
            replies = [r.body for r in uow.outbox.claim_due(clock.now())]
        assert "客户已建档" in str(replies[0]) and "跟进已记录" in str(replies[1])
    finally:
        await runner.cleanup()


if sys.platform == "win32":  # pragma: no cover - flock and signals
    import pytest

    pytestmark = pytest.mark.skip("worker processes need POSIX")

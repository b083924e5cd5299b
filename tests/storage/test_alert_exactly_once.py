"""Exactly once across processes: two scanner processes on one PostgreSQL database, and a scanner
that dies between the scan and the send. Nothing is sent twice and nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from bot.outbox import drain_once
from bot.services import Services
from bot.types import Card, SendResult
from storage.models import AlertRow, CardRow, CustomerRow, DealRow, OutboxRow
from tests.conftest import PG_URL

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
N = 300
DUE_DAY = datetime(2026, 3, 11, tzinfo=TZ).date()
SCAN_AT = datetime(2026, 3, 11, 9, 30, tzinfo=TZ)

CHILD = textwrap.dedent("""
    import os, sys, time
    from datetime import datetime
    from bot.app import build_services
    from bot.clock import FakeClock
    from bot.reminders.scans import run_scans
    from bot.settings import load_settings

    url, when, mode, barrier, data_dir = sys.argv[1:6]
    settings = load_settings(None, database_url=url, data_dir=data_dir, reminders={"batch_size": 25})
    services = build_services(settings, clock=FakeClock(datetime.fromisoformat(when)), migrate=False)
    if mode == "crash":  # fault injection: the process dies where it would commit
        import storage.uow
        storage.uow.SqlUnitOfWork.commit = lambda self: os._exit(3)
    while not os.path.exists(barrier):
        time.sleep(0.002)
    print(run_scans(services)["scan_followups"])
""")


def seed_due_deals(services: Services, n: int = N) -> None:
    now = services.clock.now()
    with services.uow_factory() as uow:
        s = uow.session
        s.execute(
            insert(CustomerRow),
            [
                {
                    "id": i,
                    "name": f"客户{i}",
                    "name_key": f"客户{i}",
                    "owner_id": "zhangsan",
                    "team": "华东一组",
                    "status": "active",
                    "source": "bench",
                    "lead_state": "contacted",
                    "assigned_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        s.execute(
            insert(DealRow),
            [
                {
                    "id": i,
                    "customer_id": i,
                    "owner_id": "zhangsan",
                    "title": f"商机{i}",
                    "stage": "demo",
                    "status": "open",
                    "pain_points": [],
                    "stage_entered_at": now,
                    "next_followup_on": DUE_DAY,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        uow.commit()


def scanner(services: Services, tmp_path: Path, mode: str, barrier: Path) -> subprocess.Popen[str]:
    url = services.settings.database_url
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, SCAN_AT.isoformat(), mode, str(barrier), str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def counts(services: Services) -> tuple[int, int, int]:
    with services.uow_factory() as uow:
        s = uow.session
        alerts = s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.rule == "followup"))
        cards = s.scalar(select(func.count()).select_from(CardRow))
        outbox = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == "card"))
        return int(alerts or 0), int(cards or 0), int(outbox or 0)


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (set CRMBOT_TEST_DATABASE_URL)")
def test_two_scanner_processes_on_postgresql_fire_each_alert_once(services: Services, tmp_path: Path) -> None:
    if services.uow_factory.engine.dialect.name != "postgresql":
        pytest.skip("the concurrent scanners test runs on PostgreSQL")
    seed_due_deals(services)
    barrier = tmp_path / "go"
    procs = [scanner(services, tmp_path, "scan", barrier) for _ in range(2)]
    barrier.touch()  # both start scanning the same rows at the same moment
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    fired = [int(out.strip().splitlines()[-1]) for out, _ in results]
    assert sum(fired) == N  # split between them, whatever the interleaving
    assert counts(services) == (N, N, N)
    with services.uow_factory() as uow:
        keys = uow.session.execute(select(AlertRow.subject_id, AlertRow.card_id)).all()
        linked = uow.session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.card_id.in_([c for _, c in keys]))
        )
    assert len({k for k, _ in keys}) == N and linked == N  # every alert's card is in the outbox


class RecordingSender:
    name = "console"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, to: str, text: str) -> SendResult:
        self.sent.append(text)
        return SendResult()

    async def send_card(self, to: str, card: Card, *, card_id: str) -> SendResult:
        self.sent.append(card_id)
        return SendResult(ref=card_id)

    async def update_card(self, to: str, card: Card, *, card_id: str, ref: SendResult) -> SendResult:
        return ref


async def test_a_crash_between_scan_and_send_loses_nothing_and_repeats_nothing(
    services: Services, tmp_path: Path
) -> None:
    seed_due_deals(services, 60)
    barrier = tmp_path / "go"
    barrier.touch()
    crashed = scanner(services, tmp_path, "crash", barrier)
    crashed.communicate(timeout=60)
    assert crashed.returncode == 3
    assert counts(services) == (0, 0, 0)  # died before its commit: nothing half-written

    ok = scanner(services, tmp_path, "scan", barrier)  # the restart
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert counts(services) == (60, 60, 60)

    # it dies again after the commit, before the drainer sent anything; the next start scans again
    again = scanner(services, tmp_path, "scan", barrier)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0 and out.strip().splitlines()[-1] == "0", (out, err)
    assert counts(services) == (60, 60, 60)

    sender = RecordingSender()
    services.clock.set(SCAN_AT + timedelta(minutes=1))  # type: ignore[attr-defined]
    while await drain_once(services, {"console": sender}):
        pass
    assert len(sender.sent) == 60 and len(set(sender.sent)) == 60
    assert await drain_once(services, {"console": sender}) == 0

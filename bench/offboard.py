"""Offboarding benchmark: a rep with 20,000 customers and 50,000 open reminders leaves.

Prints the handover job's duration (target < 30 s on SQLite), the rows it wrote, and — against the
fake WeCom on 127.0.0.1 — the 离职继承 API calls for the 20,000 external contacts (≈ 200 transfer calls
of 100, plus the transfer_result pages of one poll). The baseline is a raw bulk UPDATE of the same
customers' owner in the same process: what the job costs beyond the bare change (Assignment rows,
audit entries, alerts, job items, batches with one transaction each).

    .venv/bin/python bench/offboard.py [--quick] [--customers N] [--alerts N] [--batch N] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import jobs
from bot.app import build_services
from bot.clock import FakeClock
from bot.settings import load_settings
from core.usecases import offboarding as uc
from core.usecases.users import DEMO_ORG, UserInput, upsert_users
from storage.models import (
    AlertRow,
    AssignmentRow,
    AuditRow,
    ContactRow,
    CustomerRow,
    DealRow,
    JobItemRow,
)

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def fixture(services: object, customers: int, alerts: int) -> None:
    """Bulk-insert the leaver's book: customers, one contact (with a WeCom id) and one open deal each,
    and open follow-up alerts spread over the deals."""
    with services.uow_factory() as uow:  # type: ignore[attr-defined]
        users = [UserInput(**{**u.__dict__, "wecom_userid": u.id.capitalize()}) for u in DEMO_ORG]
        upsert_users(uow, "system", users, NOW)
        s = uow.session
        step = 5000
        for start in range(0, customers, step):
            ids = range(start + 1, min(customers, start + step) + 1)
            s.execute(
                insert(CustomerRow),
                [
                    {
                        "id": i,
                        "name": f"客户{i:06d}",
                        "name_key": f"客户{i:06d}",
                        "owner_id": "zhangsan",
                        "team": "华东一组",
                        "region": "华东",
                        "status": "active",
                        "source": "import",
                        "lead_state": "contacted",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(ContactRow),
                [
                    {
                        "customer_id": i,
                        "name": f"联系人{i}",
                        "phone": f"139{i:08d}",
                        "phone_norm": f"139{i:08d}",
                        "external_userid": f"wm{i:08d}",
                        "created_at": NOW,
                    }
                    for i in ids
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
                        "stage": "quote",
                        "status": "open",
                        "amount": 1000.0 * (i % 500),
                        "pain_points": [],
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in ids
                ],
            )
        rows = []
        for n in range(alerts):
            deal = n % customers + 1
            rows.append(
                {
                    "rule": "followup",
                    "subject_type": "deal",
                    "subject_id": deal,
                    "level": 1,
                    "window": f"w{n // customers}",
                    "recipient_id": "zhangsan",
                    "created_at": NOW,
                    "state": "open",
                }
            )
            if len(rows) == step:
                s.execute(insert(AlertRow), rows)
                rows = []
        if rows:
            s.execute(insert(AlertRow), rows)
        uow.commit()


def count(services: object, model: type, *where: object) -> int:
    with services.uow_factory() as uow:  # type: ignore[attr-defined]
        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where)))  # type: ignore[arg-type]


def baseline(services: object, customers: int) -> float:
    """A raw UPDATE of every owner and back, rolled back: the floor for the same change."""
    with services.uow_factory() as uow:  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        uow.session.execute(
            update(CustomerRow).where(CustomerRow.owner_id == "zhangsan").values(owner_id="lisi")
        )
        uow.session.execute(update(DealRow).where(DealRow.owner_id == "zhangsan").values(owner_id="lisi"))
        uow.session.execute(
            update(AlertRow).where(AlertRow.recipient_id == "zhangsan").values(recipient_id="lisi")
        )
        elapsed = time.perf_counter() - t0
        uow.rollback()
    return elapsed


async def wecom_part(services: object, job_id: int) -> tuple[int, int, float]:
    from bot.channels.wecom.client import WeComClient
    from tests.fakes.wecom import FakeWeCom

    fake = FakeWeCom(transfer_page_size=1000)
    await fake.start()
    client = WeComClient(fake.settings())
    try:
        t0 = time.perf_counter()
        rounds = 0
        while rounds < 10:
            rounds += 1
            await jobs.wecom_round(services, job_id, client)  # type: ignore[arg-type]
            job = jobs._load(services, job_id)  # type: ignore[arg-type]
            if job is None or job.state == "done":
                break
        elapsed = time.perf_counter() - t0
        return (
            fake.calls_to("externalcontact/resigned/transfer_customer"),
            fake.calls_to("externalcontact/resigned/transfer_result"),
            elapsed,
        )
    finally:
        await client.close()
        await fake.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2,000 customers and 5,000 reminders")
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--alerts", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--database", help="数据库地址（默认：临时 SQLite 文件）")
    args = p.parse_args()
    customers, alerts = (2_000, 5_000) if args.quick else (args.customers, args.alerts)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(None, database_url=url, data_dir=tmp)
        services = build_services(settings, clock=FakeClock(NOW))
        t0 = time.perf_counter()
        fixture(services, customers, alerts)
        print(
            f"fixture: {customers:,} customers (one contact and one open deal each), "
            f"{alerts:,} open reminders, {time.perf_counter() - t0:.1f} s"
        )
        raw = baseline(services, customers)

        with services.uow_factory() as uow:
            assigner = jobs.lead_assigner(services)
            hr = uow.users.get("chenjing")
            assert hr is not None
            job = uc.start(
                uow,
                hr,
                "zhangsan",
                None,
                NOW,
                today=assigner.today(NOW),
                config=assigner.config,
                reason="bench",
                wecom=True,
            )
            uow.commit()
        jobs.job_settings(services).batch = args.batch
        t0 = time.perf_counter()
        steps = jobs.run_pending(services)
        elapsed = time.perf_counter() - t0
        moved = count(services, CustomerRow, CustomerRow.owner_id.in_(["lisi", "wangwu"]))
        left = count(services, AlertRow, AlertRow.recipient_id == "zhangsan", AlertRow.state == "open")
        print(
            f"job (database part, round robin to 李四/王五, batches of {args.batch}): {elapsed:.1f} s, "
            f"{steps} transactions — target < 30 s"
        )
        print(f"  customers moved {moved:,}/{customers:,}; open reminders left with the leaver: {left}")
        print(
            f"  rows written: assignments {count(services, AssignmentRow):,}, audit {count(services, AuditRow):,}, "
            f"job items {count(services, JobItemRow):,}"
        )
        print(
            f"  raw baseline (3 bulk UPDATEs, no history): {raw:.2f} s → job/baseline = {elapsed / raw:.0f}×"
        )
        transfers, results, w_elapsed = asyncio.run(wecom_part(services, job.id or 0))
        contacts = count(services, JobItemRow, JobItemRow.subject_type == "contact")
        print(
            f"WeCom 离职继承 (fake on 127.0.0.1): {contacts:,} contacts → {transfers} transfer_customer calls "
            f"(≤100 each) + {results} transfer_result pages (1,000 per page) = {transfers + results} calls, "
            f"{w_elapsed:.1f} s"
        )
        services.uow_factory.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

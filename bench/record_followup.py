"""Follow-ups recorded per second through router + use case + SQLite, beside a raw insert baseline.

    python bench/record_followup.py [--n 3000] [--database sqlite:///path]

Each follow-up goes the whole way a chat message goes: inbox insert, user lookup, command
parsing, customer lookup, the record_followup use case with its deal update and audit entries,
the reply card in the outbox, commit. The baseline inserts the same number of follow-up rows with
plain SQLAlchemy Core, one transaction each, in the same run and database kind.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

# bench/ holds dingtalk_stream.py, which would shadow the SDK package of that name
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.runtime import handle_event, record_inbound  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.types import IncomingMessage  # noqa: E402
from core.usecases.customers import NewCustomer, create_customer  # noqa: E402
from core.usecases.users import DEMO_ORG, upsert_users  # noqa: E402
from storage.models import FollowUpRow  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--database")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database or f"sqlite:///{tmp}/bench.db"
    clock = FakeClock(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    services = build_services(load_settings(None, database_url=url, data_dir=tmp), clock=clock)
    with services.uow_factory() as uow:
        upsert_users(uow, "bench", DEMO_ORG, clock.now())
        rep = uow.users.get("zhangsan")
        for i in range(50):
            create_customer(uow, rep, NewCustomer(f"客户{i:03d}科技", f"联系人{i}", f"1380000{i:04d}"), clock.now(),
                            dedup=services.dedup, pipeline=services.pipeline, force_new=True)
        uow.commit()

    latencies = []
    start = time.perf_counter()
    for i in range(args.n):
        t0 = time.perf_counter()
        event = IncomingMessage("console", uuid.uuid4().hex, "zhangsan", f"/跟进 客户{i % 50:03d}科技 电话 推进 报价 -")
        inbox_id = record_inbound(services, event)
        handle_event(services, event, inbox_id)
        latencies.append(time.perf_counter() - t0)
    full = args.n / (time.perf_counter() - start)

    engine = services.uow_factory.engine
    start = time.perf_counter()
    for i in range(args.n):
        with engine.begin() as conn:
            conn.execute(insert(FollowUpRow).values(customer_id=1 + (i % 50), user_id="zhangsan",
                                                    occurred_at=clock.now(), source="command", method="phone",
                                                    raw_text="x", pain_points=[], extracted={},
                                                    created_at=clock.now()))
    raw = args.n / (time.perf_counter() - start)
    print(f"database: {engine.dialect.name}   follow-ups: {args.n}")
    print(f"whole path (inbox → router → use case → outbox, 2 transactions): {full:,.0f} follow-ups/s   "
          f"p50 {statistics.median(latencies) * 1000:.2f} ms   p99 {pct(latencies, 0.99) * 1000:.2f} ms")
    print(f"raw SQLAlchemy insert baseline (1 transaction each):        {raw:,.0f} rows/s")
    print(f"ratio whole path / raw insert: {full / raw:.2f}   (targets: ≥ 1,000/s and ratio ≥ 0.3)")


if __name__ == "__main__":
    main()

"""Reminder scans at scale: each scan's duration when nothing is due, and alerts/s when many are,
beside the same candidate query run raw (DB-API cursor, no ORM) in the same process.

    python bench/scan.py                       # 1,000,000 deals, 5,000,000 follow-ups; SQLite + PostgreSQL
    python bench/scan.py --quick               # 100,000 deals, 500,000 follow-ups
    python bench/scan.py --deals N --followups M --due K [--sqlite-only] [--pg URL]

PostgreSQL is used when reachable (`--pg`, else $CRMBOT_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/test), in a throw-away schema. Targets: each scan < 50 ms
when nothing is due; ≥ 5,000 alerts/s written when many are.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bot.app import build_services
from bot.clock import FakeClock
from bot.reminders import scans
from bot.settings import load_settings
from core import reminders as rules
from core.usecases.users import DEMO_ORG, upsert_users
from storage.reminder_queries import SqlReminderQueries

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=TZ)  # a Tuesday morning
REPS = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhouba"]
TEAM = {
    "zhangsan": "华东一组",
    "lisi": "华东一组",
    "wangwu": "华东一组",
    "zhaoliu": "华南一组",
    "sunqi": "华南一组",
    "zhouba": "华南一组",
}
STAGES = ["lead", "qualified", "needs_confirmed", "demo", "quote", "contract_review"]
CHUNK = 50_000


# ---------------------------------------------------------------------- data
def deal_rows(n: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Nothing due: next follow-ups in the future or long past (already handled), recent stage moves."""
    today = NOW.date()
    for i in range(1, n + 1):
        rep = REPS[i % len(REPS)]
        status = "open" if i % 10 < 7 else ("won" if i % 2 else "lost")
        if rng.random() < 0.6:
            nxt: date | None = today + timedelta(days=rng.randint(1, 120))
        elif rng.random() < 0.8:
            nxt = today - timedelta(days=rng.randint(30, 700))
        else:
            nxt = None
        stage = STAGES[i % len(STAGES)] if status == "open" else status
        entered = (
            NOW - timedelta(hours=rng.randint(0, 40))
            if rng.random() < 0.5
            else NOW - timedelta(days=rng.randint(60, 900))
        )
        last = NOW - timedelta(days=rng.randint(0, 30), minutes=rng.randint(0, 600))
        yield (i, i, rep, f"商机{i}", stage, status, entered, last, nxt, NOW - timedelta(days=900), NOW, "[]")


def customer_rows(n: int) -> Iterator[tuple[Any, ...]]:
    old = NOW - timedelta(days=900)
    for i in range(1, n + 1):
        rep = REPS[i % len(REPS)]
        yield (i, f"客户{i}", f"客户{i}", rep, TEAM[rep], "active", "bench", "contacted", old, old, old)


def followup_rows(m: int, deals: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for i in range(1, m + 1):
        d = rng.randint(1, deals)
        at = NOW - timedelta(days=rng.randint(0, 900), minutes=rng.randint(0, 1440))
        yield (
            i,
            d,
            d,
            REPS[d % len(REPS)],
            at,
            "phone",
            "chat",
            "hold",
            f"电话沟通 {i}",
            at,
            "active",
            "[]",
            "{}",
        )


CUSTOMER_COLS = (
    "id",
    "name",
    "name_key",
    "owner_id",
    "team",
    "status",
    "source",
    "lead_state",
    "assigned_at",
    "created_at",
    "updated_at",
)
DEAL_COLS = (
    "id",
    "customer_id",
    "owner_id",
    "title",
    "stage",
    "status",
    "stage_entered_at",
    "last_followup_at",
    "next_followup_on",
    "created_at",
    "updated_at",
    "pain_points",
)
FOLLOWUP_COLS = (
    "id",
    "customer_id",
    "deal_id",
    "user_id",
    "occurred_at",
    "method",
    "source",
    "conclusion",
    "raw_text",
    "created_at",
    "status",
    "pain_points",
    "extracted",
)


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return v


def fill(engine: Any, n_deals: int, n_followups: int) -> float:
    rng = random.Random(42)
    t0 = time.perf_counter()
    tables = [
        ("customers", CUSTOMER_COLS, customer_rows(n_deals)),
        ("deals", DEAL_COLS, deal_rows(n_deals, rng)),
        ("followups", FOLLOWUP_COLS, followup_rows(n_followups, n_deals, rng)),
    ]
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            cur = raw.cursor()
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.execute("PRAGMA synchronous=OFF")
            for name, cols, rows in tables:
                sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                batch: list[tuple[Any, ...]] = []
                for row in rows:
                    batch.append(tuple(_sqlite_value(v) for v in row))
                    if len(batch) >= CHUNK:
                        cur.executemany(sql, batch)
                        batch.clear()
                if batch:
                    cur.executemany(sql, batch)
                raw.commit()
            cur.execute("ANALYZE")
            raw.commit()
        else:
            cur = raw.cursor()
            for name, cols, rows in tables:
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()
            for name, _, _ in tables:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- measuring
def median_ms(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def raw_query_ms(engine: Any, stmt: Any, repeat: int = 5) -> tuple[float, int]:
    """The same candidate query, compiled once by SQLAlchemy, executed on the bare DB-API cursor."""
    compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    processors = compiled._bind_processors  # apply the column types' conversions (UTC datetimes, dates)
    bound = {k: (processors[k](v) if k in processors else v) for k, v in params.items()}
    sql = str(compiled)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            sql_params: Any = tuple(bound[k] for k in compiled.positiontup)
        else:
            sql_params = bound
        times, rows = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            cur.execute(sql, sql_params)
            rows = len(cur.fetchall())
            times.append((time.perf_counter() - t0) * 1000)
        raw.rollback()
    finally:
        raw.close()
    return statistics.median(times), rows


def candidate_queries(services: Any, engine_: Any) -> dict[str, Any]:
    cfg, wt = engine_.cfg, engine_.wt
    q = SqlReminderQueries(None)  # type: ignore[arg-type]  # only builds statements here
    lo, hi = rules.followup_date_range(NOW, wt, cfg)
    groups = scans._stall_limits(engine_)
    ranges = [(stages, *rules.stall_entry_range(NOW, wt, cfg, limit)) for limit, stages in groups.items()]
    ulo, uhi = rules.hours_range(NOW, wt, cfg, cfg.untouched_work_hours)
    alo, ahi = rules.hours_range(NOW, wt, cfg, cfg.unassigned_work_hours)
    return {
        "scan_followups": q.followup_query(lo, hi),
        "scan_stalls": q.stall_query(ranges),
        "scan_untouched": q.untouched_query(ulo, uhi),
        "scan_unassigned": q.unassigned_query(alo, ahi),
    }


def bench(url: str, label: str, n_deals: int, n_followups: int, n_due: int) -> None:
    clock = FakeClock(NOW)
    tmp = tempfile.mkdtemp()
    services = build_services(load_settings(None, database_url=url, data_dir=tmp), clock=clock)
    engine = services.uow_factory.engine
    with services.uow_factory() as uow:
        upsert_users(uow, "bench", DEMO_ORG, NOW)
        uow.commit()
    print(
        f"\n== {label}: filling {n_deals:,} deals (+ {n_deals:,} customers) and {n_followups:,} follow-ups …",
        flush=True,
    )
    took = fill(engine, n_deals, n_followups)
    print(f"   filled in {took:.0f} s")
    eng = scans.engine_of(services)
    queries = candidate_queries(services, eng)

    print(f"   {'scan (nothing due)':<22}{'scan ms':>10}{'raw query ms':>15}{'rows':>8}{'fired':>7}")
    for scan in scans.SCANS:
        ms, fired = median_ms(lambda scan=scan: scan(services, eng, NOW))
        raw_ms, rows = raw_query_ms(engine, queries[scan.__name__]) if scan.__name__ in queries else (0.0, 0)
        raw_txt = f"{raw_ms:>15.2f}" if scan.__name__ in queries else f"{'—':>15}"
        mark = "ok" if ms < 50 else "SLOW"
        print(f"   {scan.__name__:<22}{ms:>10.2f}{raw_txt}{rows:>8}{fired:>7}  {mark}")

    # many due: n_due open deals whose follow-up is today, never followed up since
    step = max(1, n_deals // n_due)
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "UPDATE deals SET next_followup_on = :d, last_followup_at = :old, status = 'open' "
                "WHERE id % :step = 0 AND id <= :limit"
            ),
            {
                "d": NOW.date() if engine.dialect.name != "sqlite" else NOW.date().isoformat(),
                "old": (NOW - timedelta(days=3))
                if engine.dialect.name != "sqlite"
                else _sqlite_value(NOW - timedelta(days=3)),
                "step": step,
                "limit": step * n_due,
            },
        )
        due = result.rowcount
        conn.execute(text("UPDATE customers SET status = 'active'"))
    raw_ms, rows = raw_query_ms(engine, queries["scan_followups"], repeat=3)
    t0 = time.perf_counter()
    fired = scans.scan_followups(services, eng, NOW)
    secs = time.perf_counter() - t0
    again_ms, again = median_ms(lambda: scans.scan_followups(services, eng, NOW), repeat=3)
    rate = fired / secs if secs else 0.0
    print(
        f"   many due: {due:,} deals due today → {fired:,} alerts + cards + outbox rows in {secs:.2f} s = "
        f"{rate:,.0f} alerts/s  ({'ok' if rate >= 5000 else 'BELOW 5,000/s'}); raw candidate query "
        f"{raw_ms:.1f} ms for {rows:,} rows"
    )
    print(f"   the same scan again (all {due:,} already in the ledger): {again_ms:.1f} ms, fired {again}")
    engine.dispose()


def pg_url(explicit: str | None) -> str | None:
    url = (
        explicit or os.environ.get("CRMBOT_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    )
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench_scan CASCADE")
            conn.execute("CREATE SCHEMA bench_scan")
    except Exception as exc:  # not reachable: SQLite only
        print(f"(PostgreSQL not reachable at {url}: {exc}; SQLite only)")
        return None
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3Dbench_scan"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deals", type=int)
    ap.add_argument("--followups", type=int)
    ap.add_argument("--due", type=int, default=20_000, help="deals due at once for the alerts/s figure")
    ap.add_argument("--quick", action="store_true", help="100,000 deals and 500,000 follow-ups")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--pg", metavar="URL")
    args = ap.parse_args()
    n_deals = args.deals or (100_000 if args.quick else 1_000_000)
    n_followups = args.followups or (500_000 if args.quick else 5_000_000)
    n_due = min(args.due, n_deals)
    tmp = tempfile.mkdtemp()
    bench(f"sqlite:///{tmp}/scan.db", "SQLite", n_deals, n_followups, n_due)
    if not args.sqlite_only:
        url = pg_url(args.pg)
        if url:
            bench(url, "PostgreSQL", n_deals, n_followups, n_due)
            import psycopg

            with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
                conn.execute("DROP SCHEMA IF EXISTS bench_scan CASCADE")


if __name__ == "__main__":
    main()

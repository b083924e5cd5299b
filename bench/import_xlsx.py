"""Import benchmark (issue 5, part c). Not a test: prints figures beside a raw baseline.

    .venv/bin/python bench/import_xlsx.py                 # 100,000 rows, SQLite and PostgreSQL
    .venv/bin/python bench/import_xlsx.py --rows 20000
    .venv/bin/python bench/import_xlsx.py --quick         # 3,000 rows, a smoke run

A sheet of synthetic customers (bench/gen_customers.py's generator: noisy phones, company spellings,
duplicates) is written as .xlsx, then for each database (SQLite in a temporary file; PostgreSQL at
CRMBOT_BENCH_PG, default postgresql://postgres@127.0.0.1:5432/test, in a throw-away schema, when it
answers):
  crmbot import   the real path — read with openpyxl (read-only), validate, group the file's own
                  duplicates, check against the database, write through create_customer (duplicate
                  check, 线索 deal, round robin, audit) in transactions of 500 rows;
  raw baseline    the same xlsx read with openpyxl, then one plain executemany INSERT of every row
                  into `customers` and one into `contacts`, one transaction — what a loader that
                  checks nothing would do.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_customers import HEADER, Generator  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def write_xlsx(path: Path, n: int, seed: int = 3) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(HEADER)
    for row in Generator(seed).rows(n):
        ws.append(row)
    wb.save(path)


def pg_schema(base: str) -> tuple[str, Callable[[], None]] | None:
    """A throw-away schema on the PostgreSQL server, or None when it does not answer."""
    try:
        import psycopg

        plain = base.replace("postgresql+psycopg://", "postgresql://")
        schema = "bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # not installed, not running, refused: skip PostgreSQL
        print(f"  (PostgreSQL at {base} not reachable: {exc.__class__.__name__}; skipped)")
        return None

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def services_for(url: str, data_dir: Path) -> Any:
    from bot.app import build_services
    from bot.settings import load_settings
    from core.usecases.users import DEMO_ORG, upsert_users

    services = build_services(load_settings(None, database_url=url, data_dir=str(data_dir)))
    with services.uow_factory() as uow:
        upsert_users(uow, "system", DEMO_ORG, services.clock.now())
        uow.commit()
    return services


def bench_import(url: str, sheet: Path, workdir: Path) -> tuple[float, float, dict[str, Any]]:
    from bot.importer import execute, plan_import, resolve_actor

    services = services_for(url, workdir)
    try:
        actor = resolve_actor(services, None)
        t0 = time.perf_counter()
        with plan_import(services, sheet) as plan:
            t1 = time.perf_counter()
            report = execute(services, plan, actor)
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1, report.summary
    finally:
        services.uow_factory.engine.dispose()


def read_rows(sheet: Path) -> list[tuple[str, ...]]:
    from openpyxl import load_workbook

    wb = load_workbook(sheet, read_only=True, data_only=True)
    try:
        rows = wb.worksheets[0].iter_rows(min_row=2, values_only=True)
        return [tuple("" if v is None else str(v) for v in r) for r in rows]
    finally:
        wb.close()


def bench_raw(url: str, sheet: Path) -> tuple[float, float]:
    """(read seconds, insert seconds) of a loader that checks nothing."""
    from sqlalchemy import insert, select

    from storage.db import create_db_engine, upgrade
    from storage.models import ContactRow, CustomerRow

    engine = create_db_engine(url)
    upgrade(engine)
    try:
        t0 = time.perf_counter()
        rows = read_rows(sheet)
        t1 = time.perf_counter()
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                insert(CustomerRow),
                [
                    {
                        "name": r[2] or "-",
                        "name_key": r[2],
                        "source": "import",
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for r in rows
                ],
            )
            first = conn.scalar(select(CustomerRow.id).order_by(CustomerRow.id).limit(1)) or 1
            conn.execute(
                insert(ContactRow),
                [
                    {
                        "customer_id": first + i,
                        "name": r[1],
                        "phone": r[3] or None,
                        "email": r[4] or None,
                        "created_at": now,
                    }
                    for i, r in enumerate(rows)
                ],
            )
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1
    finally:
        engine.dispose()


def report(
    name: str, n: int, plan_s: float, write_s: float, summary: dict[str, Any], raw: tuple[float, float]
) -> None:
    total = plan_s + write_s
    raw_total = sum(raw)
    print(f"  {name}:")
    print(
        f"    crmbot import  {total:7.1f} s = {n / total:7,.0f} rows/s   (read+validate+group+check {plan_s:.1f} s, "
        f"write {write_s:.1f} s = {n / write_s:,.0f} rows/s)"
    )
    print(
        f"    raw baseline   {raw_total:7.1f} s = {n / raw_total:7,.0f} rows/s   (openpyxl read {raw[0]:.1f} s, "
        f"executemany {raw[1]:.1f} s = {n / raw[1]:,.0f} rows/s)"
    )
    print(
        f"    → import is ×{total / raw_total:.0f} the raw load; result: {summary.get('created', 0):,} customers, "
        f"{summary.get('joined', 0):,} rows joined a customer of the file, {summary.get('linked', 0):,} linked, "
        f"{summary.get('review_items', 0):,} review groups, {summary.get('invalid', 0):,} invalid"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="3,000 rows, for a smoke run")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    n = 3_000 if args.quick else args.rows
    print(f"import benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}, {n:,} rows")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sheet = work / "customers.xlsx"
        t0 = time.perf_counter()
        write_xlsx(sheet, n)
        print(
            f"  sheet: {sheet.stat().st_size / 1e6:.1f} MB xlsx, generated in {time.perf_counter() - t0:.0f} s"
        )
        if not args.skip_sqlite:
            plan_s, write_s, summary = bench_import(f"sqlite:///{work / 'import.db'}", sheet, work)
            raw = bench_raw(f"sqlite:///{work / 'raw.db'}", sheet)
            report("SQLite (file, WAL)", n, plan_s, write_s, summary, raw)
        if not args.skip_pg:
            base = os.environ.get("CRMBOT_BENCH_PG", PG_DEFAULT)
            made = pg_schema(base)
            if made is not None:
                url, drop = made
                try:
                    plan_s, write_s, summary = bench_import(url, sheet, work)
                finally:
                    drop()
                made = pg_schema(base)
                assert made is not None
                url, drop = made
                try:
                    raw = bench_raw(url, sheet)
                finally:
                    drop()
                report("PostgreSQL (psycopg 3, loopback)", n, plan_s, write_s, summary, raw)
    print(f"  peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

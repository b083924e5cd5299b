"""Lead assignment throughput: the real round robin vs a plain round-robin counter, same run, same database.

    python bench/assign.py [--quick] [--leads 100000] [--reps 500] [--teams 20] [--batch 500]
                           [--pg postgresql://postgres@127.0.0.1:5432/test | --no-pg]

Leads arrive as import batches spread over 20 teams (two teams per region, reps with one or two
product lines, capacity 15). The measured path is `LeadAssigner.assign_many`: lock the team's reps,
count their loads, choose by weighted round robin, write the owner and the Assignment rows, commit.
The baseline writes the same rows the same way (bulk owner update + Assignment rows, one commit per
batch) from an in-memory counter, with no locks, loads or rules. Between batches (not timed) reps "contact" 10% of
their new leads (--contact-pct), so some reps fill up and leads overflow to the pool; after every batch the run checks
that no rep holds more uncontacted leads than their capacity.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, update

from core.assignment import AssignmentConfig
from core.model import Role, User
from core.usecases.assignment import LeadAssigner
from storage.db import create_db_engine, upgrade
from storage.models import AssignmentRow, CustomerRow
from storage.uow import UnitOfWorkFactory

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
PRODUCTS = ("监护仪", "耗材")


def make_org(factory: UnitOfWorkFactory, reps: int, teams: int, seed: int) -> dict[str, list[str]]:
    rnd = random.Random(seed)
    members: dict[str, list[str]] = {}
    with factory() as uow:
        uow.users.save(User("admin", "管理员", frozenset({Role.ADMIN})))
        for t in range(teams):
            team = f"T{t:02d}"
            uow.users.save(User(f"m{t:02d}", f"主管{t}", frozenset({Role.MANAGER}), team=team))
            members[team] = []
        for r in range(reps):
            team = f"T{r % teams:02d}"
            products = PRODUCTS if rnd.random() < 0.5 else (rnd.choice(PRODUCTS),)
            uid = f"r{r:04d}"
            uow.users.save(
                User(
                    uid,
                    f"销售{r}",
                    frozenset({Role.REP}),
                    team=team,
                    manager_id=f"m{r % teams:02d}",
                    regions=(f"R{(r % teams) // 2}",),
                    products=products,
                    capacity=15,
                )
            )
            members[team].append(uid)
        uow.commit()
    return members


def insert_leads(factory: UnitOfWorkFactory, start: int, n: int, teams: int, rnd: random.Random) -> list[int]:
    rows = []
    for i in range(start, start + n):
        team = f"T{rnd.randrange(teams):02d}"
        rows.append(
            {
                "name": f"线索{i}",
                "name_key": f"线索{i}",
                "team": team,
                "region": f"R{int(team[1:]) // 2}",
                "status": "active",
                "source": "import",
                "created_by": "admin",
                "lead_state": "new",
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
    with factory() as uow:
        ids = list(uow.session.scalars(insert(CustomerRow).returning(CustomerRow.id), rows))
        uow.commit()
    return ids


def contact_some(factory: UnitOfWorkFactory, round_no: int, pct: int) -> None:
    with factory() as uow:
        uow.session.execute(
            update(CustomerRow)
            .where(
                CustomerRow.lead_state == "new",
                CustomerRow.owner_id.is_not(None),
                (CustomerRow.id + round_no) % 100 < pct,
            )
            .values(lead_state="contacted")
        )
        uow.commit()


def max_new_per_rep(factory: UnitOfWorkFactory) -> int:
    with factory() as uow:
        q = (
            select(func.count())
            .where(CustomerRow.lead_state == "new", CustomerRow.owner_id.is_not(None))
            .group_by(CustomerRow.owner_id)
        )
        return max(uow.session.scalars(q).all(), default=0)


def run_rules(factory: UnitOfWorkFactory, ids: list[int], products: list[str | None]) -> float:
    assigner = LeadAssigner(AssignmentConfig())
    t0 = time.perf_counter()
    with factory() as uow:
        customers = uow.customers._many(ids)
        assigner.assign_many(uow, "admin", customers, NOW, products=products)
        uow.commit()
    return time.perf_counter() - t0


def run_counter(
    factory: UnitOfWorkFactory, ids: list[int], members: dict[str, list[str]], counters: dict[str, int]
) -> float:
    t0 = time.perf_counter()
    with factory() as uow:
        teams = dict(
            uow.session.execute(select(CustomerRow.id, CustomerRow.team).where(CustomerRow.id.in_(ids))).all()
        )
        changes = []
        for cid in ids:
            team = teams[cid]
            reps = members[team]
            owner = reps[counters[team] % len(reps)]
            counters[team] += 1
            changes.append(
                {"id": cid, "owner_id": owner, "team": team, "assigned_at": NOW, "updated_at": NOW}
            )
            uow.session.add(
                AssignmentRow(
                    subject_type="customer",
                    subject_id=cid,
                    from_user=None,
                    to_user=owner,
                    actor_id="admin",
                    reason="轮转计数",
                    at=NOW,
                )
            )
        uow.session.flush()
        uow.session.execute(update(CustomerRow), changes)  # the same bulk write the real path uses
        uow.commit()
    return time.perf_counter() - t0


def bench(label: str, url: str, args: argparse.Namespace, cleanup: Callable[[], None] | None = None) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = UnitOfWorkFactory(engine)
    members = make_org(factory, args.reps, args.teams, args.seed)
    rnd = random.Random(args.seed)
    rules_time = counter_time = 0.0
    worst = 0
    counters = dict.fromkeys(members, 0)
    done = 0
    all_ids: list[int] = []
    try:
        while done < args.leads:
            n = min(args.batch, args.leads - done)
            ids = insert_leads(factory, done, n, args.teams, rnd)
            all_ids += ids
            products = [rnd.choice((*PRODUCTS, None)) for _ in ids]
            rules_time += run_rules(factory, ids, products)
            worst = max(worst, max_new_per_rep(factory))
            contact_some(factory, done // args.batch, args.contact_pct)
            done += n
        with factory() as uow:
            assigned = uow.session.scalar(select(func.count()).where(CustomerRow.owner_id.is_not(None))) or 0
            pooled = uow.session.scalar(select(func.count()).where(CustomerRow.owner_id.is_(None))) or 0
            uow.session.execute(update(CustomerRow).values(owner_id=None))  # the counter starts from scratch
            uow.commit()
        for start in range(0, len(all_ids), args.batch):
            counter_time += run_counter(factory, all_ids[start : start + args.batch], members, counters)
    finally:
        engine.dispose()
        if cleanup:
            cleanup()
    rules_rate = args.leads / rules_time
    counter_rate = args.leads / counter_time
    print(f"{label}: {args.leads} leads, {args.reps} reps in {args.teams} teams, batches of {args.batch}")
    print(
        f"  round robin with rules : {rules_rate:8.0f} assignments/s ({rules_time:.1f} s); "
        f"{assigned} assigned, {pooled} to the pool"
    )
    print(f"  plain round-robin count: {counter_rate:8.0f} assignments/s ({counter_time:.1f} s)")
    print(f"  ratio rules/counter    : {rules_rate / counter_rate:.2f}")
    print(
        f"  capacity check         : max uncontacted leads held by one rep after any batch = {worst} "
        f"(capacity 15) → {'OK' if worst <= 15 else 'EXCEEDED'}"
    )


def pg_schema(base: str) -> tuple[str, Callable[[], None]] | None:
    try:
        import psycopg

        plain = base.replace("postgresql+psycopg://", "postgresql://")
        schema = "bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # no server: the SQLite figures still stand
        print(f"PostgreSQL not reachable ({type(exc).__name__}): skipped")
        return None

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 leads over 100 reps in 10 teams")
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--teams", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument(
        "--contact-pct",
        type=int,
        default=10,
        help="share of uncontacted leads the reps contact between batches (low: reps fill up)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.leads, args.reps, args.teams = 10_000, 100, 10
    tmp = tempfile.mkdtemp()
    bench("SQLite", f"sqlite:///{tmp}/assign.db", args)
    if not args.no_pg:
        target = pg_schema(args.pg)
        if target is not None:
            bench("PostgreSQL", target[0], args, cleanup=target[1])


if __name__ == "__main__":
    main()

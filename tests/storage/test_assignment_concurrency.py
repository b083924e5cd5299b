"""Two imports at once never push a rep past capacity (PostgreSQL row locks; SQLite's write lock).

Each worker inserts a batch of leads, assigns it, then holds its transaction open a moment before
committing, so the batches really overlap. A control run with the lock switched off shows that the
overlap is real: without `lock_reps`, PostgreSQL workers count stale loads and overbook.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import close_all_sessions

from core.assignment import AssignmentConfig
from core.model import Customer, Role, User
from core.usecases.assignment import LeadAssigner
from storage.db import create_db_engine, upgrade
from storage.models import CustomerRow, UserRow
from storage.stage_repos import SqlWorkloadRepository
from storage.uow import UnitOfWorkFactory
from tests.conftest import PG_URL, _pg_schema_url

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
REPS = ("r1", "r2", "r3")
CAPACITY = 5
WORKERS, PER_WORKER = 4, 8  # 32 leads for 15 places


class NoLockWorkload(SqlWorkloadRepository):
    """The control: read the reps without locking them."""

    def lock_reps(self, user_ids: Sequence[str]) -> list[User]:
        from storage.repositories import user_from_row

        rows = self.s.scalars(select(UserRow).where(UserRow.id.in_(sorted(user_ids))).order_by(UserRow.id))
        return [user_from_row(r) for r in rows]


def _factory(url: str) -> UnitOfWorkFactory:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = UnitOfWorkFactory(engine)
    with factory() as uow:
        uow.users.save(User("admin", "管理员", frozenset({Role.ADMIN})))
        for rid in REPS:
            uow.users.save(
                User(rid, rid, frozenset({Role.REP}), team="A", regions=("华东",), capacity=CAPACITY)
            )
        uow.commit()
    return factory


@pytest.fixture
def pg_factory() -> Iterator[UnitOfWorkFactory]:
    if not PG_URL:
        pytest.skip("CRMBOT_TEST_DATABASE_URL is not set")
    url, drop = _pg_schema_url(PG_URL)
    factory = _factory(url)
    yield factory
    factory.engine.dispose()
    close_all_sessions()
    drop()


def _import(
    factory: UnitOfWorkFactory,
    worker: int,
    barrier: threading.Barrier,
    lock: bool,
    errors: list[BaseException],
) -> None:
    try:
        with factory() as uow:
            if not lock:
                uow.workload = NoLockWorkload(uow.session)
            barrier.wait()
            leads = [
                uow.customers.add(
                    Customer(
                        None,
                        f"w{worker}-{i}",
                        f"w{worker}-{i}",
                        None,
                        team="A",
                        region="华东",
                        source="import",
                        created_by="admin",
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                for i in range(PER_WORKER)
            ]
            LeadAssigner(AssignmentConfig()).assign_many(uow, "admin", leads, NOW)
            time.sleep(0.3)  # hold the transaction open so that the other imports overlap with it
            uow.commit()
    except BaseException as exc:  # surfaced by the test
        errors.append(exc)


def _run(factory: UnitOfWorkFactory, *, lock: bool) -> dict[str | None, int]:
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_import, args=(factory, w, barrier, lock, errors)) for w in range(WORKERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with factory() as uow:
        rows = uow.session.execute(
            select(CustomerRow.owner_id, func.count()).group_by(CustomerRow.owner_id)
        ).all()
    return {owner: int(n) for owner, n in rows}


def test_parallel_imports_respect_capacity_on_postgresql(pg_factory: UnitOfWorkFactory) -> None:
    per_owner = _run(pg_factory, lock=True)
    assert {k: v for k, v in per_owner.items() if k} == {rid: CAPACITY for rid in REPS}
    assert per_owner[None] == WORKERS * PER_WORKER - CAPACITY * len(REPS)  # the rest wait in the pool


def test_without_the_row_lock_postgresql_overbooks(pg_factory: UnitOfWorkFactory) -> None:
    per_owner = _run(pg_factory, lock=False)
    assert max(v for k, v in per_owner.items() if k) > CAPACITY  # proves the workers really overlap


def test_parallel_imports_respect_capacity_on_sqlite(tmp_path: object) -> None:
    factory = _factory(f"sqlite:///{tmp_path}/c.db")
    try:
        per_owner = _run(factory, lock=True)
    finally:
        factory.engine.dispose()
    assert {k: v for k, v in per_owner.items() if k} == {rid: CAPACITY for rid in REPS}

"""Inbox claims (worker processes, restart recovery) and the schema the migrations build, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.clock import FakeClock
from bot.services import Services
from storage.models import Base

LEASE = timedelta(minutes=5)


def _add(services: Services, *rows: tuple[str, str]) -> list[int]:
    """Inbox rows (message id, sender), as the ack path writes them."""
    ids = []
    with services.uow_factory() as uow:
        for message_id, sender in rows:
            ids.append(uow.inbox.record(channel="wecom", message_id=message_id, sender=sender, kind="message",
                                        payload={"text": message_id}, now=services.clock.now()))
        uow.commit()
    return ids


def _claim(services: Services, worker: str, **kwargs: object) -> list[int]:
    now = services.clock.now()
    with services.uow_factory() as uow:
        items = uow.inbox.claim(worker, now, now + LEASE, **kwargs)  # type: ignore[arg-type]
        uow.commit()
    return [i.id for i in items]


def _done(services: Services, *ids: int) -> None:
    with services.uow_factory() as uow:
        for inbox_id in ids:
            uow.inbox.mark(inbox_id, "done", services.clock.now())
        uow.commit()


def test_claims_keep_each_senders_messages_in_order_and_spread_senders(services: Services) -> None:
    a1, b1, a2, c1, d1 = _add(services, ("a1", "A"), ("b1", "B"), ("a2", "A"), ("c1", "C"), ("d1", "D"))
    assert _claim(services, "w1", max_senders=2) == [a1, b1, a2]  # A's rows together, in order
    # A and B are being handled by w1: w2 may not take a later A row, but takes the others
    (a3,) = _add(services, ("a3", "A"))
    assert _claim(services, "w2", max_senders=2) == [c1, d1]
    assert _claim(services, "w3") == []  # every open row belongs to a sender in hand
    _done(services, a1, b1, a2)
    assert _claim(services, "w3") == [a3]


def test_a_crashed_workers_rows_go_back_after_the_lease_and_done_rows_never(services: Services,
                                                                           clock: FakeClock) -> None:
    first, second = _add(services, ("m1", "A"), ("m2", "B"))
    assert _claim(services, "crashed") == [first, second]
    _done(services, second)
    assert _claim(services, "w2") == []  # the lease still holds
    clock.advance(LEASE + timedelta(seconds=1))
    assert _claim(services, "w2") == [first]
    clock.advance(LEASE + timedelta(seconds=1))
    _done(services, first)
    assert _claim(services, "w3") == []


def test_recovery_claims_only_rows_from_before_the_start(services: Services) -> None:
    old = _add(services, ("old", "A"))[0]
    with services.uow_factory() as uow:
        last = uow.inbox.last_id()
    _add(services, ("new", "B"))
    assert _claim(services, "w", up_to_id=last) == [old]


def test_migrations_build_exactly_the_models(services: Services) -> None:
    with services.uow_factory.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []

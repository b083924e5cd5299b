"""Prepared statements (storage/prepared.py) write and read exactly what SQLAlchemy's own execution does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.services import Services
from core.usecases.customers import NewCustomer, create_customer
from storage.models import AuditRow, CardRow, FollowUpRow
from storage.prepared import Prepared
from storage.repositories import core_conn

_AUDIT = AuditRow.__table__
_INSERT = Prepared(insert(_AUDIT))
_BY_ACTION = Prepared(select(_AUDIT).where(_AUDIT.c.action == bindparam("b_action")).order_by(_AUDIT.c.id))


def test_values_round_trip_like_the_orm(services: Services) -> None:
    at = datetime(2026, 3, 10, 17, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    with services.uow_factory() as uow:
        conn = core_conn(uow.session)
        # `before` left out: the column's Python default ({}) applies, as with Connection.execute
        _INSERT.execute(conn, {"at": at, "actor_id": "zhangsan", "action": "t.prepared", "subject_type": "deal",
                               "subject_id": 7, "after": {"金额": 500000, "列表": [1, "二"]}})
        uow.commit()
    with services.uow_factory() as uow:
        orm = uow.session.scalars(select(AuditRow).where(AuditRow.action == "t.prepared")).one()
        [row] = _BY_ACTION.all(core_conn(uow.session), {"b_action": "t.prepared"})
        assert orm.at == at and orm.at.utcoffset() == timedelta(0)  # stored in UTC
        assert orm.before == {} and orm.after == {"金额": 500000, "列表": [1, "二"]}
        assert (row.at, row.before, row.after, row.subject_id) == (orm.at, orm.before, orm.after, orm.subject_id)


def test_insert_returns_the_new_id_and_updates_count_rows(services: Services) -> None:
    stmt = Prepared(insert(FollowUpRow.__table__).returning(FollowUpRow.__table__.c.id))
    with services.uow_factory() as uow:
        rep = uow.users.get("zhangsan")
        created = create_customer(uow, rep, NewCustomer("测试预编译科技", "王五", "13900001111"),
                                  services.clock.now(), dedup=services.dedup, pipeline=services.pipeline)
        conn = core_conn(uow.session)
        values = {"customer_id": created.customer.id, "user_id": "zhangsan", "occurred_at": datetime.now(UTC),
                  "source": "command", "raw_text": "x", "pain_points": [], "extracted": {},
                  "created_at": datetime.now(UTC)}
        first, second = stmt.insert(conn, values), stmt.insert(conn, values)
        assert second == first + 1
        changed = Prepared(update(FollowUpRow.__table__).where(FollowUpRow.__table__.c.id == bindparam("b_id")))
        assert changed.execute(conn, {"b_id": first, "method": "visit"}) == 1
        assert changed.execute(conn, {"b_id": -5, "method": "visit"}) == 0
        uow.commit()


def test_driver_errors_are_sqlalchemy_errors(services: Services) -> None:
    stmt = Prepared(insert(CardRow.__table__))
    row = {"id": "card-1", "channel": "console", "user_id": "zhangsan", "body": {}, "created_at": datetime.now(UTC)}
    with services.uow_factory() as uow:
        stmt.execute(core_conn(uow.session), row)
        with pytest.raises(IntegrityError):
            stmt.execute(core_conn(uow.session), row)  # same primary key

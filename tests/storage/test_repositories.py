"""One contract suite for the SQL repositories, run on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError

from core.model import (
    Alert,
    AuditEntry,
    Contact,
    Customer,
    Deal,
    FollowUp,
    FollowUpSource,
    Method,
    Role,
    User,
)
from storage.db import create_db_engine, upgrade
from storage.uow import UnitOfWorkFactory

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def uows(db_url: str) -> UnitOfWorkFactory:
    engine = create_db_engine(db_url)
    upgrade(engine)
    factory = UnitOfWorkFactory(engine)
    with factory() as uow:
        uow.users.save(User("zhangsan", "张三", frozenset({Role.REP}), team="A", wecom_userid="ZhangSan"))
        uow.commit()
    yield factory
    engine.dispose()


def test_user_roundtrip_and_platform_lookup(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        u = uow.users.by_platform_id("wecom", "ZhangSan")
        assert u is not None and u.id == "zhangsan" and u.roles == frozenset({Role.REP})
        assert uow.users.by_platform_id("console", "zhangsan").name == "张三"
        assert uow.users.by_platform_id("dingtalk", "nobody") is None


def _customer(uow: object, name: str = "恒康医疗") -> Customer:
    c = uow.customers.add(Customer(None, name, name, "zhangsan", team="A", created_at=NOW, updated_at=NOW))
    uow.customers.add_contact(Contact(None, c.id, "张伟", "138 1234 5678", "13812345678", created_at=NOW))
    return c


def test_customer_contacts_search_and_times_in_utc(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        c = _customer(uow)
        uow.commit()
    with uows() as uow:
        got = uow.customers.get(c.id)
        assert got.contacts[0].phone == "138 1234 5678" and got.contacts[0].phone_norm == "13812345678"
        assert got.created_at == NOW and got.created_at.utcoffset() == timedelta(0)
        assert [x.id for x in uow.customers.by_phone("13812345678")] == [c.id]
        assert [x.id for x in uow.customers.search("张伟")] == [c.id]
        assert [x.id for x in uow.customers.search("恒康")] == [c.id]
        assert uow.customers.search("100%") == []


def test_rollback_leaves_nothing_half_written(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        _customer(uow)
        # no commit: leaving the block rolls back
    with uows() as uow:
        assert uow.customers.count() == 0


def test_deal_followup_and_unique_call_id(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        c = _customer(uow)
        d = uow.deals.add(Deal(None, c.id, "zhangsan", "t", "lead", created_at=NOW, updated_at=NOW,
                               stage_entered_at=NOW, pain_points=["price"]))
        d.next_followup_on = date(2026, 3, 18)
        uow.deals.update(d)
        uow.followups.add(FollowUp(None, c.id, "zhangsan", NOW, Method.PHONE, FollowUpSource.CALL_LOG,
                                   deal_id=d.id, call_id="CL-1", extracted={"x": 1}, created_at=NOW))
        uow.commit()
    with uows() as uow:
        assert uow.deals.for_customer(c.id, open_only=True)[0].next_followup_on == date(2026, 3, 18)
        assert uow.followups.by_call_id("CL-1").extracted == {"x": 1}
        with pytest.raises(IntegrityError):
            uow.followups.add(FollowUp(None, c.id, "zhangsan", NOW, Method.PHONE, FollowUpSource.CALL_LOG,
                                       call_id="CL-1", created_at=NOW))


def test_alert_ledger_is_insert_or_ignore(uows: UnitOfWorkFactory) -> None:
    alert = Alert(None, "followup_due", "deal", 1, 0, "2026-03-18", "zhangsan", NOW)
    with uows() as uow:
        assert uow.alerts.add_if_absent(alert) is not None
        uow.commit()
    with uows() as uow:
        dup = Alert(None, "followup_due", "deal", 1, 0, "2026-03-18", "zhangsan", NOW)
        assert uow.alerts.add_if_absent(dup) is None
        assert len(uow.alerts.open_for_subject("deal", 1)) == 1


def test_inbox_drops_redeliveries_and_outbox_claims(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        assert uow.inbox.record(channel="wecom", message_id="m1", sender="u", kind="message", payload={},
                                now=NOW) is not None
        assert uow.inbox.record(channel="wecom", message_id="m1", sender="u", kind="message", payload={},
                                now=NOW) is None
        assert uow.inbox.record(channel="dingtalk", message_id="m1", sender="u", kind="message", payload={},
                                now=NOW) is not None
        uow.outbox.add(channel="console", user_id="zhangsan", recipient="zhangsan", kind="text",
                             body={"text": "hi"}, now=NOW)
        uow.commit()
    with uows() as uow:
        due = uow.outbox.claim_due(NOW.astimezone(UTC))
        assert [m.body for m in due] == [{"text": "hi"}]
        oid = due[0].id
        uow.outbox.mark_retry(oid, NOW, timedelta(seconds=30), "boom")
        uow.commit()
    with uows() as uow:
        assert uow.outbox.claim_due(NOW) == []
        assert len(uow.outbox.claim_due(NOW + timedelta(seconds=31))) == 1


def test_audit_is_append_only_through_the_repository(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        uow.history.add_audit(AuditEntry(None, NOW, "zhangsan", "x", "customer", "1", {}, {"a": 1}))
        uow.commit()
    with uows() as uow:
        entries = uow.history.audit(subject_type="customer", subject_id="1")
        assert entries[0].after == {"a": 1}
    assert not hasattr(type(uow.history), "update_audit") and not hasattr(type(uow.history), "delete_audit")


@pytest.mark.parametrize("table", ["audit_log", "stage_changes", "assignments"])
def test_history_tables_refuse_update_and_delete_in_the_database(uows: UnitOfWorkFactory, table: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from core.model import Assignment, StageChange

    with uows() as uow:
        c = _customer(uow)
        d = uow.deals.add(Deal(None, c.id, "zhangsan", "t", "lead", created_at=NOW, updated_at=NOW))
        uow.history.add_audit(AuditEntry(None, NOW, "zhangsan", "x", "customer", "1", {}, {}))
        uow.history.add_stage_change(StageChange(None, d.id, None, "lead", "forward", "zhangsan", NOW))
        uow.history.add_assignment(Assignment(None, "customer", c.id, None, "zhangsan", "zhangsan", "", NOW))
        uow.commit()
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with uows() as uow, pytest.raises(DBAPIError):
            uow.session.execute(text(statement))

"""Use cases against the in-memory unit of work: the rules, without a database."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import Ambiguous, InvalidInput, NotFound, PermissionDenied
from core.model import CustomerStatus, FollowUpSource, Method, Role, User
from core.pipeline import Pipeline
from core.usecases.customers import (
    ExactDuplicateCheck,
    NewCustomer,
    create_customer,
    lookup_customer,
    mark_customer_invalid,
    resolve_customer,
)
from core.usecases.deals import open_deal
from core.usecases.followups import FollowUpInput, record_followup
from tests.fakes.uow import FakeUnitOfWork

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
REP = User("zhangsan", "张三", frozenset({Role.REP}), team="A", manager_id="boss")
REP2 = User("lisi", "李四", frozenset({Role.REP}), team="A", manager_id="boss")
MANAGER = User("boss", "赵强", frozenset({Role.MANAGER}), team="A")
OTHER_MANAGER = User("boss2", "钱敏", frozenset({Role.MANAGER}), team="B")
PIPE = Pipeline()
DEDUP = ExactDuplicateCheck()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    for user in (REP, REP2, MANAGER, OTHER_MANAGER):
        u.users.save(user)
    return u


def create(uow: FakeUnitOfWork, company: str, contact: str | None = None, phone: str | None = None,
           actor: User = REP) -> object:
    return create_customer(uow, actor, NewCustomer(company, contact, phone), NOW, dedup=DEDUP, pipeline=PIPE)


def test_create_customer_with_contact_opens_a_lead_deal_and_audits(uow: FakeUnitOfWork) -> None:
    result = create(uow, "恒康医疗", "张伟", "138 1234 5678")
    assert result.created and result.customer.owner_id == "zhangsan"
    assert result.contact.phone == "138 1234 5678" and result.contact.phone_norm == "13812345678"
    assert result.deal.stage == "lead"
    assert {e.action for e in uow.history.audit_log} >= {"customer.create", "contact.create", "deal.open"}
    assert uow.history.assignments("customer", result.customer.id)[0].to_user == "zhangsan"


def test_same_phone_links_instead_of_duplicating(uow: FakeUnitOfWork) -> None:
    first = create(uow, "恒康医疗", "张伟", "13812345678")
    second = create(uow, "恒康医疗器械有限公司", "张伟", "+86 138-1234-5678")
    assert not second.created and second.customer.id == first.customer.id
    assert uow.customers.count() == 1
    assert "电话相同" in second.decision.evidence


def test_invalid_phone_is_refused_and_nothing_is_written(uow: FakeUnitOfWork) -> None:
    with pytest.raises(InvalidInput):
        create(uow, "恒康医疗", "张伟", "12345")
    assert uow.customers.count() == 0


def test_record_followup_updates_the_deal(uow: FakeUnitOfWork) -> None:
    c = create(uow, "恒康医疗", "张伟", "13812345678")
    result = record_followup(uow, REP, FollowUpInput(
        customer_id=c.customer.id, occurred_at=NOW, source=FollowUpSource.CHAT, method=Method.VISIT,
        next_followup_on=date(2026, 3, 18), amount=500000, pain_points=["delivery"], raw_text="拜访"), NOW)
    deal = uow.deals.get(c.deal.id)
    assert result.deal.id == deal.id
    assert deal.next_followup_on == date(2026, 3, 18) and deal.last_followup_at == NOW
    assert deal.amount == 500000 and deal.pain_points == ["delivery"]


def test_followup_in_the_past_and_duplicate_call_ids(uow: FakeUnitOfWork) -> None:
    c = create(uow, "恒康医疗")
    with pytest.raises(InvalidInput):
        record_followup(uow, REP, FollowUpInput(c.customer.id, NOW, FollowUpSource.CHAT,
                                                next_followup_on=date(2026, 3, 1)), NOW)
    data = FollowUpInput(c.customer.id, NOW, FollowUpSource.CALL_LOG, call_id="CL-1")
    first = record_followup(uow, REP, data, NOW)
    again = record_followup(uow, REP, data, NOW)
    assert again.duplicate and again.followup.id == first.followup.id
    assert len(uow.followups.rows) == 1


def test_another_reps_customer_is_neither_visible_nor_changeable(uow: FakeUnitOfWork) -> None:
    c = create(uow, "恒康医疗", "张伟", "13812345678")
    with pytest.raises(NotFound):
        lookup_customer(uow, REP2, "恒康")
    with pytest.raises(PermissionDenied):
        record_followup(uow, REP2, FollowUpInput(c.customer.id, NOW, FollowUpSource.CHAT), NOW)
    assert lookup_customer(uow, MANAGER, "恒康")[0].customer.id == c.customer.id
    with pytest.raises(NotFound):
        lookup_customer(uow, OTHER_MANAGER, "恒康")


def test_mark_invalid_keeps_the_customer(uow: FakeUnitOfWork) -> None:
    c = create(uow, "恒康医疗")
    with pytest.raises(InvalidInput):
        mark_customer_invalid(uow, REP, "恒康医疗", "  ", NOW)
    mark_customer_invalid(uow, REP, "恒康医疗", "重复录入", NOW)
    kept = uow.customers.get(c.customer.id)
    assert kept.status == CustomerStatus.INVALID and kept.invalid_reason == "重复录入"
    audit = next(e for e in uow.history.audit_log if e.action == "customer.invalid")
    assert audit.before == {"status": "active", "invalid_reason": None}


def test_ambiguous_keyword_lists_choices(uow: FakeUnitOfWork) -> None:
    create(uow, "恒康医疗")
    create(uow, "恒康科技")
    with pytest.raises(Ambiguous) as err:
        resolve_customer(uow, REP, "恒康")
    assert len(err.value.choices) == 2
    assert resolve_customer(uow, REP, "恒康科技").name == "恒康科技"


def test_a_second_deal_makes_followups_ask_which(uow: FakeUnitOfWork) -> None:
    c = create(uow, "恒康医疗")
    open_deal(uow, REP, c.customer, NOW, pipeline=PIPE, title="二期项目")
    with pytest.raises(Ambiguous):
        record_followup(uow, REP, FollowUpInput(c.customer.id, NOW, FollowUpSource.CHAT), NOW)

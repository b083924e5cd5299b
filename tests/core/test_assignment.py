"""Fair assignment: the pure rules table-driven, then the use cases on the in-memory unit of work."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.assignment import (
    AssignmentConfig,
    Lead,
    RepLoad,
    TeamConfig,
    choose,
    matching_teams,
    team_manager,
    why_not,
)
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from core.model import Customer, FollowUpSource, Role, User, UserStatus
from core.pipeline import Pipeline
from core.usecases.assignment import LeadAssigner, claim, reassign, set_leave
from core.usecases.customers import ExactDuplicateCheck, NewCustomer, create_customer
from core.usecases.followups import FollowUpInput, record_followup
from tests.fakes.uow import FakeUnitOfWork

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=TZ)
TODAY = date(2026, 3, 10)
CFG = AssignmentConfig()


def rep(
    uid: str,
    team: str = "A",
    *,
    regions: tuple[str, ...] = ("华东",),
    products: tuple[str, ...] = (),
    status: UserStatus = UserStatus.ACTIVE,
    leave_until: date | None = None,
    capacity: int = 15,
) -> User:
    return User(
        uid,
        uid.upper(),
        frozenset({Role.REP}),
        team=team,
        manager_id="boss",
        regions=regions,
        products=products,
        status=status,
        leave_until=leave_until,
        capacity=capacity,
    )


MANAGER = User("boss", "赵强", frozenset({Role.MANAGER}), team="A")
MANAGER_B = User("boss2", "钱敏", frozenset({Role.MANAGER}), team="B")
HR = User("hr", "陈静", frozenset({Role.HR}))


# ---------------------------------------------------------------------------- pure rules
@pytest.mark.parametrize(
    ("who", "lead", "load", "expected"),
    [
        (rep("a"), Lead(), RepLoad(), None),
        (rep("a"), Lead(region="华东"), RepLoad(), None),
        (rep("a"), Lead(region="华南"), RepLoad(), "区域或产品线不符"),
        (rep("a", regions=()), Lead(region="华南"), RepLoad(), None),  # no regions: covers all
        (rep("a", products=("监护仪",)), Lead(product="耗材"), RepLoad(), "区域或产品线不符"),
        (rep("a", products=("监护仪",)), Lead(product="监护仪"), RepLoad(), None),
        (rep("a"), Lead(), RepLoad(new_leads=14), None),
        (rep("a"), Lead(), RepLoad(new_leads=15), "未联系线索已满（15/15）"),
        (rep("a", capacity=3), Lead(), RepLoad(new_leads=3), "未联系线索已满（3/3）"),
        (
            rep("a", status=UserStatus.ON_LEAVE, leave_until=date(2026, 3, 20)),
            Lead(),
            RepLoad(),
            "休假至 03-20",
        ),
        (
            rep("a", status=UserStatus.ON_LEAVE, leave_until=date(2026, 3, 10)),
            Lead(),
            RepLoad(),
            "休假至 03-10",
        ),
        (rep("a", status=UserStatus.ON_LEAVE, leave_until=date(2026, 3, 9)), Lead(), RepLoad(), None),  # back
        (rep("a", status=UserStatus.OFFBOARDED), Lead(), RepLoad(), "已离职"),
        (MANAGER, Lead(), RepLoad(), "不是销售"),
    ],
)
def test_who_can_take_a_lead(who: User, lead: Lead, load: RepLoad, expected: str | None) -> None:
    assert why_not(who, lead, load, TODAY, CFG) == expected


@pytest.mark.parametrize(
    ("loads", "weights", "expected"),
    [
        ({}, {}, "a"),  # all equal: by id
        ({"a": RepLoad(received_today=1)}, {}, "b"),
        ({"a": RepLoad(received_today=1), "b": RepLoad(received_today=1)}, {}, "c"),
        (
            {"a": RepLoad(received_today=1), "b": RepLoad(received_today=1), "c": RepLoad(received_today=1)},
            {},
            "a",
        ),
        ({"a": RepLoad(received_today=1)}, {"a": 2}, "a"),  # (1+1)/2 = 1 ties (0+1)/1; earlier last time wins
        ({"a": RepLoad(received_today=2)}, {"a": 2}, "b"),
        ({}, {"a": 0}, "b"),  # weight 0: never automatic
        ({"a": RepLoad(new_leads=15)}, {}, "b"),  # at capacity
        ({"b": RepLoad(received_today=0, last_assigned_at=datetime(2026, 3, 10, tzinfo=UTC))}, {"a": 1}, "a"),
    ],
)
def test_whose_turn_it_is(loads: dict[str, RepLoad], weights: dict[str, int], expected: str) -> None:
    reps = [rep("c"), rep("a"), rep("b")]
    assert choose(reps, Lead(), loads, TODAY, AssignmentConfig(weights=weights)).id == expected


def test_nobody_fits_means_the_pool() -> None:
    reps = [rep("a", status=UserStatus.ON_LEAVE), rep("b", regions=("华南",))]
    assert choose(reps, Lead(region="华东"), {}, TODAY, CFG) is None


@pytest.mark.parametrize(
    ("lead", "config", "expected"),
    [
        (Lead(team="B"), CFG, ["B"]),
        (Lead(region="华东"), CFG, ["A"]),
        (Lead(region="华南"), CFG, ["B"]),
        (Lead(), CFG, ["A", "B"]),
        (Lead(region="西北"), CFG, []),
        (Lead(region="西北"), AssignmentConfig(teams={"A": TeamConfig(regions=["西北"])}), ["A"]),
    ],
)
def test_matching_teams(lead: Lead, config: AssignmentConfig, expected: list[str]) -> None:
    users = [rep("a", "A"), rep("b", "B", regions=("华南",)), MANAGER]
    assert matching_teams(lead, users, config) == expected


def test_team_manager_from_config_or_org() -> None:
    users = [rep("a"), MANAGER, MANAGER_B]
    assert team_manager("A", users, CFG).id == "boss"
    assert team_manager("A", users, AssignmentConfig(teams={"A": TeamConfig(manager="boss2")})).id == "boss2"
    assert team_manager(None, users, CFG) is None


# ---------------------------------------------------------------------------- use cases
@pytest.fixture
def uow() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    for user in (rep("a"), rep("b"), rep("c"), rep("d", "B", regions=("华南",)), MANAGER, MANAGER_B, HR):
        u.users.save(user)
    return u


def lead(
    uow: FakeUnitOfWork,
    name: str,
    *,
    actor: User = MANAGER,
    source: str = "import",
    assigner: LeadAssigner | None = None,
    region: str | None = None,
) -> Customer:
    result = create_customer(
        uow,
        actor,
        NewCustomer(name, region=region, source=source),
        NOW,
        dedup=ExactDuplicateCheck(),
        pipeline=Pipeline(),
        assigner=assigner,
    )
    return result.customer


def test_round_robin_spreads_leads_and_deals_follow(uow: FakeUnitOfWork) -> None:
    owners = [lead(uow, f"客户{i}").owner_id for i in range(9)]
    assert owners == ["a", "b", "c"] * 3
    assert all(
        d.owner_id == c.owner_id for d in uow.deals.rows.values() for c in [uow.customers.rows[d.customer_id]]
    )
    reasons = Counter(a.reason for a in uow.history.assign)
    assert reasons["轮转分配"] == 18  # a customer row and a deal row for each lead
    assert uow.workload.locked and all(ids == ["a", "b", "c"] for ids in uow.workload.locked)


def test_weights_skew_the_rotation(uow: FakeUnitOfWork) -> None:
    assigner = LeadAssigner(AssignmentConfig(weights={"a": 2}))
    owners = Counter(lead(uow, f"客户{i}", assigner=assigner).owner_id for i in range(20))
    assert owners == {"a": 10, "b": 5, "c": 5}


def test_a_rep_keeps_what_they_found_but_imports_rotate(uow: FakeUnitOfWork) -> None:
    found = lead(uow, "自己找的", actor=rep("c"), source="chat")
    imported = lead(uow, "导入的", actor=rep("c"), source="import")
    assert found.owner_id == "c" and imported.owner_id == "a"


def test_capacity_and_leave_then_pool(uow: FakeUnitOfWork) -> None:
    for uid in ("a", "b"):
        user = uow.users.get(uid)
        user.capacity = 1
        uow.users.save(user)
    set_leave(uow, MANAGER, uow.users.get("c"), date(2026, 3, 12), NOW, assigner=LeadAssigner())
    first, second = lead(uow, "一"), lead(uow, "二")
    third = create_customer(
        uow,
        MANAGER,
        NewCustomer("三", source="import"),
        NOW,
        dedup=ExactDuplicateCheck(),
        pipeline=Pipeline(),
    )
    assert {first.owner_id, second.owner_id} == {"a", "b"}
    assert third.customer.owner_id is None and third.assignment.manager.id == "boss"
    assert dict(third.assignment.skipped) == {
        "A": "未联系线索已满（1/1）",
        "B": "未联系线索已满（1/1）",
        "C": "休假至 03-12",
    }
    assert uow.history.assign[-1].to_user is None and "公海" in uow.history.assign[-1].reason
    # once a follow-up contacts the lead, the rep has room again
    record_followup(uow, uow.users.get("a"), FollowUpInput(first.id, NOW, FollowUpSource.CHAT), NOW)
    assert uow.customers.get(first.id).lead_state == "contacted"
    assert lead(uow, "四").owner_id == "a"


def test_leave_ends_after_its_last_day(uow: FakeUnitOfWork) -> None:
    assigner = LeadAssigner()
    for uid in ("a", "b", "c"):
        set_leave(uow, MANAGER, uow.users.get(uid), date(2026, 3, 10), NOW, assigner=assigner)
    assert lead(uow, "今天").owner_id is None
    later = NOW + timedelta(days=1)
    result = create_customer(
        uow,
        MANAGER,
        NewCustomer("明天", source="import"),
        later,
        dedup=ExactDuplicateCheck(),
        pipeline=Pipeline(),
    )
    assert result.customer.owner_id == "a"


@pytest.mark.parametrize(
    ("actor", "until", "error"),
    [
        (rep("b"), date(2026, 3, 20), PermissionDenied),
        (MANAGER_B, date(2026, 3, 20), PermissionDenied),
        (MANAGER, date(2026, 3, 1), InvalidInput),
        (MANAGER, date(2027, 6, 1), InvalidInput),
    ],
)
def test_leave_is_for_the_manager_or_hr(
    uow: FakeUnitOfWork, actor: User, until: date, error: type[Exception]
) -> None:
    with pytest.raises(error):
        set_leave(uow, actor, uow.users.get("a"), until, NOW, assigner=LeadAssigner())
    assert (
        set_leave(uow, HR, uow.users.get("a"), date(2026, 3, 20), NOW, assigner=LeadAssigner()).status
        == UserStatus.ON_LEAVE
    )


def test_claim_from_the_pool_within_capacity(uow: FakeUnitOfWork) -> None:
    assigner = LeadAssigner(AssignmentConfig(enabled=False))
    pooled = [lead(uow, f"公海{i}", assigner=assigner) for i in range(3)]
    assert all(c.owner_id is None and c.team == "A" for c in pooled)
    user = uow.users.get("b")
    user.capacity = 2
    uow.users.save(user)
    claim(uow, user, uow.customers.get(pooled[0].id), NOW, assigner=assigner)
    claim(uow, user, uow.customers.get(pooled[1].id), NOW, assigner=assigner)
    with pytest.raises(RuleViolation, match="上限 2"):
        claim(uow, user, uow.customers.get(pooled[2].id), NOW, assigner=assigner)
    with pytest.raises(Conflict):
        claim(uow, uow.users.get("a"), uow.customers.get(pooled[0].id), NOW, assigner=assigner)
    with pytest.raises(PermissionDenied):  # another team's pool
        claim(uow, uow.users.get("d"), uow.customers.get(pooled[2].id), NOW, assigner=assigner)
    assert [a.reason for a in uow.history.assign if a.to_user == "b"] == ["从公海领取"] * 4


def test_reassign_by_the_manager_only(uow: FakeUnitOfWork) -> None:
    c = lead(uow, "恒康医疗")
    assert c.owner_id == "a"
    with pytest.raises(PermissionDenied):
        reassign(uow, rep("b"), c, uow.users.get("b"), NOW, assigner=LeadAssigner())
    with pytest.raises(PermissionDenied):
        reassign(uow, MANAGER, c, uow.users.get("d"), NOW, assigner=LeadAssigner())  # other team
    result = reassign(uow, MANAGER, c, uow.users.get("c"), NOW, assigner=LeadAssigner(), reason="客户要求")
    assert result.previous.id == "a" and uow.customers.get(c.id).owner_id == "c"
    deal = next(d for d in uow.deals.rows.values() if d.customer_id == c.id)
    assert deal.owner_id == "c"
    last = uow.history.assign[-1]
    assert (last.from_user, last.to_user, last.actor_id, last.reason) == (
        "a",
        "c",
        "boss",
        "主管转派：客户要求",
    )

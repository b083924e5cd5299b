"""Offboarding planning as plain functions: who may be offboarded to whom, and the round robin."""

from __future__ import annotations

from datetime import date

import pytest

from core.assignment import AssignmentConfig, RepLoad
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from core.model import Role, User, UserStatus
from core.offboarding import CustomerBrief, candidates, check_request, plan, shares

TODAY = date(2026, 3, 10)


def rep(uid: str, team: str = "华东一组", **kw: object) -> User:
    return User(uid, uid, frozenset({Role.REP}), team=team, **kw)  # type: ignore[arg-type]


HR = User("chenjing", "陈静", frozenset({Role.HR}))
LEAVER = rep("zhangsan")


@pytest.mark.parametrize(
    ("actor", "leaver", "successor", "error", "words"),
    [
        (rep("lisi"), LEAVER, None, PermissionDenied, "人事"),
        (User("zhaoqiang", "赵强", frozenset({Role.MANAGER})), LEAVER, None, PermissionDenied, "人事"),
        (HR, None, None, NotFound, "没有找到"),
        (HR, rep("zhangsan", status=UserStatus.OFFBOARDED), None, Conflict, "已经办理过离职"),
        (HR, LEAVER, LEAVER, InvalidInput, "本人"),
        (HR, LEAVER, rep("lisi", status=UserStatus.OFFBOARDED), RuleViolation, "已离职"),
        (
            HR,
            LEAVER,
            rep("lisi", status=UserStatus.ON_LEAVE, leave_until=date(2026, 3, 20)),
            RuleViolation,
            "休假",
        ),
        (HR, LEAVER, User("liufang", "刘芳", frozenset({Role.FINANCE})), InvalidInput, "不是销售"),
        (HR, HR, None, InvalidInput, "自己"),
    ],
)
def test_bad_requests_are_refused(
    actor: User, leaver: User | None, successor: User | None, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as err:
        check_request(actor, leaver, successor, TODAY)
    assert words in str(err.value)


def test_a_successor_whose_leave_ended_may_take_over() -> None:
    back = rep("lisi", status=UserStatus.ON_LEAVE, leave_until=date(2026, 3, 9))
    assert check_request(HR, LEAVER, back, TODAY) is LEAVER


def briefs(n: int, state: str = "contacted") -> list[CustomerBrief]:
    return [CustomerBrief(i, f"c{i}", "华东一组", state) for i in range(1, n + 1)]


def test_round_robin_skips_leave_offboarded_other_teams_and_weight_zero() -> None:
    team = [
        LEAVER,
        rep("lisi"),
        rep("wangwu"),
        rep("sunqi", "华南一组"),
        rep("on_leave", status=UserStatus.ON_LEAVE, leave_until=date(2026, 3, 20)),
        rep("gone", status=UserStatus.OFFBOARDED),
        rep("zero"),
        User("zhaoqiang", "赵强", frozenset({Role.MANAGER}), team="华东一组"),
    ]
    config = AssignmentConfig(weights={"zero": 0})
    assert [u.id for u in candidates(LEAVER, team, TODAY, config)] == ["lisi", "wangwu"]


def test_round_robin_is_even_and_follows_weights() -> None:
    reps = [rep("lisi"), rep("wangwu")]
    even = plan(briefs(7), None, reps, {}, AssignmentConfig())
    assert shares(even) == {"lisi": 4, "wangwu": 3}
    assert [even[i] for i in range(1, 5)] == ["lisi", "wangwu", "lisi", "wangwu"]
    weighted = plan(briefs(9), None, reps, {}, AssignmentConfig(weights={"lisi": 2}))
    assert shares(weighted) == {"lisi": 6, "wangwu": 3}


def test_uncontacted_leads_respect_capacity_and_overflow_to_the_pool() -> None:
    reps = [rep("lisi", capacity=3), rep("wangwu", capacity=2)]
    loads = {"lisi": RepLoad(new_leads=2), "wangwu": RepLoad(new_leads=2)}
    out = plan(
        [*briefs(3, "new"), CustomerBrief(9, "c9", "华东一组", "contacted")],
        None,
        reps,
        loads,
        AssignmentConfig(),
    )
    # lisi has room for one more new lead, wangwu none; the contacted customer is not limited
    assert out[1] == "lisi" and out[2] is None and out[3] is None and out[9] == "wangwu"


def test_a_named_successor_takes_everything_and_nobody_means_the_pool() -> None:
    lisi = rep("lisi", capacity=1)
    assert set(plan(briefs(5, "new"), lisi, [], {}, AssignmentConfig()).values()) == {"lisi"}
    assert set(plan(briefs(2), None, [], {}, AssignmentConfig()).values()) == {None}

"""The reminder rules as plain functions: each threshold just before and just after, across a
weekend and Chinese public holidays (2026 Spring Festival and National Day), and quiet hours."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.workcal import china_calendar
from core import reminders as r
from core.model import Role, User, UserStatus
from core.reminders import DealFacts, LeadFacts, LedgerEntry, ReminderConfig
from core.worktime import WorkTime

TZ = ZoneInfo("Asia/Shanghai")
CAL = china_calendar([2025, 2026, 2027])
WT = WorkTime(CAL, TZ)
CFG = ReminderConfig()


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def deal(
    next_on: date | None = None,
    last: datetime | None = None,
    stage: str = "quote",
    entered: datetime | None = None,
) -> DealFacts:
    return DealFacts(7, 3, "zhangsan", stage, next_on, last, entered, "恒康医疗 商机", "恒康医疗", "华东一组")


def levels(dues: list[r.Due]) -> list[tuple[int, str]]:
    return [(d.level, d.audience) for d in dues]


# ---------------------------------------------------------------------- working time
def test_calendar_knows_2026_holidays_and_makeup_days() -> None:
    assert not CAL.is_workday(date(2026, 10, 1)) and not CAL.is_workday(date(2026, 2, 17))
    assert CAL.is_workday(date(2026, 9, 20)) and CAL.is_workday(date(2026, 2, 14))  # 调休 Sunday/Saturday


def test_working_hours_skip_nights_weekends_and_the_spring_festival() -> None:
    assert WT.add_work_hours(at(2026, 3, 9, 10), 72) == at(2026, 3, 19, 10)
    assert WT.add_work_hours(at(2026, 3, 13, 17), 2) == at(2026, 3, 16, 10)  # Friday → Monday
    assert WT.add_work_hours(at(2026, 3, 13, 23), 1) == at(2026, 3, 16, 10)  # started at night
    # Fri 2026-02-13 17:00: 1 h, then the make-up Saturday 02-14, the holiday to 02-23, make-up 02-28
    assert WT.add_work_hours(at(2026, 2, 13, 17), 72) == at(2026, 3, 3, 17)
    assert WT.work_hours_between(at(2026, 2, 13, 17), at(2026, 3, 3, 17)) == pytest.approx(72)


def test_sub_work_hours_is_the_exact_cutoff_for_the_scan_queries() -> None:
    rng = random.Random(7)
    for _ in range(300):
        now = at(2026, 1, 5) + timedelta(minutes=rng.randrange(0, 60 * 24 * 300))
        hours = rng.choice([1, 2, 8.5, 72])
        cut = WT.sub_work_hours(now, hours)
        assert WT.add_work_hours(cut, hours) <= now
        assert WT.add_work_hours(cut + timedelta(minutes=1), hours) > now


def test_quiet_hours_hold_cards_until_the_working_morning() -> None:
    assert WT.is_quiet(at(2026, 3, 10, 21, 0)) and WT.is_quiet(at(2026, 3, 11, 8, 59))
    assert not WT.is_quiet(at(2026, 3, 11, 9, 0)) and not WT.is_quiet(at(2026, 3, 10, 20, 59))
    assert WT.release_at(at(2026, 3, 10, 22)) == at(2026, 3, 11, 9)
    assert WT.release_at(at(2026, 3, 13, 22)) == at(2026, 3, 16, 9)  # Friday night → Monday
    assert WT.release_at(at(2026, 9, 30, 23)) == at(2026, 10, 8, 9)  # across National Day
    assert WT.may_send(at(2026, 2, 14, 10))  # a make-up Saturday is a working day
    relaxed = WorkTime(CAL, TZ, hold_on_rest_days=False)
    assert relaxed.release_at(at(2026, 3, 13, 22)) == at(2026, 3, 14, 9)


# ---------------------------------------------------------------------- follow-up due / overdue
def test_followup_due_at_nine_on_the_due_day_then_overdue_ladder_across_a_weekend() -> None:
    d = deal(next_on=date(2026, 3, 11), last=at(2026, 3, 9, 10))
    assert r.followup_dues(d, at(2026, 3, 11, 8, 59), WT, CFG) == []
    assert levels(r.followup_dues(d, at(2026, 3, 11, 9), WT, CFG)) == [(1, r.OWNER)]
    assert levels(r.followup_dues(d, at(2026, 3, 12, 8, 59), WT, CFG)) == [(1, r.OWNER)]
    assert levels(r.followup_dues(d, at(2026, 3, 12, 9), WT, CFG)) == [(1, r.OWNER), (2, r.OWNER)]
    # overdue by 3 working days is Monday 03-16 (Thu, Fri, Mon), not Saturday
    assert len(r.followup_dues(d, at(2026, 3, 15, 23), WT, CFG)) == 2
    assert levels(r.followup_dues(d, at(2026, 3, 16, 9), WT, CFG))[-1] == (3, r.MANAGER)
    assert {x.window for x in r.followup_dues(d, at(2026, 3, 16, 9), WT, CFG)} == {"2026-03-11"}


def test_followup_ladder_across_national_day_and_a_due_date_inside_the_holiday() -> None:
    d = deal(next_on=date(2026, 9, 30))
    assert len(r.followup_dues(d, at(2026, 10, 7, 23), WT, CFG)) == 1  # the whole holiday: still level 1
    assert len(r.followup_dues(d, at(2026, 10, 8, 9), WT, CFG)) == 2
    assert len(r.followup_dues(d, at(2026, 10, 9, 9), WT, CFG)) == 2
    assert levels(r.followup_dues(d, at(2026, 10, 10, 9), WT, CFG))[-1] == (3, r.MANAGER)  # make-up Saturday
    on_holiday = deal(next_on=date(2026, 10, 2))
    assert r.followup_dues(on_holiday, at(2026, 10, 7, 12), WT, CFG) == []
    assert [x.due_at for x in r.followup_dues(on_holiday, at(2026, 10, 8, 9), WT, CFG)] == [
        at(2026, 10, 8, 9)
    ]


def test_a_followup_on_the_due_day_ends_the_ladder_one_before_does_not() -> None:
    assert r.followup_dues(deal(date(2026, 3, 11), at(2026, 3, 11, 8)), at(2026, 3, 16, 9), WT, CFG) == []
    assert (
        len(r.followup_dues(deal(date(2026, 3, 11), at(2026, 3, 10, 23)), at(2026, 3, 16, 9), WT, CFG)) == 3
    )
    assert r.followup_dues(deal(None), at(2026, 3, 16, 9), WT, CFG) == []


# ---------------------------------------------------------------------- untouched / unassigned
def lead(
    owner: str | None = "zhangsan", assigned: datetime | None = None, created: datetime | None = None
) -> LeadFacts:
    return LeadFacts(3, owner, "华东一组", assigned, created or at(2026, 3, 9, 10), "恒康医疗")


def test_untouched_lead_after_72_working_hours_goes_to_the_manager() -> None:
    ld = lead(assigned=at(2026, 3, 9, 10))
    assert r.untouched_dues(ld, at(2026, 3, 19, 9, 59), WT, CFG) == []
    (due,) = r.untouched_dues(ld, at(2026, 3, 19, 10), WT, CFG)
    assert (due.rule, due.level, due.audience, due.window) == (
        r.UNTOUCHED,
        1,
        r.MANAGER,
        "2026-03-09T02:00:00Z",
    )
    festival = lead(assigned=at(2026, 2, 13, 17))
    assert r.untouched_dues(festival, at(2026, 3, 3, 16, 59), WT, CFG) == []
    assert r.untouched_dues(festival, at(2026, 3, 3, 17), WT, CFG)
    assert r.untouched_dues(lead(owner=None, assigned=at(2026, 3, 9, 10)), at(2026, 4, 1), WT, CFG) == []


def test_unassigned_lead_after_two_working_hours_goes_to_the_team_manager() -> None:
    ld = lead(owner=None, created=at(2026, 3, 13, 17))
    assert r.unassigned_dues(ld, at(2026, 3, 16, 9, 59), WT, CFG) == []
    (due,) = r.unassigned_dues(ld, at(2026, 3, 16, 10), WT, CFG)
    assert due.audience == r.TEAM_MANAGER
    assert r.unassigned_dues(lead(owner="lisi", created=at(2026, 3, 13, 17)), at(2026, 3, 17), WT, CFG) == []


# ---------------------------------------------------------------------- stage stall
def test_stall_ladder_rep_then_manager_then_director_with_the_quote_limit() -> None:
    d = deal(stage="quote", entered=at(2026, 3, 2, 10))  # Monday; 报价 limit 3 working days
    assert r.stall_dues(d, at(2026, 3, 6, 8, 59), WT, CFG, 3) == []
    assert levels(r.stall_dues(d, at(2026, 3, 6, 9), WT, CFG, 3)) == [(1, r.OWNER)]
    assert len(r.stall_dues(d, at(2026, 3, 10, 8, 59), WT, CFG, 3)) == 1
    assert levels(r.stall_dues(d, at(2026, 3, 10, 9), WT, CFG, 3))[-1] == (2, r.MANAGER)
    assert len(r.stall_dues(d, at(2026, 3, 13, 8, 59), WT, CFG, 3)) == 2
    assert levels(r.stall_dues(d, at(2026, 3, 13, 9), WT, CFG, 3))[-1] == (3, r.DIRECTOR)
    assert r.dwell_text(d, at(2026, 3, 13, 9), WT, 3) == "9 个工作日（上限 3）"


def test_stall_counts_working_days_through_national_day() -> None:
    d = deal(stage="demo", entered=at(2026, 9, 28, 15))  # Mon; 5 working days: 9-29, 9-30, 10-8, 10-9, 10-10
    assert r.stall_dues(d, at(2026, 10, 10, 18), WT, CFG, 5) == []
    assert r.stall_dues(d, at(2026, 10, 12, 9), WT, CFG, 5)


def test_stall_query_range_contains_every_deal_the_rule_would_flag() -> None:
    now = at(2026, 10, 12, 9)
    lo, hi = r.stall_entry_range(now, WT, CFG, 5)
    for hours in range(0, 24 * 60, 5):
        entered = now - timedelta(hours=hours)
        dues = r.stall_dues(deal(stage="demo", entered=entered), now, WT, CFG, 5)
        top_recent = dues and max(x.due_at for x in dues) >= now - timedelta(days=CFG.lookback_days)
        if top_recent:
            assert lo <= entered < hi, entered


# ---------------------------------------------------------------------- choosing what fires
def test_choose_fires_the_highest_due_level_once_and_not_at_night() -> None:
    d = deal(next_on=date(2026, 3, 11))
    dues = r.followup_dues(d, at(2026, 3, 16, 9), WT, CFG)
    assert r.choose(dues, [], at(2026, 3, 16, 21, 30), WT) is None  # quiet hours
    chosen = r.choose(dues, [], at(2026, 3, 16, 9), WT)
    assert chosen is not None and chosen.level == 3  # catch-up after downtime: once, at the top
    fired = [LedgerEntry(r.FOLLOWUP, "deal", 7, 3, "2026-03-11", "open")]
    assert r.choose(dues, fired, at(2026, 3, 16, 10), WT) is None
    only_first = [LedgerEntry(r.FOLLOWUP, "deal", 7, 1, "2026-03-11", "open")]
    assert r.choose(dues, only_first, at(2026, 3, 16, 10), WT).level == 3  # type: ignore[union-attr]
    acted = [LedgerEntry(r.FOLLOWUP, "deal", 7, 1, "2026-03-11", "snoozed")]
    assert r.choose(dues, acted, at(2026, 3, 16, 10), WT) is None
    other_window = [LedgerEntry(r.FOLLOWUP, "deal", 7, 3, "2026-03-01", "superseded")]
    assert r.choose(dues, other_window, at(2026, 3, 16, 10), WT) is not None


def test_digest_at_six_on_working_days_only() -> None:
    assert r.digest_due("zhaoqiang", at(2026, 3, 10, 17, 59), WT, CFG) is None
    due = r.digest_due("zhaoqiang", at(2026, 3, 10, 18), WT, CFG)
    assert due is not None and due.window == "2026-03-10:zhaoqiang"
    assert r.digest_due("zhaoqiang", at(2026, 3, 10, 21, 5), WT, CFG) is None
    assert r.digest_due("zhaoqiang", at(2026, 10, 2, 18), WT, CFG) is None


# ---------------------------------------------------------------------- config and recipients
def test_config_defaults_and_refusals() -> None:
    assert CFG.dwell_days("quote") == 3 and CFG.dwell_days("demo") == 5
    with pytest.raises(ValidationError):
        ReminderConfig(overdue_rep_workdays=3, overdue_manager_workdays=3)
    with pytest.raises(ValidationError):
        ReminderConfig(snooze_days=[1, 3, 7, 14])
    with pytest.raises(ValidationError):
        ReminderConfig(digest_time="6pm")
    with pytest.raises(ValidationError):
        ReminderConfig(unknown_key=1)  # type: ignore[call-arg]
    assert r.parse_snooze("3d", [1, 3, 7]) == 3
    for bad in ("30d", "abc", "", "-1d"):
        with pytest.raises(r.InvalidInput):
            r.parse_snooze(bad, [1, 3, 7])


def test_recipients_climb_the_org_and_skip_people_who_are_away() -> None:
    users = {
        u.id: u
        for u in [
            User("wangzong", "王总监", frozenset({Role.DIRECTOR})),
            User("zhaoqiang", "赵强", frozenset({Role.MANAGER}), "华东一组", "wangzong"),
            User("zhangsan", "张三", frozenset({Role.REP}), "华东一组", "zhaoqiang"),
            User("lisi", "李四", frozenset({Role.REP}), "华东一组", "zhaoqiang", status=UserStatus.ON_LEAVE),
        ]
    }
    assert r.audience_user(r.OWNER, users["zhangsan"], "华东一组", users).id == "zhangsan"  # type: ignore[union-attr]
    assert r.audience_user(r.OWNER, users["lisi"], "华东一组", users).id == "zhaoqiang"  # type: ignore[union-attr]
    assert r.audience_user(r.MANAGER, users["zhangsan"], None, users).id == "zhaoqiang"  # type: ignore[union-attr]
    assert r.audience_user(r.DIRECTOR, users["zhangsan"], None, users).id == "wangzong"  # type: ignore[union-attr]
    assert r.audience_user(r.TEAM_MANAGER, None, "华东一组", users).id == "zhaoqiang"  # type: ignore[union-attr]
    assert r.audience_user(r.TEAM_MANAGER, None, "无此团队", users).id == "wangzong"  # type: ignore[union-attr]

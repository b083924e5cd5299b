from datetime import date

import pytest

from core.workcal import WorkCalendar

# A small hand-made calendar: a holiday Thu-Fri 2026-10-01/02, a weekend, a holiday Monday 10-05,
# and a make-up workday on Saturday 2026-10-10.
HOLIDAYS = {date(2026, 10, 1): "国庆节", date(2026, 10, 2): "国庆节", date(2026, 10, 5): "国庆节"}
MAKEUP = [date(2026, 10, 10)]


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar(HOLIDAYS, MAKEUP)


def test_weekdays_weekends_holidays_and_makeup_days(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2026, 9, 30))  # Wednesday
    assert not cal.is_workday(date(2026, 10, 1))  # holiday
    assert not cal.is_workday(date(2026, 10, 3))  # Saturday
    assert cal.is_workday(date(2026, 10, 10))  # make-up Saturday
    assert cal.holiday_name(date(2026, 10, 2)) == "国庆节"
    assert cal.holiday_name(date(2026, 10, 6)) is None


def test_next_workday_skips_the_whole_break(cal: WorkCalendar) -> None:
    assert cal.next_workday(date(2026, 9, 30)) == date(2026, 10, 6)
    assert cal.next_workday(date(2026, 10, 9)) == date(2026, 10, 10)


def test_add_workdays_forward_backward_and_zero(cal: WorkCalendar) -> None:
    assert cal.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 6)
    assert cal.add_workdays(date(2026, 9, 30), 5) == date(2026, 10, 10)
    assert cal.add_workdays(date(2026, 10, 6), -1) == date(2026, 9, 30)
    assert cal.add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 6)
    assert cal.add_workdays(date(2026, 9, 30), 0) == date(2026, 9, 30)


def test_workdays_between_is_half_open_and_signed(cal: WorkCalendar) -> None:
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 10)) == 5  # 6,7,8,9,10
    assert cal.workdays_between(date(2026, 10, 10), date(2026, 9, 30)) == -5
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 9, 30)) == 0


def test_first_workday_after_holiday(cal: WorkCalendar) -> None:
    # before the break, inside it, and in the gap of the weekend in the middle of it
    assert cal.first_workday_after_holiday(date(2026, 9, 28)) == date(2026, 10, 6)
    assert cal.first_workday_after_holiday(date(2026, 10, 2)) == date(2026, 10, 6)
    assert cal.first_workday_after_holiday(date(2026, 10, 4)) == date(2026, 10, 6)


def test_no_holiday_known_gives_none() -> None:
    assert WorkCalendar({}, []).first_workday_after_holiday(date(2026, 1, 1)) is None


def test_custom_weekend() -> None:
    cal = WorkCalendar({}, [], weekend=(4, 5))  # Friday-Saturday weekend
    assert not cal.is_workday(date(2026, 10, 9))  # Friday
    assert cal.is_workday(date(2026, 10, 11))  # Sunday

from datetime import date

from bot.workcal import build_work_calendar, china_calendar


def test_china_calendar_has_spring_festival_and_makeup_days() -> None:
    cal = china_calendar([2026])
    assert not cal.is_workday(date(2026, 2, 17))
    assert cal.is_workday(date(2026, 2, 14))  # Saturday make-up workday (调休)
    assert cal.first_workday_after_holiday(date(2026, 2, 12)) == date(2026, 2, 24)


def test_overrides_add_and_remove_days() -> None:
    class Overrides:
        def __init__(self) -> None:
            self.extra_holidays = {"2026-03-02": "公司年会"}
            self.extra_workdays = ["2026-03-07"]
            self.removed_holidays = ["2026-04-06"]

    cal = build_work_calendar(Overrides(), today=date(2026, 1, 1))
    assert not cal.is_workday(date(2026, 3, 2))
    assert cal.holiday_name(date(2026, 3, 2)) == "公司年会"
    assert cal.is_workday(date(2026, 3, 7))
    assert cal.is_workday(date(2026, 4, 6))


def test_defaults_cover_next_years() -> None:
    cal = build_work_calendar(None, today=date(2026, 12, 30))
    assert not cal.is_workday(date(2027, 10, 1))

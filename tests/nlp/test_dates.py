from datetime import date

import pytest

from bot.nlp.dates import DateExtractor
from bot.workcal import china_calendar


def first(text: str, today: date, calendar=None) -> date | None:
    found = [d for d in DateExtractor(calendar).find(text, today) if d.value >= today]
    return found[0].value if found else None


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("明天上午发报价", date(2026, 1, 6), date(2026, 1, 7)),
        ("后天去面谈", date(2026, 2, 3), date(2026, 2, 5)),
        ("大后天带工程师去现场", date(2026, 9, 1), date(2026, 9, 4)),
        ("下周三演示", date(2026, 3, 10), date(2026, 3, 18)),
        ("下星期一发方案", date(2026, 1, 8), date(2026, 1, 12)),
        ("下礼拜五再打", date(2026, 1, 8), date(2026, 1, 16)),
        ("下下周三做演示", date(2026, 4, 1), date(2026, 4, 15)),
        ("周五下午2点线上演示", date(2026, 1, 13), date(2026, 1, 16)),
        ("周二再去", date(2026, 1, 13), date(2026, 1, 20)),  # today is Tuesday: the coming one
        ("本周四发文档", date(2026, 9, 16), date(2026, 9, 17)),
        ("这周五给他报价", date(2026, 8, 19), date(2026, 8, 21)),
        ("25号给他报价", date(2026, 5, 15), date(2026, 5, 25)),
        ("3号再确认", date(2026, 10, 27), date(2026, 11, 3)),  # passed: next month
        ("十五号见面", date(2026, 3, 2), date(2026, 3, 15)),
        ("9月15日上门", date(2026, 8, 31), date(2026, 9, 15)),
        ("6月3日去公司", date(2026, 5, 26), date(2026, 6, 3)),
        ("8.20下午去调研", date(2026, 8, 12), date(2026, 8, 20)),
        ("3/15再联系", date(2026, 3, 2), date(2026, 3, 15)),
        ("月底再报一次", date(2026, 5, 14), date(2026, 5, 31)),
        ("月底再跟进", date(2026, 2, 10), date(2026, 2, 28)),
        ("下个月6号再约", date(2026, 12, 21), date(2027, 1, 6)),
        ("下个月初给答复", date(2026, 11, 16), date(2026, 12, 1)),
        ("3天后再电话跟进", date(2026, 10, 28), date(2026, 10, 31)),
        ("两周后再联系", date(2026, 1, 27), date(2026, 2, 10)),
        ("2027年3月5日签约", date(2026, 12, 1), date(2027, 3, 5)),
    ],
)
def test_relative_and_absolute_dates(text: str, today: date, expected: date) -> None:
    assert first(text, today) == expected


def test_dates_across_year_end() -> None:
    assert first("1月6日电话回访", date(2026, 12, 29)) == date(2027, 1, 6)
    assert first("下周一去签", date(2026, 12, 31)) == date(2027, 1, 4)
    assert first("明天", date(2026, 12, 31)) == date(2027, 1, 1)
    assert first("5天后", date(2026, 12, 30)) == date(2027, 1, 4)


def test_dates_across_month_end() -> None:
    assert first("后天", date(2026, 1, 30)) == date(2026, 2, 1)
    assert first("下周二", date(2026, 2, 27)) == date(2026, 3, 3)
    assert first("月底再报", date(2028, 2, 3)) == date(2028, 2, 29)  # leap year
    assert first("31号再打", date(2026, 4, 15)) == date(
        2026, 5, 31
    )  # no 4月31日: the next month that has one
    assert first("下个月31号", date(2026, 3, 10)) is None  # 4月31日 does not exist


def test_next_week_on_a_sunday_is_the_next_day() -> None:
    sunday = date(2026, 10, 18)
    assert first("下周一", sunday) == date(2026, 10, 19)
    assert first("下周二拉个群", sunday) == date(2026, 10, 20)
    assert first("周一", sunday) == date(2026, 10, 19)


@pytest.mark.parametrize(
    "text",
    [
        "改天再约",
        "过段时间再说",
        "有空再聊",
        "下周再打",
        "下个月再说",
        "月底前要定下来",
        "月底了，冲业绩",
        "上周三拜访的",
        "年底再看",
    ],
)
def test_vague_or_past_times_give_no_date(text: str) -> None:
    assert first(text, date(2026, 3, 10)) is None


def test_after_the_holiday_needs_a_calendar() -> None:
    assert first("节后安排试用", date(2026, 2, 12)) is None
    cal = china_calendar([2026, 2027])
    assert first("节后安排试用", date(2026, 2, 12), cal) == date(2026, 2, 24)
    assert first("国庆后再联系", date(2026, 9, 29), cal) == date(2026, 10, 8)

"""The next follow-up date: relative and absolute date expressions resolved against `now`.

Conventions (from the corpus README): weeks start on Monday; 下周X = that weekday of the next
week; 周X alone = the coming one (a week ahead when today is that weekday); N号 = this month, or
next month when it has passed; N月N日 without a year = this year, or next year when it is long
past; 月底 = last day of the month (月底前 is a deadline, not a date); 月初 / 下个月初 = the 1st of
next month; 节后 = first working day after the next holiday (only with a WorkCalendar). 下周 or
下个月 alone, 改天, 过段时间 and other vague times give no date.
"""

from __future__ import annotations

import calendar as _cal
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from bot.nlp.numerals import cn_to_number
from core.workcal import WorkCalendar

_CN_SMALL = "零〇一二两三四五六七八九十"
_NUM = rf"(?:\d{{1,2}}|[{_CN_SMALL}]{{1,3}})"
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}  # fmt: skip
# Said on that very weekday, "周五晚上 / 周一一早 / 周四去了" tells what happened today.
_TODAY_NARRATIVE = re.compile(r"(?:一早|早上|上午|中午|下午|晚上|下班前|[^,，。;；再约]{0,8}了)")
# A date in the past by more than this is read as next year's (said in late December about
# January); a date past by less is a reference to something that already happened.
_ROLL_YEAR_AFTER_DAYS = 120

# Named holidays for "X后" (only resolved with a calendar); values are substrings of the names
# the `holidays` package uses.
_NAMED_HOLIDAYS = {
    "春节": "Spring Festival", "过年": "Spring Festival", "年后": "Spring Festival",
    "国庆": "National Day", "十一": "National Day", "五一": "Labor Day", "劳动节": "Labor Day",
    "端午": "Dragon Boat", "中秋": "Mid-Autumn", "清明": "Tomb-Sweeping", "元旦": "New Year",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DateMatch:
    start: int
    end: int
    value: date
    confidence: float
    kind: str


def _n(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    v = cn_to_number(text)
    return int(v) if v is not None and v == int(v) else None


def _safe(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _add_months(d: date, months: int, day: int | None = None) -> date | None:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = _cal.monthrange(year, month)[1]
    return _safe(year, month, min(day if day is not None else d.day, last))


def _month_end(y: int, m: int) -> date:
    return date(y, m, _cal.monthrange(y, m)[1])


Resolver = Callable[[re.Match[str], date], date | None]


class DateExtractor:
    def __init__(self, calendar: WorkCalendar | None = None) -> None:
        self.calendar = calendar
        after = r"(?:后|之后|以后)"
        # (pattern, resolver, confidence, kind); earlier patterns win on overlap.
        self._rules: list[tuple[re.Pattern[str], Resolver, float, str]] = [
            (re.compile(rf"(\d{{4}})\s*年\s*({_NUM})\s*月\s*({_NUM})\s*[日号]?"), self._ymd, 0.98, "ymd"),
            (re.compile(r"(?<![\d#])(20\d{2})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d#])"), self._ymd, 0.98, "iso"),
            (re.compile(rf"(下下个?月|下个?月|这个月|本月)\s*({_NUM})\s*[号日]"), self._rel_month_day, 0.92, "month_day"),
            (re.compile(r"(下下个?月|下个?月)\s*(初|底|末|中)(?!旬)"), self._rel_month_part, 0.85, "month_part"),
            (re.compile(rf"(?<![\d#.])({_NUM})\s*月\s*({_NUM})\s*[日号]"), self._md, 0.95, "md"),
            (re.compile(rf"(?<![\d#.])({_NUM})\s*月\s*(初|底|末|中)(?!旬|前|之前)"), self._m_part, 0.8, "m_part"),
            (
                re.compile(r"(?<![\d#.\-/:])(\d{1,2})[./](\d{1,2})(?![\d#%])(?!\s*[万元亿kKwW折倍个%版])"),
                self._md,
                0.85,
                "m.d",
            ),
            (re.compile(r"(大后天|后天|明天|明早|明晚|明儿|明日)"), self._day_word, 0.95, "day"),
            (re.compile(r"(今天|今晚|今日)(?=(?:上午|下午|晚上|晚些|晚点)?(?:再|之内|内|下班前|就|把))"), self._day_word, 0.6, "today"),
            # 下午再打 / 我下午过去 / 约了下午三点电话聊: a later part of today is a follow-up today;
            # 下午拜访了 or 下午去了 tell what was done.
            (
                re.compile(
                    r"(?<![昨前明后天日周期拜一二三四五六\d])(今天|今晚)?(?:上午|下午|晚上|中午|傍晚|晚些时候)"
                    rf"(?:\s*(?:{_NUM}|\d{{1,2}})\s*[点:：](?:\d{{2}}|半|{_NUM}分?)?(?:左右)?)?"
                    r"(?=\s*(?:再|就|把|给[您他她](?:打|发|回)|(?:过去|去|过来|来|发(?!你|给你)|打|回|电话|带|送)(?![^,，。;；\s]{0,16}了)))"
                ),
                self._day_word,
                0.6,
                "today",
            ),
            (
                re.compile(r"(下下个?|下个?|这个?|本|上上个?|上个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])"),
                self._weekday,
                0.93,
                "weekday",
            ),
            (re.compile(rf"({_NUM}|半)\s*个?\s*(天|日|周|星期|礼拜|月)\s*{after}"), self._offset, 0.85, "offset"),
            # 过两天 / 过几天 is "in a couple of days": vague; 过三天 is a count.
            (re.compile(rf"过\s*(?![两几])({_NUM})\s*(天)"), self._offset, 0.75, "offset"),
            (
                # 月底 is a date only when something is to happen then (月底再报价); "月底了" or
                # "月底冲业绩" describe today, and 月底前 is a deadline.
                re.compile(r"(?<![下上这本个])(月底|月末)(?=[^,，。;；]{0,4}(?:再|给|发|去|来|打|报|签|联系|跟进|确认|见|回|答复|定|交|出|提供|安排|约|开|过来|过去))(?!前|之前)"),
                self._month_end_word,
                0.85,
                "month_end",
            ),
            (re.compile(r"(?<![下上这本个\d])(月初)"), self._next_month_start, 0.75, "month_start"),
            (re.compile(r"(?<![下上这本个\d])(月中)"), self._mid_month, 0.6, "mid_month"),
            (
                re.compile(rf"(?<![\d#.月\-/:])({_NUM})\s*号(?![线楼仓馆门厅机位车店院桌窗房])"),
                self._day_of_month,
                0.85,
                "day_of_month",
            ),
            (re.compile(r"(?<![\d#.月\-/:年])(\d{1,2})\s*日(?![常期子志本报])"), self._day_of_month, 0.75, "day_of_month"),
            (re.compile(r"(节后|节假日后|假期后|放假回来|(春节|过年|国庆|十一|五一|劳动节|端午|中秋|清明|元旦)(?:后|之后|以后|过后|回来))"),
             self._after_holiday, 0.6, "holiday"),
        ]  # fmt: skip

    # -- public --------------------------------------------------------------------------------
    def find(self, text: str, today: date) -> list[DateMatch]:
        """Every resolvable date expression, in text order (past dates included, flagged by value)."""
        taken: list[tuple[int, int]] = []
        out: list[DateMatch] = []
        for pattern, resolve, conf, kind in self._rules:
            for m in pattern.finditer(text):
                if any(m.start() < e and s < m.end() for s, e in taken):
                    continue
                taken.append((m.start(), m.end()))
                value = resolve(m, today)
                if value is not None:
                    out.append(DateMatch(m.start(), m.end(), value, conf, kind))
        out.sort(key=lambda d: d.start)
        return out

    # -- resolvers -----------------------------------------------------------------------------
    @staticmethod
    def _ymd(m: re.Match[str], today: date) -> date | None:
        y, mo, d = _n(m.group(1)), _n(m.group(2)), _n(m.group(3))
        return _safe(y, mo, d) if y and mo and d else None

    @staticmethod
    def _md(m: re.Match[str], today: date) -> date | None:
        mo, d = _n(m.group(1)), _n(m.group(2))
        if not mo or not d or mo > 12 or d > 31:
            return None
        value = _safe(today.year, mo, d)
        if value is not None and (today - value).days > _ROLL_YEAR_AFTER_DAYS:
            value = _safe(today.year + 1, mo, d)
        return value

    @staticmethod
    def _m_part(m: re.Match[str], today: date) -> date | None:
        mo = _n(m.group(1))
        if not mo or mo > 12:
            return None
        year = today.year + (1 if (today.month - mo) * 30 > _ROLL_YEAR_AFTER_DAYS else 0)
        part = m.group(2)
        if part in ("底", "末"):
            return _month_end(year, mo)
        return date(year, mo, 1 if part == "初" else 15)

    @staticmethod
    def _months_ahead(word: str) -> int:
        return 2 if word.startswith("下下") else 1 if word.startswith("下") else 0

    def _rel_month_day(self, m: re.Match[str], today: date) -> date | None:
        d = _n(m.group(2))
        if not d:
            return None
        value = _add_months(today.replace(day=1), self._months_ahead(m.group(1)), d)
        return value if value is not None and value.day == d else None

    def _rel_month_part(self, m: re.Match[str], today: date) -> date | None:
        first = _add_months(today.replace(day=1), self._months_ahead(m.group(1)), 1)
        if first is None:
            return None
        part = m.group(2)
        if part in ("底", "末"):
            return _month_end(first.year, first.month)
        return first if part == "初" else first.replace(day=15)

    @staticmethod
    def _day_word(m: re.Match[str], today: date) -> date | None:
        offset = {"大后天": 3, "后天": 2, "明天": 1, "明早": 1, "明晚": 1, "明儿": 1, "明日": 1}.get(
            m.group(1), 0
        )
        return today + timedelta(days=offset)

    @staticmethod
    def _weekday(m: re.Match[str], today: date) -> date | None:
        prefix = (m.group(1) or "").replace("个", "")
        wd = _WEEKDAYS[m.group(2)]
        if not prefix and wd == today.weekday() and _TODAY_NARRATIVE.match(m.string, m.end()):
            return None  # "周五晚上…打电话来" written on a Friday: today, told as what happened
        monday = today - timedelta(days=today.weekday())
        if prefix == "下下":
            return monday + timedelta(days=14 + wd)
        if prefix == "下":
            return monday + timedelta(days=7 + wd)
        if prefix.startswith("上"):
            return monday - timedelta(days=7 * len(prefix) - wd)
        if prefix in ("这", "本"):
            return monday + timedelta(days=wd)
        ahead = (wd - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)

    @staticmethod
    def _offset(m: re.Match[str], today: date) -> date | None:
        n = 0.5 if m.group(1) == "半" else _n(m.group(1))
        if not n:
            return None
        unit = m.group(2)
        if unit in ("天", "日"):
            return today + timedelta(days=int(n))
        if unit in ("周", "星期", "礼拜"):
            return today + timedelta(days=int(7 * n))
        if n == 0.5:
            return today + timedelta(days=15)
        return _add_months(today, int(n))

    @staticmethod
    def _month_end_word(m: re.Match[str], today: date) -> date | None:
        return _month_end(today.year, today.month)

    @staticmethod
    def _next_month_start(m: re.Match[str], today: date) -> date | None:
        return _add_months(today.replace(day=1), 1, 1)

    @staticmethod
    def _mid_month(m: re.Match[str], today: date) -> date | None:
        mid = today.replace(day=15)
        return mid if mid >= today else _add_months(mid, 1, 15)

    @staticmethod
    def _day_of_month(m: re.Match[str], today: date) -> date | None:
        d = _n(m.group(1))
        if not d or d > 31:
            return None
        value = _safe(today.year, today.month, d)
        if value is None or value < today:
            value = _add_months(today.replace(day=1), 1, d)
            if value is not None and value.day != d:
                return None  # 31号 in a 30-day month
        return value

    def _after_holiday(self, m: re.Match[str], today: date) -> date | None:
        if self.calendar is None:
            return None
        named = m.group(2)
        if not named:
            return self.calendar.first_workday_after_holiday(today)
        wanted = _NAMED_HOLIDAYS.get(named, "")
        d = today
        for _ in range(400):
            name = self.calendar.holiday_name(d) or ""
            if wanted and wanted in name and not self.calendar.is_workday(d):
                return self.calendar.first_workday_after_holiday(d)
            d += timedelta(days=1)
        return None

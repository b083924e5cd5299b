"""A working-day calendar: weekends, public holidays and make-up workdays (调休).

Pure and standard-library only: the holiday data comes from outside (see `bot/workcal.py`), so core
rules (reminders, dwell limits, "节后") can reason about working days without knowing where the
holidays were published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

# A holiday period is found by walking day by day; no real period is anywhere near this long, and
# the bound keeps a calendar with missing data from looping for ever.
_MAX_SCAN_DAYS = 400


class WorkCalendar:
    def __init__(
        self,
        holidays: Mapping[date, str] | None = None,
        makeup_workdays: Iterable[date] = (),
        weekend: tuple[int, ...] = (5, 6),
    ) -> None:
        self._holidays: dict[date, str] = dict(holidays or {})
        self._makeup: frozenset[date] = frozenset(makeup_workdays)
        self._weekend: frozenset[int] = frozenset(weekend)

    # -- single days -------------------------------------------------------------------------
    def is_holiday(self, d: date) -> bool:
        return d in self._holidays

    def holiday_name(self, d: date) -> str | None:
        return self._holidays.get(d)

    def is_workday(self, d: date) -> bool:
        if d in self._makeup:
            return True
        if d in self._holidays:
            return False
        return d.weekday() not in self._weekend

    # -- moving around -----------------------------------------------------------------------
    def next_workday(self, d: date) -> date:
        """The first working day strictly after `d`."""
        cur = d + timedelta(days=1)
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_workday(cur):
                return cur
            cur += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days after {d}")

    def add_workdays(self, d: date, n: int) -> date:
        """`n` working days after `d` (n < 0 goes back; n == 0 rolls a non-working `d` forward)."""
        if n == 0:
            return d if self.is_workday(d) else self.next_workday(d)
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        cur = d
        while remaining:
            cur += step
            if self.is_workday(cur):
                remaining -= 1
        return cur

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in the half-open interval (a, b]; negative when b is before a."""
        if b < a:
            return -self.workdays_between(b, a)
        count = 0
        cur = a + timedelta(days=1)
        while cur <= b:
            if self.is_workday(cur):
                count += 1
            cur += timedelta(days=1)
        return count

    def first_workday_after_holiday(self, d: date) -> date | None:
        """For "节后": the first working day after the holiday period `d` is in, or else the next one.

        A holiday period is the run of non-working days around a public holiday (weekends and
        调休 rest days included). Returns None when no holiday is known within the scan window.
        """
        cur = d
        for _ in range(_MAX_SCAN_DAYS):
            if cur in self._holidays and not self.is_workday(cur):
                break
            cur += timedelta(days=1)
        else:
            return None
        # Walk through the whole run of non-working days that contains the holiday.
        while not self.is_workday(cur):
            cur += timedelta(days=1)
        return cur

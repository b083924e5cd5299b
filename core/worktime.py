"""Working hours on top of the working-day calendar: "09:00 on the due working day", "72 working
hours after assignment", quiet hours.

Pure and standard-library only. Every datetime given is timezone-aware; results are aware datetimes
in the configured zone (compare them freely with UTC ones).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from core.workcal import WorkCalendar

# No real calendar has more than a few weeks without a working day; the bound only stops a
# calendar with broken data from looping for ever.
_MAX_DAYS = 4000


def parse_hhmm(text: str | time) -> time:
    """`"09:00"` → time(9, 0); a clear ValueError on anything else."""
    if isinstance(text, time):
        return text
    try:
        hour, minute = str(text).strip().split(":")
        return time(int(hour), int(minute))
    except ValueError as exc:
        raise ValueError(f"时间应写成 HH:MM（如 09:00），收到 {text!r}") from exc


class WorkTime:
    """Working hours (default 09:00–18:00 on working days) and quiet hours (default 21:00–09:00).

    `hold_on_rest_days`: cards that fall due on a weekend or a public holiday wait for the next
    working morning too, as they would at night.
    """

    def __init__(
        self,
        calendar: WorkCalendar,
        tz: tzinfo,
        *,
        work_start: time | str = time(9),
        work_end: time | str = time(18),
        quiet_start: time | str = time(21),
        quiet_end: time | str = time(9),
        hold_on_rest_days: bool = True,
    ) -> None:
        self.calendar = calendar
        self.tz = tz
        self.work_start = parse_hhmm(work_start)
        self.work_end = parse_hhmm(work_end)
        self.quiet_start = parse_hhmm(quiet_start)
        self.quiet_end = parse_hhmm(quiet_end)
        self.hold_on_rest_days = hold_on_rest_days
        if self.work_end <= self.work_start:
            raise ValueError("下班时间必须晚于上班时间")

    # ------------------------------------------------------------ days and moments
    def local(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            raise ValueError("WorkTime needs aware datetimes")
        return dt.astimezone(self.tz)

    def today(self, now: datetime) -> date:
        return self.local(now).date()

    def at(self, d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=self.tz)

    def day_start(self, d: date) -> datetime:
        """Midnight at the start of local day `d`."""
        return self.at(d, time(0))

    def is_workday(self, d: date) -> bool:
        return self.calendar.is_workday(d)

    def workday_on_or_after(self, d: date) -> date:
        return self.calendar.add_workdays(d, 0)

    def morning_of(self, d: date) -> datetime:
        """Work start (09:00) on `d`, or on the next working day when `d` is a rest day."""
        return self.at(self.workday_on_or_after(d), self.work_start)

    def is_working_time(self, dt: datetime) -> bool:
        local = self.local(dt)
        return self.is_workday(local.date()) and self.work_start <= local.time() < self.work_end

    def next_work_start(self, dt: datetime) -> datetime:
        """The first work start (09:00 on a working day) at or after `dt`."""
        local = self.local(dt)
        d = local.date()
        if self.is_workday(d) and local <= self.at(d, self.work_start):
            return self.at(d, self.work_start)
        return self.at(self.calendar.next_workday(d), self.work_start)

    # ------------------------------------------------------------ working hours
    def add_work_hours(self, dt: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `dt` (time outside working hours does not count)."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        cur = self.local(dt)
        for _ in range(_MAX_DAYS):
            d = cur.date()
            if self.is_workday(d):
                start, end = self.at(d, self.work_start), self.at(d, self.work_end)
                cur = max(cur, start)
                if cur < end or (cur == end and not remaining):
                    available = end - cur
                    if remaining <= available:
                        return cur + remaining
                    remaining -= available
            cur = self.at(self.calendar.next_workday(d), self.work_start)
        raise ValueError(f"no working time within {_MAX_DAYS} days after {dt}")

    def sub_work_hours(self, dt: datetime, hours: float) -> datetime:
        """The latest moment t with add_work_hours(t, hours) <= dt (for query cut-offs)."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        cur = self.local(dt)
        for _ in range(_MAX_DAYS):
            d = cur.date()
            if self.is_workday(d):
                start, end = self.at(d, self.work_start), self.at(d, self.work_end)
                cur = min(cur, end)
                if cur > start:
                    available = cur - start
                    if remaining < available or (remaining == available and remaining):
                        return cur - remaining
                    remaining -= available
            cur = self.at(self.calendar.add_workdays(d, -1), self.work_end)
        raise ValueError(f"no working time within {_MAX_DAYS} days before {dt}")

    def work_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours in [a, b]; 0 when b is not after a."""
        if b <= a:
            return 0.0
        total = timedelta()
        cur, end_local = self.local(a), self.local(b)
        d = cur.date()
        for _ in range(_MAX_DAYS):
            if d > end_local.date():
                break
            if self.is_workday(d):
                lo = max(cur, self.at(d, self.work_start))
                hi = min(end_local, self.at(d, self.work_end))
                if hi > lo:
                    total += hi - lo
            d += timedelta(days=1)
        return total.total_seconds() / 3600

    def workdays_since(self, start: datetime, now: datetime) -> int:
        """Whole working days after the local day of `start`, up to and including today."""
        return self.calendar.workdays_between(self.local(start).date(), self.today(now))

    # ------------------------------------------------------------ quiet hours
    def is_quiet(self, dt: datetime) -> bool:
        t = self.local(dt).time()
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= t < self.quiet_end
        return t >= self.quiet_start or t < self.quiet_end  # wraps midnight (21:00–09:00)

    def may_send(self, dt: datetime) -> bool:
        """Whether a card may go out at `dt`: not at night, and not on a rest day when holding."""
        if self.is_quiet(dt):
            return False
        return not self.hold_on_rest_days or self.is_workday(self.local(dt).date())

    def release_at(self, due: datetime) -> datetime:
        """When a card due at `due` actually goes out: at once, or the next moment it may."""
        cur = self.local(due)
        for _ in range(_MAX_DAYS):
            if self.may_send(cur):
                return cur
            d = cur.date()
            if self.is_quiet(cur):
                cur = self.at(d if cur.time() < self.quiet_end else d + timedelta(days=1), self.quiet_end)
            else:  # a rest day while holding
                cur = self.at(self.calendar.next_workday(d), self.work_start)
        raise ValueError(f"no sending time within {_MAX_DAYS} days after {due}")

"""Builds the core `WorkCalendar` from the `holidays` package plus the admin's overrides.

`holidays.China` knows the State Council's published holidays and make-up workdays (调休) for
the years it has data for; later announcements go into `[calendar]` in crmbot.toml as overrides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from core.workcal import WorkCalendar


def _parse_day(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value).strip())


def china_calendar(
    years: Iterable[int],
    *,
    extra_holidays: Mapping[str | date, str] | None = None,
    extra_workdays: Iterable[str | date] = (),
    removed_holidays: Iterable[str | date] = (),
) -> WorkCalendar:
    import holidays as holidays_pkg  # imported here: only the code that builds a calendar pays for it

    wanted = sorted(set(years))
    cn = holidays_pkg.China(years=wanted)
    table: dict[date, str] = {d: str(name) for d, name in cn.items()}
    makeup = {d for d in getattr(cn, "weekend_workdays", ()) if d.year in wanted}
    for raw, name in (extra_holidays or {}).items():
        table[_parse_day(raw)] = name
    for raw in removed_holidays:
        table.pop(_parse_day(raw), None)
    makeup |= {_parse_day(raw) for raw in extra_workdays}
    # A day announced as a make-up workday is not a holiday, whatever the package said.
    for d in makeup:
        table.pop(d, None)
    return WorkCalendar(table, makeup)


def build_work_calendar(settings: Any = None, *, today: date | None = None) -> WorkCalendar:
    """From a `CalendarSettings`-like object (extra_holidays, extra_workdays, removed_holidays) or None."""
    year = (today or date.today()).year
    return china_calendar(
        range(year - 1, year + 3),
        extra_holidays=getattr(settings, "extra_holidays", None) or {},
        extra_workdays=getattr(settings, "extra_workdays", None) or (),
        removed_holidays=getattr(settings, "removed_holidays", None) or (),
    )

"""Chinese working days (工作日): public holidays and make-up working days (调休).

Backed by ``chinesecalendar`` (1.11.0 knows the State Council schedules for 2004–2026). For a year
it does not know, we fall back to Monday–Friday; :func:`calendar_covers` lets the UI warn that
deadlines in such a year ignore holidays.

Counting rule (the usual administrative one, 期间开始之日不计算在内): the start day never counts;
"within n working days of D" ends on :func:`add_workdays` ``(D, n)``, the n-th working day after D.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta, timezone
from functools import cache

import chinese_calendar

__all__ = [
    "SHANGHAI",
    "add_workdays",
    "calendar_covers",
    "covered_years",
    "is_workday",
    "today",
    "workdays_between",
]

# China has had no daylight saving time since 1991: a fixed UTC+8 offset is Asia/Shanghai for every
# date we handle, and needs no tz database on the host.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def today() -> date:
    """Today's date in Asia/Shanghai."""
    return datetime.now(SHANGHAI).date()


@cache
def covered_years() -> range:
    """Years for which ``chinesecalendar`` has holiday data (``range(2004, 2027)`` for 1.11.0)."""
    days = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return range(min(days).year, max(days).year + 1)


def calendar_covers(year: int) -> bool:
    """Whether holidays and make-up days are known for ``year`` (else Mon–Fri is assumed)."""
    return year in covered_years()


def is_workday(d: date) -> bool:
    """Working day: holidays excluded, make-up working days (调休上班, often a Saturday) included."""
    if isinstance(d, datetime):
        d = d.date()
    if calendar_covers(d.year):
        return bool(chinese_calendar.is_workday(d))
    return d.weekday() < 5


@cache
def _workdays_of(year: int) -> tuple[date, ...]:
    """The working days of one year, in order (computed once per year)."""
    d, one, out = date(year, 1, 1), timedelta(days=1), []
    while d.year == year:
        if is_workday(d):
            out.append(d)
        d += one
    return tuple(out)


def add_workdays(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` (the start day itself is not counted).

    ``n == 0`` returns ``start``; a negative ``n`` counts back (the n-th working day before).
    For ``n >= 0``, ``workdays_between(start, add_workdays(start, n)) == n``.
    """
    if isinstance(start, datetime):
        start = start.date()
    if n == 0:
        return start
    year, remaining = start.year, abs(n)
    days = _workdays_of(year)
    if n > 0:
        i = bisect_right(days, start)  # the first working day after start
        while i + remaining > len(days):
            remaining -= len(days) - i
            year += 1
            days, i = _workdays_of(year), 0
        return days[i + remaining - 1]
    i = bisect_left(days, start)  # working days of this year before start
    while remaining > i:
        remaining -= i
        year -= 1
        days = _workdays_of(year)
        i = len(days)
    return days[i - remaining]


def workdays_between(a: date, b: date) -> int:
    """Working days in ``(a, b]``: after ``a``, up to and including ``b``; negative if ``b < a``."""
    if isinstance(a, datetime):
        a = a.date()
    if isinstance(b, datetime):
        b = b.date()
    if b < a:
        return -workdays_between(b, a)
    count = -bisect_right(_workdays_of(a.year), a)
    for year in range(a.year, b.year):
        count += len(_workdays_of(year))
    return count + bisect_right(_workdays_of(b.year), b)

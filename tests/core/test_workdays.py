from __future__ import annotations

from datetime import date, datetime

from core.workdays import (
    SHANGHAI,
    add_workdays,
    calendar_covers,
    covered_years,
    is_workday,
    today,
    workdays_between,
)


def test_2024_national_day() -> None:
    for day in range(1, 8):
        assert not is_workday(date(2024, 10, day))
    assert is_workday(date(2024, 9, 29))  # Sunday, make-up working day
    assert is_workday(date(2024, 10, 12))  # Saturday, make-up working day
    assert not is_workday(date(2024, 10, 13))  # ordinary Sunday


def test_2025_spring_festival() -> None:
    for day in (28, 29, 30, 31):
        assert not is_workday(date(2025, 1, day))
    for day in (1, 2, 3, 4):
        assert not is_workday(date(2025, 2, day))
    assert is_workday(date(2025, 1, 26))  # Sunday before
    assert is_workday(date(2025, 2, 8))  # Saturday after
    assert is_workday(date(2025, 2, 5))


def test_add_workdays_across_a_holiday() -> None:
    # Fri 27 Sep 2024 + 3: Sun 29 (make-up), Mon 30, then Tue 8 Oct after the holiday.
    assert add_workdays(date(2024, 9, 27), 3) == date(2024, 10, 8)
    assert add_workdays(date(2024, 9, 30), 1) == date(2024, 10, 8)  # next working day
    assert add_workdays(date(2024, 10, 1), 5) == date(2024, 10, 12)
    assert add_workdays(date(2024, 9, 30), 0) == date(2024, 9, 30)
    assert add_workdays(date(2024, 10, 8), -1) == date(2024, 9, 30)
    assert add_workdays(datetime(2024, 9, 27, 17, 0, tzinfo=SHANGHAI), 3) == date(2024, 10, 8)


def test_workdays_between() -> None:
    assert workdays_between(date(2024, 9, 27), date(2024, 10, 8)) == 3
    assert workdays_between(date(2024, 10, 8), date(2024, 9, 27)) == -3
    assert workdays_between(date(2024, 10, 1), date(2024, 10, 1)) == 0
    start = date(2025, 1, 20)
    for n in range(0, 30):
        assert workdays_between(start, add_workdays(start, n)) == n


def test_coverage_and_fallback() -> None:
    assert covered_years() == range(2004, 2027)
    assert calendar_covers(2024) and calendar_covers(2026)
    assert not calendar_covers(2003) and not calendar_covers(2030)
    # Unknown year: plain Monday–Friday, no exception.
    assert is_workday(date(2030, 1, 1))  # a Tuesday (New Year's Day, unknown to the library)
    assert not is_workday(date(2030, 1, 5))  # Saturday
    assert add_workdays(date(2030, 1, 4), 1) == date(2030, 1, 7)


def test_today_is_a_date() -> None:
    assert type(today()) is date


def test_add_workdays_and_between_agree_with_a_day_by_day_walk() -> None:
    """The per-year tables give exactly what counting one day at a time gives, across years."""
    from datetime import timedelta

    from core.workdays import add_workdays, is_workday, workdays_between

    def walk(start: date, n: int) -> date:
        step, d, left = timedelta(days=1 if n >= 0 else -1), start, abs(n)
        while left:
            d += step
            left -= is_workday(d)
        return d

    start = date(2020, 12, 20)
    for offset in range(0, 2300, 11):
        day = start + timedelta(days=offset)
        for n in (-300, -5, -1, 0, 1, 3, 10, 260):
            assert add_workdays(day, n) == walk(day, n), (day, n)
        other = day + timedelta(days=offset % 400)
        assert workdays_between(day, other) == sum(is_workday(day + timedelta(days=k)) for k in range(1, (other - day).days + 1))

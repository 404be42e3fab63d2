"""Time in Asia/Shanghai, everywhere."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(SHANGHAI)


def today() -> date:
    return now().date()


def moment_on(day: date) -> datetime:
    """Now, or — for an action recorded on another business day (the demo replays past days) —
    the current time of day on ``day``."""
    current = now()
    if current.date() == day:
        return current
    return datetime.combine(day, current.time(), tzinfo=SHANGHAI)


def local(dt: datetime) -> datetime:
    """A stored timestamp in Shanghai time (SQLite returns naive UTC-less values as written)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=SHANGHAI)
    return dt.astimezone(SHANGHAI)


def format_date_zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def format_datetime_zh(dt: datetime) -> str:
    dt = local(dt)
    return f"{dt.year}年{dt.month}月{dt.day}日 {dt:%H:%M}"

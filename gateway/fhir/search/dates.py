"""FHIR date, dateTime and instant values as the UTC instant range their precision covers."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# Open ends of a Period. A day inside the calendar's edges, so that PostgreSQL can still show
# them in any session time zone (year 0 or 10000 would not convert back to Python).
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The inclusive UTC range [low, high] that ``text`` covers, or None if it is not a date.

    "2020" covers the whole year, "2020-05-01T10:00" the whole minute, "...:00.5Z" a tenth of a
    second. Values without a time zone (dates, or times missing one) are taken as UTC.
    """
    match = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    parts = match.groupdict()
    try:
        year, month, day = int(parts["year"]), int(parts["month"] or 1), int(parts["day"] or 1)
        zone = _zone(parts["zone"])
        fraction = (parts["fraction"] or "")[:6]
        low = datetime(year, month, day, int(parts["hour"] or 0), int(parts["minute"] or 0),
                       int(parts["second"] or 0), int(fraction.ljust(6, "0") or 0), tzinfo=zone)
    except ValueError:
        return None
    if year == 0:
        return None
    try:
        end = _next(low, parts, fraction)
    except (OverflowError, ValueError):  # the precision reaches past year 9999
        return _clamp(low), FAR_FUTURE
    return _clamp(low), _clamp(end - _ONE_MICROSECOND)


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError("time zone offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _next(low: datetime, parts: dict[str, str | None], fraction: str) -> datetime:
    """The first instant after the precision of ``low``."""
    if parts["month"] is None:
        return low.replace(year=low.year + 1)
    if parts["day"] is None:
        return (low.replace(year=low.year + 1, month=1) if low.month == 12
                else low.replace(month=low.month + 1))
    if parts["hour"] is None:
        return low + timedelta(days=1)
    if parts["second"] is None:
        return low + timedelta(minutes=1)
    if not fraction:
        return low + timedelta(seconds=1)
    return low + timedelta(microseconds=10 ** (6 - len(fraction)))


def _clamp(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # an offset pushed the instant past the calendar's edge
        return FAR_PAST if value.year == 1 else FAR_FUTURE
    return min(max(value, FAR_PAST), FAR_FUTURE)


def period_range(start: str | None, end: str | None) -> tuple[datetime, datetime] | None:
    """The range of a Period: a missing start or end leaves that side open."""
    low = date_range(start) if start else None
    high = date_range(end) if end else None
    if (start and low is None) or (end and high is None) or (low is None and high is None):
        return None
    first = low[0] if low else FAR_PAST
    last = high[1] if high else FAR_FUTURE
    return (first, last) if first <= last else (last, first)


def to_utc(value: datetime) -> datetime:
    """A database value as an aware UTC datetime (SQLite returns naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

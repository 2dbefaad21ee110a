"""Calendar arithmetic for due dates."""
from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month.

    2024-01-31 + 1 month = 2024-02-29; 2024-02-29 + 12 months = 2025-02-28: a due date never
    falls later than the same day-of-month would allow, so "within 12 months" is never stretched
    into the following month.
    """
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    month = month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def parse_date(value: object) -> date | None:
    """A local-record ``YYYY-MM-DD`` date, or None when absent.

    Records are schema-checked on the way in, so a present but malformed value is a bug
    upstream and raises ValueError rather than being skipped silently.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a YYYY-MM-DD date string, got {value!r}")
    return date.fromisoformat(value)

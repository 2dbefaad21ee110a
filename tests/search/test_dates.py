"""Date values as the UTC range their precision covers."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.fhir.search.dates import FAR_FUTURE, FAR_PAST, date_range, period_range


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("text", "low", "high"), [
    ("2020", utc(2020, 1, 1), utc(2020, 12, 31, 23, 59, 59, 999999)),
    ("2020-02", utc(2020, 2, 1), utc(2020, 2, 29, 23, 59, 59, 999999)),
    ("2021-12", utc(2021, 12, 1), utc(2021, 12, 31, 23, 59, 59, 999999)),
    ("2020-05-01", utc(2020, 5, 1), utc(2020, 5, 1, 23, 59, 59, 999999)),
    ("2020-05-01T10:00", utc(2020, 5, 1, 10), utc(2020, 5, 1, 10, 0, 59, 999999)),
    ("2020-05-01T10:00:00Z", utc(2020, 5, 1, 10), utc(2020, 5, 1, 10, 0, 0, 999999)),
    ("2020-05-01T10:00:00.5Z", utc(2020, 5, 1, 10, 0, 0, 500000),
     utc(2020, 5, 1, 10, 0, 0, 599999)),
    ("2020-05-01T10:00:00.123Z", utc(2020, 5, 1, 10, 0, 0, 123000),
     utc(2020, 5, 1, 10, 0, 0, 123999)),
    # Offsets are converted to UTC.
    ("2020-05-01T01:30:00+02:00", utc(2020, 4, 30, 23, 30), utc(2020, 4, 30, 23, 30, 0, 999999)),
    ("2020-05-01T10:00:00-05:00", utc(2020, 5, 1, 15), utc(2020, 5, 1, 15, 0, 0, 999999)),
])
def test_precision_defines_the_range(text: str, low: datetime, high: datetime) -> None:
    assert date_range(text) == (low, high)


@pytest.mark.parametrize("text", ["", "20", "2020-13", "2020-02-30", "2020-05-01T25:00:00Z",
                                  "2020-05-01T10:00:00+15:00", "0000", "May 2020", "2020-5-1"])
def test_invalid_dates_are_rejected(text: str) -> None:
    assert date_range(text) is None


def test_edges_of_the_calendar_are_clamped() -> None:
    assert date_range("9999") == (utc(9999, 1, 1), FAR_FUTURE)
    assert date_range("0001-01-01T00:00:00+05:00") == (FAR_PAST, FAR_PAST)


def test_period_open_ends() -> None:
    assert period_range("2020-01-01", None) == (utc(2020, 1, 1), FAR_FUTURE)
    assert period_range(None, "2020-01") == (FAR_PAST, utc(2020, 1, 31, 23, 59, 59, 999999))
    assert period_range("2020", "2021") == (utc(2020, 1, 1), utc(2021, 12, 31, 23, 59, 59,
                                                                   999999))
    assert period_range(None, None) is None
    assert period_range("garbage", None) is None

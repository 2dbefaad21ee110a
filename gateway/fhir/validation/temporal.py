"""Comparing FHIR dates, dateTimes, instants and times as FHIRPath defines it (§6.1-6.2,
"Date/Time Arithmetic" and comparison): as points in time, precision by precision.

Values are compared component by component from the year (or hour, for times); the first that
differs decides. If one value has a component the other lacks, and all before it are equal,
the answer is unknown (``None``, FHIRPath's empty). Seconds and milliseconds are one
precision, compared as decimals ("29" equals "29.000" and is before "29.9"). A value with a
time zone is compared in UTC. Pure functions, no third-party parser: an invariant that compares
dates runs for every Period of every resource written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

_DATETIME = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})"
                       r"(?::(\d{2})(?:\.(\d+))?)?)?)?)?)?(Z|[+-]\d{2}:\d{2})?$")
_TIME = re.compile(r"T?(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$")


@dataclass(frozen=True)
class Moment:
    """A date/dateTime (``clock`` False) or a time of day (``clock`` True): the components it
    has, most significant first, in UTC when it had a time zone; seconds as a Decimal."""

    clock: bool
    parts: tuple[int | Decimal, ...]


def moment(text: str) -> Moment | None:
    """``text`` as a Moment, or None if it is no FHIR date, dateTime, instant or time."""
    found = _DATETIME.match(text)
    if found is not None:
        year, month, day, hour, minute, second, fraction, zone = found.groups()
        if zone is not None and minute is not None:
            moment_ = datetime(int(year), int(month), int(day), int(hour), int(minute),
                               int(second or 0))
            if zone != "Z":
                sign = 1 if zone[0] == "+" else -1
                moment_ -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            year, month, day, hour, minute = (str(moment_.year), str(moment_.month),
                                              str(moment_.day), str(moment_.hour),
                                              str(moment_.minute))
            second = str(moment_.second) if second is not None else None
        return Moment(False, _parts(year, month, day, hour, minute, second, fraction))
    found = _TIME.match(text)
    if found is not None:
        hour, minute, second, fraction = found.groups()
        return Moment(True, _parts(hour, minute, second, fraction))
    return None


def _parts(*fields: str | None) -> tuple[int | Decimal, ...]:
    """The leading fields present as numbers; the last two fields are seconds and fraction."""
    *whole, second, fraction = fields
    parts: list[int | Decimal] = []
    for field in whole:
        if field is None:
            return tuple(parts)
        parts.append(int(field))
    if second is not None:
        parts.append(Decimal(f"{second}.{fraction or '0'}"))
    return tuple(parts)


def compare(left: Moment, right: Moment) -> int | None:
    """-1, 0 or 1 as ``left`` is before, at or after ``right``; None when unknown (different
    precisions equal as far as both go, or a time of day against a date)."""
    if left.clock != right.clock:
        return None
    for mine, theirs in zip(left.parts, right.parts, strict=False):
        if mine != theirs:
            return -1 if mine < theirs else 1
    return 0 if len(left.parts) == len(right.parts) else None

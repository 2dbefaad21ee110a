"""Deliveries per hour for the last days, as an SVG bar chart drawn on the server (no
JavaScript): one bar per hour in the agency's time zone, sent stacked under dead and
withheld, a label at each midnight."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 180, 36, 22, 8
COLOURS = {"sent": "#1e7d46", "withheld": "#9aa7b3", "dead": "#a4262c"}


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    parts: list[tuple[str, float, float, int]]  # status, y, height, count
    title: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    days: list[tuple[float, str]]  # x of each midnight, its label
    peak: int
    totals: dict[str, int]
    hours: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM
    top: int = TOP
    colours: dict[str, str] | None = None


def hourly_chart(finished: list[tuple[str, datetime]], now: datetime, zone: ZoneInfo,
                 days: int) -> Chart:
    """The chart of ``finished`` (status, when) over the ``days`` days before ``now``."""
    end = now.astimezone(zone).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = days * 24
    start = end - timedelta(hours=hours)
    counts: dict[int, Counter[str]] = {}
    for status, moment in finished:
        if moment.tzinfo is None:  # SQLite gives back naive datetimes; the gateway stores UTC
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        index = int((moment.astimezone(zone) - start).total_seconds() // 3600)
        if 0 <= index < hours:
            counts.setdefault(index, Counter())[status] += 1
    peak = max((sum(c.values()) for c in counts.values()), default=0)
    plot = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / hours
    bars, labels = [], []
    for index in range(hours):
        hour = start + timedelta(hours=index)
        x = LEFT + index * step
        if hour.hour == 0 or (index == 0 and hour.hour < 18):  # no label on a label
            labels.append((x, hour.strftime("%a %-d %b")))
        counted = counts.get(index, Counter())
        parts, y = [], float(HEIGHT - BOTTOM)
        for status in ("sent", "withheld", "dead"):
            if counted[status] and peak:
                tall = plot * counted[status] / peak
                y -= tall
                parts.append((status, round(y, 2), round(tall, 2), counted[status]))
        if parts:
            described = ", ".join(f"{n} {s}" for s, _y, _h, n in parts)
            bars.append(Bar(round(x, 2), round(step * 0.8, 2), parts,
                            f"{hour.strftime('%a %-d %b %H:00')}: {described}"))
    totals = Counter[str]()
    for counted in counts.values():
        totals.update(counted)
    return Chart(bars, labels, peak, dict(totals), hours, colours=COLOURS)

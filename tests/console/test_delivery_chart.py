"""The deliveries chart: finished deliveries counted per hour of the agency's day."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.console.delivery_chart import hourly_chart

DETROIT = ZoneInfo("America/Detroit")


def test_deliveries_are_counted_per_local_hour_and_stacked():
    now = datetime(2026, 12, 7, 15, 20, tzinfo=UTC)  # 10:20 in Detroit
    finished = [("sent", datetime(2026, 12, 7, 14, 5, tzinfo=UTC)),
                ("sent", datetime(2026, 12, 7, 14, 55, tzinfo=UTC)),
                ("dead", datetime(2026, 12, 7, 14, 30)),  # naive: UTC, as SQLite gives it
                ("withheld", datetime(2026, 12, 5, 2, 0, tzinfo=UTC)),
                ("sent", datetime(2026, 12, 1, 0, 0, tzinfo=UTC))]  # before the 3 days
    chart = hourly_chart(finished, now, DETROIT, 3)
    assert chart.hours == 72 and chart.peak == 3
    assert chart.totals == {"sent": 2, "dead": 1, "withheld": 1}
    [nine, other] = sorted(chart.bars, key=lambda b: b.x, reverse=True)
    assert nine.title == "Mon 7 Dec 09:00: 2 sent, 1 dead"
    assert [p[0] for p in nine.parts] == ["sent", "dead"]
    assert other.title == "Fri 4 Dec 21:00: 1 withheld"
    assert [label for _x, label in chart.days] == ["Fri 4 Dec", "Sat 5 Dec",
                                                   "Sun 6 Dec", "Mon 7 Dec"]


def test_nothing_finished_is_an_empty_chart():
    chart = hourly_chart([], datetime(2026, 12, 7, 3, tzinfo=UTC), UTC, 2)
    assert chart.bars == [] and chart.peak == 0 and chart.totals == {}

"""What `make bench` reports, without running it: alternating slices are kept one by one, the
consent cost's spread is reported per round with its min and max, the create target compares
with the storage floor, and the per-vCPU section keeps the published figures apart from ours."""
from __future__ import annotations

from typing import Any

import pytest

from benchmarks import load
from benchmarks import plan as targets
from benchmarks.load import LoadResult, LoadSpec, WorkerResult, interleaving
from benchmarks.machine import Machine
from benchmarks.plan import QUICK
from benchmarks.published import PUBLISHED
from benchmarks.report import Report, per_vcpu_section, render
from benchmarks.stats import summarize
from benchmarks.suite import DatabaseResults, consent_met
from benchmarks.validation_rate import Rate


def result(p50_ms: float, n: int = 100, seconds: float = 1.0,
           slices: tuple[LoadResult, ...] = ()) -> LoadResult:
    return LoadResult(n, seconds, 0, "", summarize([p50_ms / 1e3] * n), n + 5, slices)


def sliced(*p50s_ms: float) -> LoadResult:
    parts = tuple(result(p) for p in p50s_ms)
    return result(sorted(p50s_ms)[len(p50s_ms) // 2], 100 * len(parts), float(len(parts)),
                  parts)


def test_rounds_alternate_which_side_goes_first() -> None:
    assert interleaving(["a", "b"], 5) == [["a", "b"], ["b", "a"], ["a", "b"], ["b", "a"],
                                           ["a", "b"]]
    assert interleaving(["a", "b"], 1) == [["a", "b"]]


def test_interleaved_results_keep_each_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[tuple[int, float]] = []

    def fake_collect(spec: LoadSpec) -> WorkerResult:
        order.append((spec.port, spec.duration))
        n = len(order)
        return WorkerResult(latencies=[n / 1e3] * 10, answered=12)

    monkeypatch.setattr(load, "_collect", fake_collect)
    spec = LoadSpec(1, [], {}, 200, duration=10.0, warmup=1.0, processes=1, threads=1)
    measured = load.run_interleaved({"a": spec, "b": LoadSpec(2, [], {}, 200, 10.0, 1.0, 1, 1)},
                                    5)
    assert [port for port, _ in order] == [1, 2, 2, 1, 1, 2, 2, 1, 1, 2]
    assert all(duration == 2.0 for _, duration in order)
    a, b = measured["a"], measured["b"]
    assert [s.latency.p50 * 1e3 for s in a.slices] == pytest.approx([1, 4, 5, 8, 9])
    assert [s.latency.p50 * 1e3 for s in b.slices] == pytest.approx([2, 3, 6, 7, 10])
    assert all(s.seconds == 2.0 and s.requests == 10 for s in a.slices)
    assert a.requests == 50 and a.seconds == 10.0 and a.answered == 60
    assert load.run_interleaved({"a": spec}, 1)["a"].slices == ()


def database(partner: LoadResult, operator: LoadResult) -> DatabaseResults:
    db = DatabaseResults("SQLite")
    db.load.update({
        "read": result(4.0, 300), "read floor": result(1.0, 1200),
        "search": result(5.0, 200), "search floor": result(1.0, 600),
        "create": result(10.0, 150), "create floor": result(4.0, 300),
        "search as operator": operator, "search as partner": partner,
    })
    db.storage_floor_rows = 305
    return db


def test_consent_spread_per_round() -> None:
    db = database(partner=sliced(11, 10, 12, 10.5, 10), operator=sliced(10, 10, 10, 10, 10))
    assert db.consent_slices() == pytest.approx([0.10, 0.0, 0.20, 0.05, 0.0])
    assert consent_met(0.05, db.consent_slices())
    assert not consent_met(0.11, db.consent_slices())
    assert not consent_met(0.05, db.consent_slices()[:4])  # fewer than 5 slices: no pass
    assert targets.CONSENT_MIN_ROUNDS == 5 <= QUICK.consent_rounds


def machine(cores: str = "2") -> Machine:
    return Machine("2026-12-07 19:40 UTC", cores, "test CPU", "1 GiB", "3.11", "3.40",
                   "15", "Flask", "abc1234", "0 / 0 / 0")


def report(db: DatabaseResults) -> Report:
    return Report(machine(), QUICK, Rate("Validator.validate", 100, 1.0),
                  Rate("CareTeam.model_validate", 100, 1.0), None, [db], [], 60.0,
                  "benchmarks/run.py --quick", "0 / 0 / 0")


def rows(text: str, start: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(start)]


def test_the_report_has_issue_16s_targets_and_the_spread() -> None:
    db = database(partner=sliced(11, 10, 12, 10.5, 10), operator=sliced(10, 10, 10, 10, 10))
    text = render(report(db))
    summary = text.split("## Summary")[1].split("## 1.")[0]
    assert "| GET CareTeam/{id} vs floor | >= 33% | 25% | SQLite | **MISS** |" in summary
    assert "| GET CareTeam?patient vs floor | >= 20% | 33% | SQLite | **PASS** |" in summary
    assert "| POST CareTeam vs the storage floor | >= 40% | 50% | SQLite | **PASS** |" in summary
    assert "HTTP POST CareTeam vs" not in summary  # information only now
    consent = rows(summary, "| consent check")
    assert len(consent) == 1 and "<= 10%, >= 5 slices" in consent[0]
    assert "(slices +0% to +20%, n=5)" in consent[0] and consent[0].endswith("**PASS** |")
    section = text.split("## 2b.")[1].split("## 2c.")[0]
    assert "| SQLite | 5 | +10%, +0%, +20%, +5%, +0% | +0% | +5% | +20% |" in section
    assert "10.00, 10.00, 10.00, 10.00, 10.00 | 11.00, 10.00, 12.00, 10.50, 10.00 |" in section
    create = text.split("## 2. Create")[1].split("## 2b.")[0]
    assert "| SQLite | 150 | 10.00 | 10.00 | 300 | 4.00 | 4.00 | 305 / 305 | 50% | >= 40% |" \
        in create
    assert "For information (no target since issue 16)" in create
    assert "`benchmarks/storage_floor.py`" in text.split("## Method")[1].split("## Summary")[0]


def test_too_few_slices_or_too_much_added_is_a_miss() -> None:
    few = database(partner=sliced(10.5, 10.5), operator=sliced(10, 10))
    summary = render(report(few)).split("## Summary")[1].split("## 1.")[0]
    assert rows(summary, "| consent check")[0].endswith("**MISS** |")
    dear = database(partner=sliced(12, 12, 12, 12, 12), operator=sliced(10, 10, 10, 10, 10))
    summary = render(report(dear)).split("## Summary")[1].split("## 1.")[0]
    assert "+20% (slices +20% to +20%, n=5)" in rows(summary, "| consent check")[0]
    assert rows(summary, "| consent check")[0].endswith("**MISS** |")


def test_per_vcpu_keeps_published_figures_apart() -> None:
    db = database(partner=sliced(10, 10, 10, 10, 10), operator=sliced(10, 10, 10, 10, 10))
    text: Any = per_vcpu_section(report(db))
    assert "| this gateway, SQLite | GET CareTeam/{id} | 300 | 2 | **150** |" in text
    assert "| this gateway, SQLite | POST CareTeam | 150 | 2 | **75** |" in text
    assert "load generator" in text and "not measured here" in text
    for published in PUBLISHED:
        assert published.server in text
        assert all(url in text for url in published.sources)
    by_name = {p.server.split(" (")[0] + (" own" if "own" in p.server else ""): p.per_vcpu
               for p in PUBLISHED}
    assert round(by_name["HAPI FHIR JPA"]) == 382 and round(by_name["Medplum"]) == 178
    assert text.count("NOT measured here") == len(PUBLISHED)

"""Where the time goes: cProfile of in-process requests, and the query plans of a search.

Both use the app in this process (``create_app`` and Flask's test client), so they show the
application's own costs without gunicorn and HTTP parsing around them.
"""
from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import event

from benchmarks.load import Call

# Own-time buckets, first match wins: (label, substrings of the file name or function).
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gateway validation", ("gateway/fhir/validation",)),
    ("gateway search", ("gateway/fhir/search",)),
    ("gateway (other)", ("/gateway/",)),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("database driver", ("psycopg", "sqlite3", "_sqlite")),
    ("Flask/Werkzeug", ("flask", "werkzeug", "click")),
    ("json", ("/json/", "_json")),
    ("prometheus_client", ("prometheus_client",)),
    ("pydantic / fhir.resources", ("pydantic", "fhir/resources")),
)


@dataclass(frozen=True)
class Profile:
    """A profile of ``calls`` operations: share of own time per bucket and top functions."""

    title: str
    calls: int
    seconds: float
    buckets: list[tuple[str, float]]            # (bucket, share of total own time)
    top_own: list[tuple[str, float, int]]       # (function, own seconds per op, calls per op)
    top_cumulative: list[tuple[str, float]]     # gateway functions: (function, seconds per op)


def profile_requests(app: Flask, title: str, calls: Sequence[Call], headers: dict[str, str],
                     expect: int, seconds: float) -> Profile:
    client = app.test_client()
    state = {"n": 0}

    def one() -> None:
        call = calls[state["n"] % len(calls)]
        state["n"] += 1
        response = client.open(call.path, method=call.method, data=call.body, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(f"{call.method} {call.path} -> {response.status_code}")

    return profile_operation(title, one, seconds)


def profile_operation(title: str, operation: Callable[[], Any], seconds: float) -> Profile:
    for _ in range(20):
        operation()
    profiler = cProfile.Profile()
    count, deadline = 0, time.perf_counter() + seconds
    began = time.perf_counter()
    profiler.enable()
    while time.perf_counter() < deadline:
        operation()
        count += 1
    profiler.disable()
    elapsed = time.perf_counter() - began
    return _summarize(title, pstats.Stats(profiler), count, elapsed)


def _summarize(title: str, stats: pstats.Stats, count: int, elapsed: float) -> Profile:
    entries = stats.stats  # type: ignore[attr-defined]
    own_total = sum(tt for (_, _, tt, _, _) in entries.values()) or 1.0
    buckets: dict[str, float] = {}
    own: list[tuple[str, float, int]] = []
    cumulative: list[tuple[str, float]] = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in entries.items():
        label = _function_label(filename, line, name)
        buckets[_bucket(filename, name)] = buckets.get(_bucket(filename, name), 0.0) + tottime
        own.append((label, tottime / count, round(ncalls / count)))
        if "/gateway/" in filename:
            cumulative.append((label, cumtime / count))
    return Profile(
        title, count, elapsed,
        sorted(((b, t / own_total) for b, t in buckets.items()), key=lambda x: -x[1]),
        sorted(own, key=lambda x: -x[1])[:12],
        sorted(cumulative, key=lambda x: -x[1])[:12],
    )


def _bucket(filename: str, name: str) -> str:
    where = f"{filename} {name}"
    for label, needles in BUCKETS:
        if any(needle in where for needle in needles):
            return label
    return "other (stdlib, builtins)"


def _function_label(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


def explain_search(app: Flask, path: str, headers: dict[str, str]) -> list[tuple[str, str]]:
    """(SQL, plan) of every SELECT one in-process request runs."""
    engine = app.extensions["gateway"].engine
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        response = app.test_client().get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} -> {response.status_code}")
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in seen:
            cursor.execute(prefix + statement, parameters)
            rows = cursor.fetchall()
            # SQLite: (id, parent, notused, detail); PostgreSQL: one text column per line.
            text = "\n".join(str(row[-1]) for row in rows)
            plans.append((" ".join(statement.split()), text))
        cursor.close()
    finally:
        raw.close()
    return plans

"""The import benchmark: ``gateway import`` of a generated agency, and the mapping rate.

Per database: a fresh migrated database, ``gateway import DIR`` as a subprocess (its wall time
and peak RSS from ``os.wait4``'s ``ru_maxrss`` of that very process), then the same command
again over the unchanged agency. In process: the translator's pure mapping functions over the
records of a smaller generated agency (no database), next to fhir.resources (R4B) parsing the
same FHIR output with ``model_validate``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.databases import Database
from benchmarks.generate_agency import generate
from gateway.adapters.local_files import iter_records
from gateway.config import Config
from gateway.db.engine import make_engine
from gateway.db.models import ResourceRow, ResourceVersionRow
from gateway.local.translate import translator_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GATEWAY = Path(sys.executable).parent / "gateway"
SEED = 20261123
COUNTS = re.compile(r"accepted (\d+), unchanged (\d+), rejected (\d+)")
Log = Callable[[str], None]


@dataclass(frozen=True)
class ImportRun:
    """One ``gateway import`` process."""

    seconds: float
    peak_rss_bytes: int
    exit_code: int
    accepted: int
    unchanged: int
    rejected: int
    output: str

    @property
    def records_per_second(self) -> float:
        return (self.accepted + self.unchanged + self.rejected) / self.seconds


@dataclass
class ImportResults:
    label: str
    consumers: int
    records: int
    first: ImportRun | None = None
    again: ImportRun | None = None
    resources: int = 0          # current FHIR resources stored after the first import
    versions: int = 0           # resource versions stored after the first import
    versions_after_again: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        assert self.first and self.again
        return self.first.seconds / self.again.seconds


def generate_agency(directory: Path, consumers: int) -> int:
    """Write the synthetic agency; the number of records."""
    return sum(generate(directory, consumers, SEED).values())


def run_import(database: Database, agency: Path, workdir: Path, name: str) -> ImportRun:
    env = {**os.environ, "GATEWAY_DATABASE_URL": database.url,
           "GATEWAY_BASE_URL": "http://127.0.0.1:8080", "PYTHONUNBUFFERED": "1"}
    output = workdir / f"import-{name}.out"
    command = [str(GATEWAY), "import", str(agency), "--rejects",
               str(workdir / f"rejects-{name}.ndjson")]
    with output.open("wb") as sink:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                   cwd=workdir)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
    text = output.read_text(errors="replace")
    found = COUNTS.search(text)
    if not found:
        raise RuntimeError(f"gateway import printed no counts (exit {process.returncode}): "
                           f"{text[-500:]}")
    accepted, unchanged, rejected = map(int, found.groups())
    # ru_maxrss is in kilobytes on Linux: the peak resident set of that process alone.
    return ImportRun(seconds, usage.ru_maxrss * 1024, process.returncode, accepted, unchanged,
                     rejected, text.strip().splitlines()[-1])


def measure_database(database: Database, agency: Path, records: int, consumers: int,
                     workdir: Path, log: Log) -> ImportResults:
    results = ImportResults(database.label, consumers, records)
    label = database.label.lower()
    results.first = run_import(database, agency, workdir, f"{label}-first")
    log(f"{database.label}: first import {results.first.seconds:.1f}s, peak RSS "
        f"{results.first.peak_rss_bytes / 2**20:,.0f} MiB: {results.first.output}")
    engine = make_engine(database.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(ResourceRow.resource_type, func.count())
                                      .where(ResourceRow.deleted.is_(False))
                                      .group_by(ResourceRow.resource_type)).all()
            results.by_type = {t: n for t, n in sorted(rows)}
            results.resources = sum(results.by_type.values())
            results.versions = connection.scalar(
                select(func.count()).select_from(ResourceVersionRow)) or 0
        results.again = run_import(database, agency, workdir, f"{label}-again")
        log(f"{database.label}: re-import {results.again.seconds:.1f}s, peak RSS "
            f"{results.again.peak_rss_bytes / 2**20:,.0f} MiB: {results.again.output}")
        with engine.connect() as connection:
            results.versions_after_again = connection.scalar(
                select(func.count()).select_from(ResourceVersionRow)) or 0
    finally:
        engine.dispose()
    return results


# -- mapping rate, in process ----------------------------------------------------------------

@dataclass(frozen=True)
class MappingRate:
    records: int
    consumers: int
    resources: int
    mapping_seconds: float
    parse_seconds: float
    parse_failures: int
    parser: str

    @property
    def records_per_second(self) -> float:
        return self.records / self.mapping_seconds

    @property
    def resources_per_second(self) -> float:
        return self.resources / self.mapping_seconds

    @property
    def parsed_per_second(self) -> float:
        return self.resources / self.parse_seconds


class _MemoryRecords:
    """The translator's view of stored records (``get``, ``for_consumer``), from memory."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.by_key = {(r["type"], r["id"]): r for r in records}
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            consumer = record["id"] if record["type"] == "consumer" else record.get("consumer")
            if consumer:
                grouped[(consumer, record["type"])].append(record)
        self.grouped = {k: sorted(v, key=lambda r: r["id"]) for k, v in grouped.items()}

    def get(self, record_type: str, local_id: str) -> dict[str, Any] | None:
        return self.by_key.get((record_type, local_id))

    def for_consumer(self, consumer_id: str, record_type: str) -> list[dict[str, Any]]:
        return list(self.grouped.get((consumer_id, record_type), []))


def mapping_rate(agency: Path, today: date) -> MappingRate:
    """Map every record of ``agency`` (each record's own resources, and each consumer's
    CareTeam and due Tasks once), then parse all of that output with fhir.resources."""
    from fhir.resources.R4B import get_fhir_model_class

    records = [item.record for item in iter_records([agency]) if item.error is None]
    agency_id = next(r["id"] for r in records
                     if r["type"] == "organization" and r.get("kind") == "agency")
    translator = translator_for(Config(agency_organization=agency_id), today=today)
    stored = _MemoryRecords(records)
    consumers = sorted({c for c, _ in stored.grouped})
    began = time.perf_counter()
    output: list[dict[str, Any]] = []
    for record in records:
        output += translator.resources_for(record, stored, aggregates=False)  # type: ignore[arg-type]
    ctx = translator.context(stored)  # type: ignore[arg-type]
    for consumer in consumers:
        output += translator.care_team(consumer, stored, ctx)
        output += translator.due_tasks(consumer, stored, ctx)
    mapping_seconds = time.perf_counter() - began

    models = {t: get_fhir_model_class(t) for t in {r["resourceType"] for r in output}}
    failures = 0
    began = time.perf_counter()
    for resource in output:
        try:
            models[resource["resourceType"]].model_validate(resource)
        except Exception:  # noqa: BLE001 - R4B differs from R4 here and there; counted
            failures += 1
    parse_seconds = time.perf_counter() - began
    return MappingRate(len(records), len(consumers), len(output), mapping_seconds,
                       parse_seconds, failures, "fhir.resources R4B model_validate")

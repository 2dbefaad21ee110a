"""The whole run: the in-process validator comparison, then each database in turn."""
from __future__ import annotations

import itertools
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import dataset
from benchmarks import plan as targets
from benchmarks.conformance import measure as measure_conformance
from benchmarks.databases import Database, postgres_database, sqlite_database
from benchmarks.delivery_drain import DrainResults
from benchmarks.delivery_drain import measure as measure_drain
from benchmarks.importing import (
    ImportResults,
    MappingRate,
    generate_agency,
    mapping_rate,
    measure_database,
)
from benchmarks.machine import describe, load_average
from benchmarks.plan import FULL, QUICK, Plan
from benchmarks.profiling import profile_operation
from benchmarks.report import Report
from benchmarks.suite import Context, DatabaseResults, run_database
from benchmarks.validation_rate import compare
from gateway.config import Config
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Log = Callable[[str], None]


def run_all(quick: bool, databases: list[str], postgres_url: str, workdir: Path, log: Log,
            command: str) -> Report:
    began = time.monotonic()
    plan = QUICK if quick else FULL
    machine = describe(PROJECT_ROOT)
    log(f"{plan.name} run on {machine.cores} cores ({machine.cpu}); scratch dir {workdir}")
    validator = Validator(Config().profiles_dir)
    registry = SearchParameterRegistry.load()

    resources = sample_careteams(500)
    ours, reference = compare(validator, resources, plan.validator_seconds)
    log(f"in process: {ours.name} {ours.per_second:,.0f}/s, "
        f"{reference.name} {reference.per_second:,.0f}/s")
    validator_profile = None
    if ours.per_second / reference.per_second < targets.VALIDATE_TARGET:
        cycled = itertools.cycle(resources)
        validator_profile = profile_operation(
            "Validator.validate(CareTeam) in process",
            lambda: validator.validate(next(cycled), expected_type="CareTeam"),
            max(2.0, plan.validator_seconds / 2))

    context = Context(plan, workdir, validator, registry, log, reference.per_second)
    results: list[DatabaseResults] = []
    failures: list[str] = []
    mapping, imports = _imports(plan, databases, workdir, postgres_url, log, failures)
    for name in databases:
        try:
            with _database(name, workdir, postgres_url) as database:
                log(f"{database.label}: database ready")
                results.append(run_database(database, context))
        except Exception as error:  # noqa: BLE001 - reported in RESULTS.md, next database runs
            log(f"{name}: FAILED: {error}")
            traceback.print_exc()
            failures.append(f"{name}: {type(error).__name__}: {error}")
    delivery = (_delivery(plan, workdir, postgres_url, log, failures)
                if "postgresql" in databases else None)
    conformance = measure_conformance(validator)
    log(f"validator vs HL7's test cases: {conformance.same_verdict}/{conformance.cases} "
        f"same verdict")
    return Report(machine, plan, ours, reference, validator_profile, results, failures,
                  time.monotonic() - began, command, load_average(), mapping, imports,
                  delivery, conformance=conformance)


def _delivery(plan: Plan, workdir: Path, postgres_url: str, log: Log, failures: list[str]
              ) -> DrainResults | None:
    """The delivery drain rate (PostgreSQL only), in a schema of its own; profiled when a
    target is missed."""
    try:
        with postgres_database(postgres_url) as database:
            return measure_drain(database.url, plan.delivery_consumers,
                                 plan.delivery_workers, plan.delivery_batch, workdir, log,
                                 plan.delivery_timeout, plan.delivery_profile)
    except Exception as error:  # noqa: BLE001 - reported in RESULTS.md
        log(f"delivery drain: FAILED: {error}")
        traceback.print_exc()
        failures.append(f"delivery drain: {type(error).__name__}: {error}")
        return None


def _imports(plan: Plan, databases: list[str], workdir: Path, postgres_url: str, log: Log,
             failures: list[str]) -> tuple[MappingRate | None, list[ImportResults]]:
    """The mapping rate in process, then `gateway import` twice on each (fresh) database."""
    mapping = None
    try:
        sample = workdir / "agency-mapping"
        generate_agency(sample, plan.mapping_consumers)
        mapping = mapping_rate(sample, datetime.now(UTC).date())
        log(f"in process: mapping {mapping.records_per_second:,.0f} records/s "
            f"({mapping.resources_per_second:,.0f} resources/s), {mapping.parser} "
            f"{mapping.parsed_per_second:,.0f} resources/s")
    except Exception as error:  # noqa: BLE001 - reported in RESULTS.md
        log(f"mapping rate: FAILED: {error}")
        traceback.print_exc()
        failures.append(f"mapping rate: {type(error).__name__}: {error}")
    agency = workdir / "agency-import"
    records = generate_agency(agency, plan.import_consumers)
    log(f"generated {plan.import_consumers:,} consumers, {records:,} records")
    imports: list[ImportResults] = []
    for name in databases:
        try:
            with _database(name, workdir, postgres_url) as database:
                imports.append(measure_database(database, agency, records,
                                                plan.import_consumers, workdir, log))
        except Exception as error:  # noqa: BLE001 - reported in RESULTS.md
            log(f"{name} import: FAILED: {error}")
            traceback.print_exc()
            failures.append(f"{name} import: {type(error).__name__}: {error}")
    return mapping, imports


def _database(name: str, workdir: Path, postgres_url: str
              ) -> AbstractContextManager[Database]:
    return sqlite_database(workdir) if name == "sqlite" else postgres_database(postgres_url)


def sample_careteams(n: int) -> list[dict]:
    """CareTeam bodies as a client would POST them (references to made-up ids)."""
    org = str(uuid.uuid4())
    practitioners = [str(uuid.uuid4()) for _ in range(20)]
    return [dataset.careteam(i, str(uuid.uuid4()), practitioners, org) for i in range(n)]


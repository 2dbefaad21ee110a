"""The measurements, in order, for one database: seed, serve, load, grow, measure again.

Sequence per database (sizes from the Plan):
  fixtures and the equivalence check -> seed ``small`` -> search latency (small)
  -> seed to ``base`` -> read/search throughput against the read floor, create throughput
  against the storage floor, the consent decision point's cost
  -> seed to ``large`` -> search latency (large) -> query plans -> profiles of any miss.
Search-latency queries always use records below ``small``, so both sizes run the same queries;
creates reference the patients of records ``small`` .. ``base``.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks import consent_cost, dataset, floor, storage_floor
from benchmarks import plan as targets
from benchmarks.databases import Database, analyze, count
from benchmarks.load import (
    Call,
    LoadResult,
    LoadSpec,
    fetch,
    run_interleaved,
    sequential_latencies,
)
from benchmarks.plan import Plan
from benchmarks.profiling import Profile, explain_search, profile_requests
from benchmarks.seeding import Fixtures, Seeder, SeedStats
from benchmarks.servers import Server, floor_server, gateway_server, storage_floor_server
from benchmarks.stats import LatencySummary
from gateway.app import create_app
from gateway.config import Config
from gateway.db.engine import make_engine, make_session_factory
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator

FHIR_JSON = "application/fhir+json"
# GATEWAY_BASE_URL of every gateway started here (as behind a proxy, it is not the bind
# address); the bulk seeder indexes with the same base the server's repository uses.
PUBLIC_BASE_URL = "http://127.0.0.1:8080"
Log = Callable[[str], None]


@dataclass
class DatabaseResults:
    label: str
    seed: SeedStats = field(default_factory=SeedStats)
    equivalence_rows: int = 0
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage -> (CT, Patient)
    latency: dict[str, dict[str, LatencySummary]] = field(default_factory=dict)
    load: dict[str, LoadResult] = field(default_factory=dict)
    body_bytes: dict[str, int] = field(default_factory=dict)
    storage_floor_rows: int = 0  # rows the storage floor stored (one per 201 it answered)
    plans: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    profiles: list[Profile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # analysis steps that failed
    seconds: float = 0.0

    def ratio(self, name: str, reference: str) -> float:
        return self.load[name].throughput / self.load[reference].throughput

    def consent_cost(self) -> float:
        """Added p50 latency of the partner's consent-checked search over the operator's (all
        slices' samples pooled)."""
        operator = self.load["search as operator"].latency.p50
        return self.load["search as partner"].latency.p50 / operator - 1

    def consent_slices(self) -> list[float]:
        """The added p50 of each round of alternating slices (partner slice n over operator
        slice n): the spread of the figure above."""
        return slice_ratios(self.load["search as partner"], self.load["search as operator"])

    def latency_ratio(self, query: str) -> float:
        return self.latency["large"][query].p95 / self.latency["small"][query].p95


@dataclass(frozen=True)
class Context:
    """What one database's run needs: the plan, a scratch dir, shared validator and registry."""

    plan: Plan
    workdir: Path
    validator: Validator
    registry: SearchParameterRegistry
    log: Log
    reference_rate: float  # fhir.resources validations per second, for the create target


def run_database(database: Database, context: Context) -> DatabaseResults:
    began = time.monotonic()
    plan, log = context.plan, context.log
    results = DatabaseResults(database.label)
    engine = make_engine(database.url)
    try:
        seeder = Seeder(make_session_factory(engine), context.validator, context.registry,
                        Config(base_url=PUBLIC_BASE_URL).fhir_base_url, plan.seed_batch)
        fixtures = seeder.create_fixtures()
        results.equivalence_rows = seeder.check_equivalence(fixtures)
        log(f"{database.label}: bulk seeding stores what Repository.create stores "
            f"({results.equivalence_rows} rows compared)")
        _grow(seeder, fixtures, 0, plan.small, engine, results, "small", log)
        with gateway_server(database.url, PUBLIC_BASE_URL, context.workdir) as server:
            results.latency["small"] = _search_latencies(server, fixtures, plan)
            _grow(seeder, fixtures, plan.small, plan.base, engine, results, "base", log)
            _throughput(server, fixtures, context, results, database)
            consent = _consent_cost(server, fixtures, context, results,
                                    make_session_factory(engine))
            _grow(seeder, fixtures, plan.base, plan.large, engine, results, "large", log)
            results.latency["large"] = _search_latencies(server, fixtures, plan)
        results.seed = seeder.stats
        try:
            _analyse(database, fixtures, context, results, consent)
        except Exception as error:  # noqa: BLE001 - the measurements above still stand
            log(f"{database.label}: plans and profiles failed: {error}")
            results.problems.append(f"{database.label}: plans and profiles failed: "
                                    f"{type(error).__name__}: {error}")
    finally:
        engine.dispose()
    results.seconds = time.monotonic() - began
    return results


def _grow(seeder: Seeder, fixtures: Fixtures, start: int, stop: int, engine: object,
          results: DatabaseResults, stage: str, log: Log) -> None:
    began = time.monotonic()
    seeder.seed(fixtures, start, stop)
    analyze(engine)  # type: ignore[arg-type]
    results.sizes[stage] = (count(engine, "CareTeam"), count(engine, "Patient"))  # type: ignore[arg-type]
    log(f"{results.label}: {results.sizes[stage][0]:,} CareTeams stored "
        f"({time.monotonic() - began:.0f}s, {seeder.stats.rate:,.0f} resources/s so far)")


def _headers(server: Server, body: bool = False) -> dict[str, str]:
    headers = {**server.auth, "Accept": FHIR_JSON}
    if body:
        headers["Content-Type"] = FHIR_JSON
    return headers


def _records(fixtures: Fixtures, start: int, stop: int, n: int, seed: int
             ) -> list[dataset.Record]:
    rng = random.Random(seed)
    return [dataset.make_ids(rng.randrange(start, stop), fixtures.run_key) for _ in range(n)]


def _search_calls(fixtures: Fixtures, plan: Plan) -> dict[str, list[Call]]:
    records = _records(fixtures, 0, plan.small, plan.latency_samples, seed=3)
    return {
        "CareTeam?patient": [Call("GET", f"/fhir/CareTeam?patient={r.patient_id}")
                             for r in records],
        "Patient?name": [Call("GET", f"/fhir/Patient?name={quote(dataset.family_name(r.index))}")
                         for r in records],
    }


def _search_latencies(server: Server, fixtures: Fixtures, plan: Plan
                      ) -> dict[str, LatencySummary]:
    calls = _search_calls(fixtures, plan)
    _check_search(server, fixtures, calls)
    return {name: sequential_latencies(server.port, batch, _headers(server))
            for name, batch in calls.items()}


def _check_search(server: Server, fixtures: Fixtures, calls: dict[str, list[Call]]) -> None:
    """The searches find what they should (one CareTeam; at least the patient's name)."""
    status, _, body = fetch(server.port, calls["CareTeam?patient"][0], _headers(server))
    entries = json.loads(body).get("entry", []) if status == 200 else []
    if status != 200 or len(entries) != 1:
        raise RuntimeError(f"CareTeam?patient returned {status} with {len(entries)} entries")
    status, _, body = fetch(server.port, calls["Patient?name"][0], _headers(server))
    if status != 200 or not json.loads(body).get("entry"):
        raise RuntimeError(f"Patient?name returned {status} without entries")


def _spec(server: Server, calls: list[Call], expect: int, plan: Plan, body: bool = False
          ) -> LoadSpec:
    return LoadSpec(server.port, calls, _headers(server, body), expect, plan.duration,
                    plan.warmup, plan.processes, plan.threads)


def _throughput(server: Server, fixtures: Fixtures, context: Context,
                results: DatabaseResults, database: Database) -> None:
    plan, log = context.plan, context.log
    records = _records(fixtures, 0, plan.base, 5_000, seed=7)
    reads = [Call("GET", f"/fhir/CareTeam/{r.careteam_id}") for r in records]
    searches = [Call("GET", f"/fhir/CareTeam?patient={r.patient_id}") for r in records]
    captured = {name: _capture(server, calls[0]) for name, calls
                in (("read", reads), ("search", searches))}
    results.body_bytes = {name: len(c.body) for name, c in captured.items()}

    bodies = context.workdir / f"floor-{results.label}.json"
    floor.save(bodies, captured["read"], captured["search"])
    with floor_server(bodies, context.workdir) as floor_app:
        for name, calls in (("read", reads), ("search", searches)):
            measured = run_interleaved({name: _spec(server, calls, 200, plan),
                                        f"{name} floor": _spec(floor_app, calls, 200, plan)},
                                       plan.rounds)
            for title, result in measured.items():
                results.load[title] = _checked(result, log, f"{results.label} {title}")
    creates = _create_calls(fixtures, _records(fixtures, plan.small, plan.base, 2_000, seed=11))
    _creates(server, creates, database, context, results)


def _creates(server: Server, creates: list[Call], database: Database, context: Context,
             results: DatabaseResults) -> None:
    """POST CareTeam on the gateway and on the storage floor (same bodies, same database,
    alternating slices); the floor must hold one row per 201 it answered."""
    plan, log = context.plan, context.log
    try:
        with storage_floor_server(database.url, context.workdir) as storage:
            status, _, body = fetch(storage.port, creates[0], _headers(storage, body=True))
            if status != 201 or json.loads(body).get("resourceType") != "CareTeam":
                raise RuntimeError(f"the storage floor answered {status}: {body[:300]!r}")
            before = storage_floor.count_rows(database.url)
            measured = run_interleaved({
                "create": _spec(server, creates, 201, plan, body=True),
                "create floor": _spec(storage, creates, 201, plan, body=True)}, plan.rounds)
            stored = storage_floor.count_rows(database.url) - before
    finally:  # the floor's table goes once its server has stopped
        storage_floor.drop_table(database.url)
    for title, result in measured.items():
        results.load[title] = _checked(result, log, f"{results.label} {title}")
    results.storage_floor_rows = stored
    answered = results.load["create floor"].answered
    log(f"{results.label}: the storage floor stored {stored:,} rows for {answered:,} "
        f"answers 201")
    if stored != answered:
        results.problems.append(f"{results.label}: the storage floor answered 201 "
                                f"{answered:,} times but stored {stored:,} rows")


CONSENTED = 200  # consumers with a consent to the benchmark partner


@dataclass(frozen=True)
class ConsentSetup:
    """What a profile of the partner's searches needs: its key (for a fresh token) and calls."""

    private_jwk: dict[str, Any]
    calls: list[Call]


def consent_met(added: float, slices: list[float]) -> bool:
    """Issue 16: at most the target added at p50, from at least the minimum of slices."""
    return added <= targets.CONSENT_COST_TARGET and len(slices) >= targets.CONSENT_MIN_ROUNDS


def _consent_cost(server: Server, fixtures: Fixtures, context: Context,
                  results: DatabaseResults, sessions: Any) -> ConsentSetup:
    """CareTeam?patient= as a partner under consent vs as an operator (see consent_cost.py)."""
    plan = context.plan
    # From the first stage's consumers: the create measurement adds CareTeams to later ones.
    records = _records(fixtures, 0, plan.small, CONSENTED, seed=17)
    private = consent_cost.register_partner(sessions, fixtures.organization_id)
    consent_cost.store_consents(sessions, context.validator, context.registry,
                                Config(base_url=PUBLIC_BASE_URL).fhir_base_url,
                                fixtures.organization_id, [r.patient_id for r in records])
    token = consent_cost.partner_token(server, private, PUBLIC_BASE_URL)
    partner_headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
    calls = [Call("GET", f"/fhir/CareTeam?patient={r.patient_id}") for r in records]
    rounds = max(plan.consent_rounds, targets.CONSENT_MIN_ROUNDS)
    measured = consent_cost.measure(
        server, calls, _headers(server), partner_headers,
        lambda headers: LoadSpec(server.port, calls, headers, 200, plan.duration, plan.warmup,
                                 plan.processes, plan.threads), rounds)
    for title, result in measured.items():
        results.load[title] = _checked(result, context.log, f"{results.label} {title}")
    return ConsentSetup(private, calls)


def _create_calls(fixtures: Fixtures, records: list[dataset.Record]) -> list[Call]:
    """POST bodies: a new CareTeam for each record's Patient."""
    return [Call("POST", "/fhir/CareTeam", json.dumps(dataset.careteam(
        r.index, r.patient_id, fixtures.practitioner_ids, fixtures.organization_id)).encode())
        for r in records]


def _capture(server: Server, call: Call) -> floor.Captured:
    status, headers, body = fetch(server.port, call, _headers(server))
    if status != 200:
        raise RuntimeError(f"{call.method} {call.path} -> {status}: {body[:300]!r}")
    kept = {k: v for k, v in headers.items()
            if k.lower() in ("content-type", "etag", "last-modified")}
    return floor.Captured(status, kept, body)


def slice_ratios(ours: LoadResult, reference: LoadResult) -> list[float]:
    """p50 of each of ``ours``' slices over the same round's slice of ``reference``, minus 1."""
    return [mine.latency.p50 / theirs.latency.p50 - 1
            for mine, theirs in zip(ours.slices, reference.slices, strict=True)]


def _checked(result: LoadResult, log: Log, title: str) -> LoadResult:
    log(f"{title}: {result.throughput:,.0f} req/s, p50 {result.latency.p50 * 1e3:.1f} ms, "
        f"p99 {result.latency.p99 * 1e3:.1f} ms, {result.errors} errors")
    if result.errors:
        raise RuntimeError(f"{title}: {result.errors} failed requests, first: "
                           f"{result.first_error}")
    return result


def _analyse(database: Database, fixtures: Fixtures, context: Context,
             results: DatabaseResults, consent: ConsentSetup | None = None) -> None:
    """Query plans of both searches, and a profile of each request kind that missed a target
    (the partner's consent-checked search included, with a token of its own).

    Runs last, so everything is measured with the large dataset stored."""
    token = "bench-profile-key-of-32-characters"
    app = create_app(Config(database_url=database.url, operator_keys=(token,),
                            base_url=PUBLIC_BASE_URL))
    headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
    try:
        searches = _search_calls(fixtures, context.plan)
        for name, batch in searches.items():
            results.plans[name] = explain_search(app, batch[0].path, headers)
        stored = f"{results.sizes['large'][0]:,} CareTeams stored"
        for title, (calls, expect, extra) in _missed(fixtures, context, results,
                                                     searches).items():
            results.profiles.append(profile_requests(
                app, f"{results.label}: {title} in process ({stored})", calls,
                {**headers, **extra}, expect, max(2.0, context.plan.duration / 4)))
        if consent is not None and not consent_met(results.consent_cost(),
                                                   results.consent_slices()):
            answer = app.test_client().post(
                "/auth/token", data=consent_cost.token_form(consent.private_jwk,
                                                            PUBLIC_BASE_URL),
                content_type=consent_cost.FORM)
            if answer.status_code != 200:
                raise RuntimeError(f"the benchmark partner got no token in process: "
                                   f"{answer.status_code} {answer.get_data()[:300]!r}")
            partner = {"Authorization": f"Bearer {answer.get_json()['access_token']}",
                       "Accept": FHIR_JSON}
            results.profiles.append(profile_requests(
                app, f"{results.label}: GET CareTeam?patient as the partner (consent checked) "
                     f"in process ({stored})", consent.calls, partner, 200,
                max(2.0, context.plan.duration / 4)))
    finally:
        app.extensions["gateway"].engine.dispose()


def _missed(fixtures: Fixtures, context: Context, results: DatabaseResults,
            searches: dict[str, list[Call]]
            ) -> dict[str, tuple[list[Call], int, dict[str, str]]]:
    """The request kinds behind a missed target: (calls, expected status, extra headers)."""
    records = _records(fixtures, 0, context.plan.base, 2_000, seed=13)
    missed: dict[str, tuple[list[Call], int, dict[str, str]]] = {}
    if results.ratio("read", "read floor") < targets.READ_TARGET:
        missed["GET CareTeam/{id}"] = (
            [Call("GET", f"/fhir/CareTeam/{r.careteam_id}") for r in records], 200, {})
    for name, batch in searches.items():
        slow = results.latency_ratio(name) > targets.LATENCY_RATIO_TARGET
        if slow or (name == "CareTeam?patient"
                    and results.ratio("search", "search floor") < targets.SEARCH_TARGET):
            missed[f"GET {name}"] = (batch, 200, {})
    if ("create floor" not in results.load
            or results.ratio("create", "create floor") < targets.CREATE_TARGET):
        missed["POST CareTeam"] = (_create_calls(fixtures, records[:500]), 201,
                                   {"Content-Type": FHIR_JSON})
    return missed

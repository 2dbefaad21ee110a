"""RESULTS.md: machine, method, one table per measurement with its target, raw numbers."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import plan as targets
from benchmarks.conformance import Conformance
from benchmarks.conformance import render as conformance_section
from benchmarks.delivery_drain import DrainResults
from benchmarks.importing import ImportResults, MappingRate
from benchmarks.inbound_messages import RESEND, SERVER_WORKERS, InboundResults
from benchmarks.machine import Machine
from benchmarks.plan import Plan
from benchmarks.profiling import Profile
from benchmarks.published import PUBLISHED
from benchmarks.suite import DatabaseResults, consent_met
from benchmarks.validation_rate import Rate


@dataclass(frozen=True)
class Report:
    machine: Machine
    plan: Plan
    ours: Rate
    reference: Rate
    validator_profile: Profile | None
    databases: list[DatabaseResults]
    failures: list[str]
    seconds: float
    command: str
    load_after: str
    mapping: MappingRate | None = None
    imports: list[ImportResults] = field(default_factory=list)
    delivery: DrainResults | None = None
    inbound: InboundResults | None = None
    conformance: Conformance | None = None


def verdict(passed: bool) -> str:
    return "**PASS**" if passed else "**MISS**"


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1e3:.2f}"


def render(report: Report) -> str:
    plan = report.plan
    parts = [
        "# Benchmarks\n",
        f"Written by `{report.command}` ({plan.name} run, {report.seconds / 60:.1f} minutes; "
        "`make bench` runs it without options). Every figure below comes from that run; "
        "nothing is edited by hand.\n",
        "## Machine\n", _table(["", ""], [*report.machine.rows(), (
            "load average after the run (1/5/15 min)", report.load_after)]),
        "## Method\n", _method(plan, report.machine),
    ]
    problems = [*report.failures, *(p for db in report.databases for p in db.problems),
                *(report.delivery.problems if report.delivery else []),
                *(report.inbound.problems if report.inbound else [])]
    if problems:
        parts += ["## Failures\n", "\n".join(f"- {p}" for p in problems) + "\n"]
    parts += ["## Summary\n", _summary(report)]
    parts += [f"## 1. Read and search throughput ({plan.base:,} CareTeams)\n",
              _throughput(report)]
    parts += ["## 2. Create with full validation\n", _create(report)]
    parts += ["## 2b. The consent decision point's cost\n", _consent(report)]
    parts += ["## 2c. Per vCPU, beside other FHIR servers' published figures\n",
              per_vcpu_section(report)]
    parts += [f"## 3. Search latency, {plan.small:,} vs {plan.large:,} CareTeams\n",
              _latency(report)]
    parts += [f"## 4. Import ({plan.import_consumers:,} consumers) and mapping\n",
              _import(report)]
    parts += ["## 5. Delivery drain rate\n", _delivery(report)]
    parts += ["## 6. Hospital messages in: $process-message and MLLP\n",
              inbound_section(report.inbound)]
    parts += ["## 7. Validator agreement with HL7's test cases\n",
              conformance_section(report.conformance)]
    parts += ["## Seeding\n", _seeding(report)]
    parts += ["## Where the time goes\n", _profiles(report)]
    parts += ["## Query plans at the large size\n", _plans(report)]
    parts += ["## Raw numbers\n", "```json\n" + json.dumps(_raw(report), indent=1) + "\n```\n"]
    return "\n".join(parts)


def _table(header: list[str], rows: list[tuple[Any, ...]] | list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _method(plan: Plan, machine: Machine) -> str:
    return f"""\
- **Data.** Each record is a Patient and its CareTeam (one participant: a Practitioner on behalf
  of the agency's Organization), generated deterministically (`benchmarks/dataset.py`). Records
  are stored by a bulk path (`benchmarks/seeding.py`) that computes each row with the
  repository's own helpers and `search.extract`, then writes one `executemany` per table. On
  every run and database it first stores five records through `Repository.create` (with full
  validation) and again through the bulk path, compares every resource, version and index row,
  and rolls both back: the run stops if they differ. The 20 Practitioners and the Organization
  go through `Repository.create`.
- **Sizes.** {plan.small:,} CareTeams for the first latency measurement, {plan.base:,} for
  throughput and creates, {plan.large:,} for the second latency measurement (the same database,
  grown). On PostgreSQL `ANALYZE` runs after each load, as autovacuum would shortly after;
  SQLite gets no `ANALYZE` (the app never runs one).
- **Servers.** `gateway serve --workers 2` (gunicorn, gthread, 4 threads per worker, access log
  on, as `gateway/server.py` sets it) on a free 127.0.0.1 port, started with
  `GATEWAY_DATABASE_URL` and `GATEWAY_OPERATOR_KEYS`, ready at `/readyz`. The **floor** is a
  Flask app with one view per path returning the captured gateway response (same body bytes,
  `Content-Type`, `ETag`, `Last-Modified`), served by `gateway.server.serve` itself with only
  the application swapped, so gunicorn runs with exactly the gateway's settings. The **storage
  floor** (`benchmarks/storage_floor.py`), served the same way, takes the same POST bodies and
  per request parses the JSON, gives it an id and `meta` (versionId, lastUpdated), runs one
  `INSERT` of that JSON text into a table of its own in the gateway's database (the same
  SQLite file, the same PostgreSQL schema, through `gateway.db.engine.make_engine`, so with
  the gateway's connection settings; SQLite writers take `BEGIN IMMEDIATE` as the gateway's
  do) and commits, then answers 201 with the JSON, `Location`, `ETag` and `Last-Modified`. No
  validation, indexes, history or audit: the ratio is what all of those cost together. After
  the measurement its table must hold exactly one row per 201 it answered (warm-up included),
  and is dropped.
- **Load.** {plan.processes} processes x {plan.threads} threads, each thread one keep-alive
  `http.client` connection (8 in flight = gunicorn's 2 workers x 4 threads), closed loop,
  {plan.warmup:.0f} s warm-up then {plan.duration:.0f} s measured; every response's status is
  checked. Reads and searches pick among 5,000 random records; creates post 2,000 distinct
  CareTeams (default `Prefer: return=representation`), to the gateway and to the storage
  floor alike. The load generator shares the {machine.cores}-core machine with the server
  (and with PostgreSQL), for the gateway and the floors alike.
- **Latency (3).** One connection, one request at a time (no queueing), {plan.latency_samples:,}
  requests after 50 warm-up ones, for records below {plan.small:,} — the same queries at both
  sizes. `Patient?name=` uses the family name (3 of 48 syllables, ~110,000 possible names).
- **Validation (2).** In process, single thread: `Validator.validate(resource,
  expected_type="CareTeam")` and fhir.resources' R4B `CareTeam` model on the same 500 dicts,
  round-robin for {plan.validator_seconds:.0f} s each.
- **Import (4).** `benchmarks/generate_agency.py`'s agency of {plan.import_consumers:,}
  consumers (~11 records each, fixed seed), `gateway import DIR` run as a subprocess with
  `GATEWAY_DATABASE_URL` set to a fresh migrated database of its own (a new SQLite file; a new
  PostgreSQL schema), then run again over the same, unchanged folder. Wall time of the process;
  peak RSS is that process's `ru_maxrss` from `os.wait4`. The counts are what the command
  printed; resources and versions are counted in the database after each run.
- **Mapping (4).** In process, one thread, no database: every record of a
  {plan.mapping_consumers:,}-consumer agency through the translator's pure mapping functions
  (each record's own resources, then each consumer's CareTeam and due Tasks once, as a chunk of
  the import does), then fhir.resources' R4B `model_validate` of the class of each resulting
  resource, over that same output once.
- **Delivery (5).** PostgreSQL only, a fresh schema: one physical-health partner whose FHIR
  base is `benchmarks/delivery_receiver.py` on 127.0.0.1 (its own process; it parses each
  transaction Bundle, records it and answers a `transaction-response`, HTTP/1.1 keep-alive,
  storing nothing, so it costs both sides the same and little). {plan.delivery_consumers:,}
  consumers, each a Patient, CareTeam, Goal, CarePlan and a Consent permitting the partner
  their plan for treatment, stored through `Repository.update` (so the outbox queues their
  deliveries; exactly one pending each is checked). {plan.delivery_workers} worker processes,
  each built as `gateway deliver --once --batch {plan.delivery_batch}` builds its worker, start
  together once all are up (start-up not counted) and run until nothing is due; the drain
  time ends when the last worker has recorded its last batch. Then every delivery must be
  `sent` with one attempt and the receiver must hold one complete bundle per consumer. The
  **limit** is those same bundles posted to the same receiver by a plain single-threaded
  `requests.Session` loop (`json=bundle`, as the worker's transport posts them).
- **Inbound (6).** PostgreSQL only, a fresh schema with `benchmarks/generate_agency.py`'s
  agency of {plan.inbound_consumers:,} consumers loaded by `gateway import`, and one hospital
  partner (SMART key made for the run; HL7 v2 from 127.0.0.1). Per transport
  {plan.inbound_warmup:,} warm-up and {plan.inbound_messages:,} measured messages, all made
  before the clock starts, each with its own message id and hospital encounter: of every 20,
  12 discharges of consumers named by Medicaid id (and the hospital's MRN), 3 of consumers
  named only by name, birth date, sex, phone and address, 3 of people the agency does not know
  (prospective consumers) and 2 admissions of consumers (care-team notices); the gateway's own
  scoring confirms beforehand that each can mean only that person. As Da Vinci notification
  Bundles shaped like the public example, posted to `$process-message` on `gateway serve
  --workers {SERVER_WORKERS}`; as HL7 v2.5.1 ADT^A03/A01 to `gateway mllp --workers
  {SERVER_WORKERS}`. After the import, VACUUM ANALYZE and a CHECKPOINT (this server runs with
  autovacuum off). {plan.inbound_senders} sender threads, each with the partner's access token
  and a new connection per message (as behind a reverse proxy), or one long-lived MLLP
  connection, closed loop, for at most {plan.inbound_timeout:.0f} s; latency is from sending a
  message to its whole answer. Then every answer must be `ok` / `AA`, `inbound_message` must
  hold one row per message sent, each discharge one referral Task of its own for the right
  Patient (a new prospective one for a stranger), each admission a care-team notice, no match
  review; {RESEND} messages sent again must get the same answers and write nothing (over FHIR
  but the request's own AuditEvent). On a missed target,
  {plan.inbound_profile:,} more messages per transport go through the app in process under
  cProfile.
- **Profiles.** For each request kind behind a missed target (`POST CareTeam` when it misses
  its storage-floor ratio; the partner's consent-checked search, with a fresh token of its own,
  when the consent check misses), cProfile of those requests run in process through Flask's
  test client (no gunicorn, no sockets), at the end of the database's run (large dataset
  stored), plus the query plans of both searches. cProfile inflates
  pure-Python code, so read the shares rather than the absolute times.
- **Noise.** The machine may be shared; the load averages above say how busy it was. Gateway
  and floor runs alternate ({plan.rounds} slices each; the consent comparison's operator and
  partner runs {max(plan.consent_rounds, targets.CONSENT_MIN_ROUNDS)} slices each), the order
  turning round every other round (A B, B A, ...), each slice after its own
  {plan.warmup:.0f} s warm-up, so drifting background load hits both sides; the consent
  section gives each round's figure, so the spread shows how much the noise moves it.
"""


def _summary(report: Report) -> str:
    rows: list[tuple[Any, ...]] = []
    ratio = report.ours.per_second / report.reference.per_second
    rows.append(("Validator.validate vs " + report.reference.name + " (in process)",
                 f">= {targets.VALIDATE_TARGET:.0%}", f"{ratio:.0%}", "",
                 verdict(ratio >= targets.VALIDATE_TARGET)))
    for db in report.databases:
        if "read" in db.load and "read floor" in db.load:
            r = db.ratio("read", "read floor")
            rows.append(("GET CareTeam/{id} vs floor", f">= {targets.READ_TARGET:.0%}",
                         f"{r:.0%}", db.label, verdict(r >= targets.READ_TARGET)))
        if "search" in db.load and "search floor" in db.load:
            r = db.ratio("search", "search floor")
            rows.append(("GET CareTeam?patient vs floor", f">= {targets.SEARCH_TARGET:.0%}",
                         f"{r:.0%}", db.label, verdict(r >= targets.SEARCH_TARGET)))
        if "create" in db.load and "create floor" in db.load:
            r = db.ratio("create", "create floor")
            rows.append(("POST CareTeam vs the storage floor", f">= {targets.CREATE_TARGET:.0%}",
                         f"{r:.0%}", db.label, verdict(r >= targets.CREATE_TARGET)))
        if "large" in db.latency:
            for query in db.latency["large"]:
                r = db.latency_ratio(query)
                rows.append((f"p95 {query}, {report.plan.large:,} / {report.plan.small:,}",
                             f"<= {targets.LATENCY_RATIO_TARGET:.0f}x", f"{r:.2f}x", db.label,
                             verdict(r <= targets.LATENCY_RATIO_TARGET)))
    for db in report.databases:
        if "search as partner" in db.load and "search as operator" in db.load:
            added, slices = db.consent_cost(), db.consent_slices()
            spread = (f" (slices {min(slices):+.0%} to {max(slices):+.0%}, n={len(slices)})"
                      if slices else " (no slices)")
            rows.append(("consent check on CareTeam?patient, added p50, partner vs operator",
                         f"<= {targets.CONSENT_COST_TARGET:.0%}, >= "
                         f"{targets.CONSENT_MIN_ROUNDS} slices", f"{added:+.0%}{spread}",
                         db.label, verdict(consent_met(added, slices))))
    for imp in report.imports:
        if imp.first is None or imp.again is None:
            continue
        limit = targets.IMPORT_SECONDS_TARGET
        rows.append((f"first import, {imp.consumers:,} consumers ({imp.records:,} records)",
                     f"< {limit / 60:.0f} min", f"{imp.first.seconds / 60:.2f} min", imp.label,
                     verdict(imp.first.seconds < limit and imp.first.rejected == 0)))
        peak = max(imp.first.peak_rss_bytes, imp.again.peak_rss_bytes)
        rows.append(("import peak RSS", f"< {targets.IMPORT_RSS_TARGET / 2**30:.0f} GiB",
                     f"{peak / 2**20:,.0f} MiB", imp.label,
                     verdict(peak < targets.IMPORT_RSS_TARGET)))
        rows.append(("re-import (unchanged) speedup", f">= {targets.REIMPORT_SPEEDUP_TARGET:.0f}x",
                     f"{imp.speedup:.1f}x", imp.label,
                     verdict(imp.speedup >= targets.REIMPORT_SPEEDUP_TARGET)))
    inbound = report.inbound
    for transport in inbound.transports if inbound is not None else []:
        rows.append((f"{transport.name}, {transport.senders} senders",
                     f">= {targets.INBOUND_RATE_TARGET:,.0f}/s", f"{transport.rate:,.1f}/s",
                     inbound.label, verdict(transport.rate_met)))
        rows.append((f"{transport.name}, p99 latency",
                     f"< {targets.INBOUND_P99_TARGET_MS:,.0f} ms",
                     f"{ms(transport.latency.p99)} ms", inbound.label,
                     verdict(transport.p99_met)))
    drain = report.delivery
    if drain is not None:
        rows.append((f"delivery drain, {drain.consumers:,} queued, {drain.workers} workers",
                     f">= {targets.DELIVERY_RATE_TARGET:,.0f}/s", f"{drain.rate:,.0f}/s",
                     drain.label, verdict(drain.rate >= targets.DELIVERY_RATE_TARGET
                                          and drain.sent_once)))
        rows.append(("delivery drain vs a plain requests loop",
                     f">= {targets.DELIVERY_RATIO_TARGET:.0%}", f"{drain.ratio:.0%}",
                     drain.label, verdict(drain.ratio >= targets.DELIVERY_RATIO_TARGET
                                          and drain.sent_once)))
    return _table(["measurement", "target", "result", "database", ""], rows)


def _delivery(report: Report) -> str:
    d = report.delivery
    if d is None:
        return "Not measured (it runs on PostgreSQL only; see Failures if it was chosen).\n"
    counts = "; ".join(f"{name} " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(c.items()))
                       + f" in {d.worker_batches.get(name, 0):,} batches"
                       for name, c in sorted(d.worker_counts.items()))
    cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds
                    in sorted(d.worker_cpu_seconds.items()))
    rate_ok = d.rate >= targets.DELIVERY_RATE_TARGET and d.sent_once
    ratio_ok = d.ratio >= targets.DELIVERY_RATIO_TARGET and d.sent_once
    return "\n".join([
        f"{d.consumers:,} queued deliveries (one per consumer) to one loopback partner, "
        f"{d.workers} worker processes claiming {d.batch_size} at a time, on {d.label}; the "
        f"limit is a plain `requests` loop posting the same bundles to the same partner "
        f"({d.receiver}).\n",
        _table(["sender", "deliveries", "seconds", "deliveries/s", "target", ""], [
            (f"{d.workers} workers (`gateway deliver`)", f"{d.sent:,}", f"{d.drain_seconds:.2f}",
             f"{d.rate:,.0f}", f">= {targets.DELIVERY_RATE_TARGET:,.0f}/s", verdict(rate_ok)),
            ("plain `requests.Session` loop, one thread", f"{d.plain_sent:,}",
             f"{d.plain_seconds:.2f}", f"{d.plain_rate:,.0f}", "", ""),
            ("workers / plain loop", "", "", f"{d.ratio:.0%}",
             f">= {targets.DELIVERY_RATIO_TARGET:.0%}", verdict(ratio_ok)),
        ]),
        _table(["", ""], [
            ("sent exactly once (every row `sent` with 1 attempt; one complete bundle per "
             "consumer at the partner)", "yes" if d.sent_once else
             f"**no**: {d.sent:,} sent, {d.attempts_one:,} with 1 attempt, {d.received:,} "
             f"bundles for {d.distinct_consumers:,} consumers ({d.complete_bundles:,} complete)"),
            ("per worker", counts),
            ("worker CPU time during the drain", f"{cpu} ({d.worker_busy:.0%} of "
             f"{d.workers} x the drain time)"),
            ("mean bundle size", f"{d.bundle_bytes:,.0f} bytes"),
            ("storing the consumers (not measured)", f"{d.seed_seconds:.1f} s"),
            ("building the workers (`create_app`; not measured)", f"{d.startup_seconds:.1f} s"),
        ]),
    ])


def inbound_section(r: InboundResults | None) -> str:
    if r is None:
        return "Not measured (it runs on PostgreSQL only; see Failures if it was chosen).\n"
    rows, checks = [], []
    for t in r.transports:
        rows.append((t.name, f"{t.accepted:,}", f"{t.seconds:.1f}", f"{t.rate:,.1f}",
                     ms(t.latency.p50), ms(t.latency.p95), ms(t.latency.p99), t.errors,
                     f">= {targets.INBOUND_RATE_TARGET:,.0f}/s, p99 < "
                     f"{targets.INBOUND_P99_TARGET_MS:,.0f} ms",
                     verdict(t.rate_met and t.p99_met)))
        unsent = f"; {t.prepared - t.sent:,} not sent in time" if t.sent < t.prepared else ""
        checks += [
            (t.name, "measured messages by kind",
             ", ".join(f"{kind} {n:,}" for kind, n in t.kinds.items()) + unsent),
            (t.name, "CPU while measured: the server's processes (per message); the "
                     "senders", f"{t.server_cpu:.1f} s ({t.server_cpu_per_message * 1e3:.1f} "
                     f"ms); {t.sender_cpu:.1f} s"),
            (t.name, "every answer `ok` / `AA`", "yes" if not t.errors
             else f"**no**: {t.errors:,} errors, first: `{t.first_error[:300]}`"),
            (t.name, f"`inbound_message` rows ({t.warmup:,} warm-up + {t.sent:,} measured)",
             f"{t.rows:,}: " + ", ".join(f"{o} {n:,}" for o, n in sorted(t.outcomes.items()))),
            (t.name, "referral Tasks, one per discharge message",
             f"{t.referral_tasks:,} for {t.discharges:,}"),
            (t.name, f"{t.resent} sent again: same answers, nothing written",
             "yes" if t.resend_same else "**no**"),
            (t.name, "other checks", "; ".join(t.failed_checks) or "passed"),
        ]
    return "\n".join([
        f"Hospital notifications from {r.senders} concurrent senders on {r.label}, matched "
        f"against {r.patients:,} Patients ({r.resources:,} resources stored; the agency's "
        f"import took {r.import_seconds:.0f} s, not measured).\n",
        _table(["transport", "messages taken", "seconds", "messages/s", "p50 ms", "p95 ms",
                "p99 ms", "errors", "target", ""], rows),
        _table(["transport", "check", "result"], checks),
    ])


def _import(report: Report) -> str:
    out = []
    rows = []
    for imp in report.imports:
        for name, run in (("first", imp.first), ("again (unchanged)", imp.again)):
            if run is None:
                continue
            rows.append((imp.label, name, f"{run.seconds:.1f}", f"{run.records_per_second:,.0f}",
                         f"{run.peak_rss_bytes / 2**20:,.0f}", run.accepted, run.unchanged,
                         run.rejected, run.exit_code))
    out.append(_table(["database", "import", "seconds", "records/s", "peak RSS MiB",
                       "accepted", "unchanged", "rejected", "exit"], rows))
    stored = [(imp.label, f"{imp.resources:,}", f"{imp.versions:,}",
               f"{imp.versions_after_again:,}",
               ", ".join(f"{t} {n:,}" for t, n in imp.by_type.items()))
              for imp in report.imports if imp.first is not None]
    out.append("FHIR resources stored after the first import (versions after the first and "
               "the second):\n")
    out.append(_table(["database", "resources", "versions", "versions after re-import",
                       "by type"], stored))
    m = report.mapping
    if m is not None:
        out.append(f"Mapping in process ({m.consumers:,} consumers, {m.records:,} records, "
                   f"{m.resources:,} FHIR resources out):\n")
        out.append(_table(["step", "seconds", "records/s", "resources/s", "failures"], [
            ("mapping (translator, no database)", f"{m.mapping_seconds:.2f}",
             f"{m.records_per_second:,.0f}", f"{m.resources_per_second:,.0f}", ""),
            (f"{m.parser} of the same output", f"{m.parse_seconds:.2f}",
             f"{m.records / m.parse_seconds:,.0f}", f"{m.parsed_per_second:,.0f}",
             m.parse_failures),
        ]))
        out.append(f"Mapping produces FHIR {m.resources_per_second / m.parsed_per_second:.1f}x "
                   f"as fast as fhir.resources parses it (no target).\n")
    return "\n".join(out)


def _throughput(report: Report) -> str:
    out = []
    for db in report.databases:
        rows = []
        for name, target in (("read", targets.READ_TARGET), ("search", targets.SEARCH_TARGET)):
            if name not in db.load or f"{name} floor" not in db.load:
                continue
            ours, floor = db.load[name], db.load[f"{name} floor"]
            r = ours.throughput / floor.throughput
            rows.append((_label(name), f"{db.body_bytes.get(name, 0):,}",
                         f"{ours.throughput:,.0f}", ms(ours.latency.p50), ms(ours.latency.p99),
                         f"{floor.throughput:,.0f}", ms(floor.latency.p50),
                         ms(floor.latency.p99), f"{r:.0%}", f">= {target:.0%}",
                         verdict(r >= target)))
        size = db.sizes.get("base", (0, 0))
        out.append(f"**{db.label}** ({size[0]:,} CareTeams, {size[1]:,} Patients stored)\n\n"
                   + _table(["request", "body bytes", "gateway req/s", "p50 ms", "p99 ms",
                             "floor req/s", "floor p50 ms", "floor p99 ms", "ratio", "target",
                             ""], rows))
    return "\n".join(out)


def _consent(report: Report) -> str:
    rows, spread = [], []
    for db in report.databases:
        if "search as partner" not in db.load or "search as operator" not in db.load:
            continue
        added, slices = db.consent_cost(), db.consent_slices()
        for name in ("search as operator", "search as partner"):
            result = db.load[name]
            rows.append((db.label, name, f"{result.throughput:,.0f}", ms(result.latency.p50),
                         ms(result.latency.p99), f"{added:+.0%}" if name.endswith("partner")
                         else "", verdict(consent_met(added, slices))
                         if name.endswith("partner") else ""))
        operator, partner = db.load["search as operator"], db.load["search as partner"]
        spread.append((
            db.label, len(slices),
            ", ".join(f"{x:+.0%}" for x in slices) or "n/a",
            f"{min(slices):+.0%}" if slices else "n/a",
            f"{_median(slices):+.0%}" if slices else "n/a",
            f"{max(slices):+.0%}" if slices else "n/a",
            ", ".join(ms(x.latency.p50) for x in operator.slices) or "n/a",
            ", ".join(ms(x.latency.p50) for x in partner.slices) or "n/a"))
    return ("`GET CareTeam?patient={id}` for consumers who consented to a benchmark partner, as "
            "that partner (SMART access token; grants from the consumers' Consents, applied in "
            "SQL and decided again per result) and as an operator (no consent work), "
            "interleaved on the same server and data in alternating slices (operator, partner; "
            "partner, operator; ...). Target: at most "
            f"{targets.CONSENT_COST_TARGET:.0%} added latency at p50 (all slices' samples "
            f"pooled), from at least {targets.CONSENT_MIN_ROUNDS} slices each.\n\n"
            + _table(["database", "requester", "req/s", "p50 ms", "p99 ms", "added p50",
                      ""], rows)
            + "\nThe spread: each round's added p50 (that round's partner slice over its "
              "operator slice), in the order measured, and each slice's p50.\n\n"
            + _table(["database", "rounds", "added p50 per round", "min", "median", "max",
                      "operator p50 ms per slice", "partner p50 ms per slice"], spread))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def vcpus(machine: Machine) -> int:
    """The machine's vCPUs (``nproc``), at least 1."""
    try:
        return max(1, int(machine.cores))
    except ValueError:
        return 1


def per_vcpu_section(report: Report) -> str:
    n = vcpus(report.machine)
    ours = []
    for db in report.databases:
        for name, title in (("read", "GET CareTeam/{id}"), ("search", "GET CareTeam?patient="),
                            ("create", "POST CareTeam")):
            if name in db.load:
                rate = db.load[name].throughput
                ours.append((f"this gateway, {db.label}", title, f"{rate:,.0f}", n,
                             f"**{rate / n:,.0f}**", "measured here (sections 1 and 2)"))
    theirs = [(p.server, p.workload, f"{p.requests_per_second:,.0f}", f"{p.vcpus:g}",
               f"{p.per_vcpu:,.0f}", "NOT measured here: " + p.note + "; "
               + " ".join(f"<{url}>" for url in p.sources))
              for p in PUBLISHED]
    hardware = "\n".join(f"- **{p.server}**: {p.hardware}" for p in PUBLISHED)
    return (f"The gateway's throughput from sections 1 and 2 divided by this machine's {n} "
            "vCPUs (`nproc`). Those vCPUs also run the load generator "
            f"({report.plan.processes} processes x {report.plan.threads} threads) and, on "
            "PostgreSQL, the database server, so this understates what the "
            "gateway would do per vCPU of its own. The other rows are **published figures, "
            "not measured here**, on other hardware, data and workloads (their CRUD mixes "
            "create, read, update and delete; ours is one request kind at a time): a rough "
            "context, not a comparison, and no target.\n\n"
            + _table(["server", "workload", "req/s", "vCPUs", "req/s per vCPU", "source"],
                     [*ours, *theirs])
            + "\nHardware of the published figures:\n\n" + hardware + "\n")


def _label(name: str) -> str:
    return {"read": "GET CareTeam/{id}", "search": "GET CareTeam?patient={id}"}[name]


def _create(report: Report) -> str:
    ours, ref = report.ours, report.reference
    ratio = ours.per_second / ref.per_second
    text = ["In process (one thread, no database):\n",
            _table(["validator", "calls", "calls/s", "µs/call", "ratio", "target", ""], [
                (ref.name, f"{ref.calls:,}", f"{ref.per_second:,.0f}",
                 f"{ref.microseconds:.0f}", "100%", "", ""),
                (ours.name, f"{ours.calls:,}", f"{ours.per_second:,.0f}",
                 f"{ours.microseconds:.0f}", f"{ratio:.0%}",
                 f">= {targets.VALIDATE_TARGET:.0%}", verdict(ratio >= targets.VALIDATE_TARGET)),
            ]),
            "HTTP `POST /fhir/CareTeam` (parsing, validation, storage, indexing, the audit "
            "record and the commit; 8 connections) against the **storage floor** (the same "
            "bodies, one INSERT and commit each into the same database; see Method), "
            "alternating slices:\n"]
    rows, info = [], []
    for db in report.databases:
        if "create" not in db.load:
            continue
        create = db.load["create"]
        info.append((db.label, f"{create.throughput:,.0f}",
                     f"{create.throughput / ref.per_second:.0%}"))
        if "create floor" not in db.load:
            continue
        floor = db.load["create floor"]
        r = create.throughput / floor.throughput
        rows.append((db.label, f"{create.throughput:,.0f}", ms(create.latency.p50),
                     ms(create.latency.p99), f"{floor.throughput:,.0f}", ms(floor.latency.p50),
                     ms(floor.latency.p99), f"{db.storage_floor_rows:,} / {floor.answered:,}",
                     f"{r:.0%}", f">= {targets.CREATE_TARGET:.0%}",
                     verdict(r >= targets.CREATE_TARGET)))
    text.append(_table(["database", "creates/s", "p50 ms", "p99 ms", "floor creates/s",
                        "floor p50 ms", "floor p99 ms", "floor rows / 201s", "ratio",
                        "target", ""], rows))
    text.append(f"For information (no target since issue 16): the same creates/s against the "
                f"in-process {ref.name} rate (validation alone, one thread).\n")
    text.append(_table(["database", "creates/s", f"vs {ref.name}"], info))
    return "\n".join(text)


def _latency(report: Report) -> str:
    rows = []
    for db in report.databases:
        if "large" not in db.latency:
            continue
        for query, small in db.latency["small"].items():
            large = db.latency["large"][query]
            r = large.p95 / small.p95
            rows.append((db.label, query, f"{db.sizes['small'][0]:,}", ms(small.p50),
                         ms(small.p95), f"{db.sizes['large'][0]:,}", ms(large.p50),
                         ms(large.p95), f"{r:.2f}x",
                         f"<= {targets.LATENCY_RATIO_TARGET:.0f}x",
                         verdict(r <= targets.LATENCY_RATIO_TARGET)))
    return _table(["database", "query", "CareTeams", "p50 ms", "p95 ms", "CareTeams",
                   "p50 ms", "p95 ms", "p95 ratio", "target", ""], rows)


def _seeding(report: Report) -> str:
    rows = [(db.label, f"{db.seed.resources:,}", f"{db.seed.seconds:.1f}",
             f"{db.seed.rate:,.0f}", db.equivalence_rows, f"{db.seconds / 60:.1f}")
            for db in report.databases]
    return _table(["database", "resources bulk-stored", "seconds", "resources/s",
                   "rows compared with Repository.create", "database run, minutes"], rows)


def _profiles(report: Report) -> str:
    profiles = ([report.validator_profile] if report.validator_profile else [])
    profiles += [p for db in report.databases for p in db.profiles]
    if report.delivery is not None and report.delivery.profile is not None:
        profiles.append(report.delivery.profile)
    if report.inbound is not None:
        profiles += [t.profile for t in report.inbound.transports if t.profile is not None]
    if not profiles:
        return "Every target was met; nothing was profiled.\n"
    return "\n".join(profile_section(p) for p in profiles)


def profile_section(p: Profile) -> str:
    per_op = p.seconds / p.calls * 1e3
    return "\n".join([
        f"### {p.title}\n\n{p.calls:,} operations in {p.seconds:.1f} s under "
        f"cProfile ({per_op:.2f} ms each).\n",
        _table(["own time in", "share"],
               [(b, f"{share:.0%}") for b, share in p.buckets if share >= 0.01]),
        _table(["function (own time)", "µs/op", "calls/op"],
               [(f"`{f}`", f"{t * 1e6:.0f}", n) for f, t, n in p.top_own]),
        _table(["gateway function (cumulative)", "µs/op"],
               [(f"`{f}`", f"{t * 1e6:.0f}") for f, t in p.top_cumulative]),
    ])


def _plans(report: Report) -> str:
    out = []
    for db in report.databases:
        for query, plans in db.plans.items():
            out.append(f"**{db.label}, {query}**\n")
            for sql, plan in plans:
                out.append(f"```sql\n{sql}\n```\n```\n{plan}\n```\n")
    return "\n".join(out) or "(none)\n"


def _raw(report: Report) -> dict[str, Any]:
    return {
        "plan": asdict(report.plan),
        "validation": {"ours": asdict(report.ours), "reference": asdict(report.reference)},
        "databases": [{
            "label": db.label,
            "sizes": db.sizes,
            "seed": asdict(db.seed),
            "load": {name: {"requests": r.requests, "seconds": r.seconds,
                            "throughput": round(r.throughput, 1), "errors": r.errors,
                            "answered": r.answered,
                            "latency_ms": _latency_ms(r.latency),
                            "slices": [{"throughput": round(x.throughput, 1),
                                        "p50_ms": round(x.latency.p50 * 1e3, 3)}
                                       for x in r.slices]}
                     for name, r in db.load.items()},
            "storage_floor_rows": db.storage_floor_rows,
            "consent_slices": ([round(x, 4) for x in db.consent_slices()]
                               if "search as partner" in db.load
                               and "search as operator" in db.load else None),
            "latency_ms": {stage: {q: _latency_ms(s) for q, s in by_query.items()}
                           for stage, by_query in db.latency.items()},
            "body_bytes": db.body_bytes,
            "seconds": round(db.seconds, 1),
        } for db in report.databases],
        "imports": [{
            "label": imp.label, "consumers": imp.consumers, "records": imp.records,
            "first": asdict(imp.first) if imp.first else None,
            "again": asdict(imp.again) if imp.again else None,
            "resources": imp.resources, "versions": imp.versions,
            "versions_after_again": imp.versions_after_again, "by_type": imp.by_type,
        } for imp in report.imports],
        "mapping": asdict(report.mapping) if report.mapping else None,
        "delivery": report.delivery.raw() if report.delivery else None,
        "inbound": report.inbound.raw() if report.inbound else None,
        "failures": report.failures,
    }


def _latency_ms(summary: Any) -> dict[str, float]:
    return {k: (v if k == "count" else round(v * 1e3, 3)) for k, v in asdict(summary).items()}

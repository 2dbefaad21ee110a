"""Delivery drain rate: how fast ``gateway deliver`` workers empty a queue, next to the limit.

On a migrated PostgreSQL database (benchmarks/databases.py makes a throwaway schema):

1. one physical-health partner whose FHIR base is a loopback receiver
   (benchmarks/delivery_receiver.py, its own process, HTTP keep-alive);
2. ``consumers`` consumers stored through ``Repository.update`` (the API's path, so the
   transactional outbox marks their deliveries), each with a Patient, CareTeam, Goal, CarePlan
   and a Consent permitting the partner their plan for treatment; exactly ``consumers``
   deliveries must then be pending;
3. ``workers`` worker processes, each built as ``gateway deliver --once --batch B --name wN``
   builds its worker (``gateway.cli.delivery.delivery_worker`` on
   ``create_app(config_from_env())``), start together once all are built and run until nothing
   is due. Drain time: from the start signal until the last worker has recorded its last batch.
   Then every delivery must be ``sent`` with one attempt, and the receiver must hold one bundle
   per consumer, each with the consumer's Patient, CareTeam, Goal and CarePlan;
4. the limit: the bundles the receiver got, posted again to it by a plain single-threaded
   ``requests.Session`` loop (``json=bundle``, as the worker's transport posts them).

``python -m benchmarks.delivery_drain [--quick | --consumers N]`` runs just this part.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import Engine, text

from benchmarks import plan as targets
from benchmarks.databases import analyze, postgres_database
from benchmarks.profiling import Profile, _summarize
from benchmarks.servers import _clean_env, _process, free_port

if TYPE_CHECKING:  # the benchmark imports the gateway lazily, after its environment is set
    from gateway.state import GatewayState

HOST = "127.0.0.1"
FHIR_JSON = "application/fhir+json"
PARTNER_ID = "bench-drain-pcp"
PARTNER_ORG = "org-bench-drain-pcp"
PRACTITIONER = "csm-bench-drain"
MRN_SYSTEM = "https://clinic.example/mrn"
PLAN_TYPES = ("Patient", "CareTeam", "Goal", "CarePlan")
SEED_CHUNK = 250  # consumers per writing transaction
Log = Callable[[str], None]


@dataclass
class DrainResults:
    label: str
    consumers: int
    workers: int
    batch_size: int
    receiver: str
    seed_seconds: float = 0.0
    startup_seconds: float = 0.0        # building the workers (create_app), not measured
    drain_seconds: float = 0.0          # start signal -> last worker done
    sent: int = 0                       # rows with status sent
    attempts_one: int = 0               # of those, with exactly one attempt
    received: int = 0                   # bundles the receiver got from the workers
    distinct_consumers: int = 0         # ... for how many different consumers
    complete_bundles: int = 0           # ... holding the consumer's Patient and whole plan
    bundle_bytes: float = 0.0           # mean size of a bundle as received
    worker_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    worker_batches: dict[str, int] = field(default_factory=dict)
    worker_cpu_seconds: dict[str, float] = field(default_factory=dict)
    plain_seconds: float = 0.0
    plain_sent: int = 0
    profile: Profile | None = None
    profile_consumers: int = 0
    problems: list[str] = field(default_factory=list)  # analysis steps that failed

    @property
    def met_targets(self) -> bool:
        return (self.sent_once and self.rate >= targets.DELIVERY_RATE_TARGET
                and self.ratio >= targets.DELIVERY_RATIO_TARGET)

    @property
    def sent_once(self) -> bool:
        n = self.consumers
        return (self.sent == self.attempts_one == self.received == self.distinct_consumers
                == self.complete_bundles == n and sum(
                    c.get("sent", 0) for c in self.worker_counts.values()) == n)

    @property
    def rate(self) -> float:
        return self.sent / self.drain_seconds if self.drain_seconds else 0.0

    @property
    def plain_rate(self) -> float:
        return self.plain_sent / self.plain_seconds if self.plain_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.rate / self.plain_rate if self.plain_rate else 0.0

    @property
    def worker_busy(self) -> float:
        """Workers' CPU time over (workers x drain time): 1.0 = every worker on a core."""
        total = sum(self.worker_cpu_seconds.values())
        return total / (self.workers * self.drain_seconds) if self.drain_seconds else 0.0

    def raw(self) -> dict[str, Any]:
        return {
            "label": self.label, "consumers": self.consumers, "workers": self.workers,
            "batch_size": self.batch_size, "receiver": self.receiver,
            "seed_seconds": round(self.seed_seconds, 2),
            "startup_seconds": round(self.startup_seconds, 2),
            "drain_seconds": round(self.drain_seconds, 3),
            "deliveries_per_second": round(self.rate, 1),
            "sent": self.sent, "attempts_one": self.attempts_one, "received": self.received,
            "distinct_consumers": self.distinct_consumers,
            "complete_bundles": self.complete_bundles, "sent_once": self.sent_once,
            "bundle_bytes": round(self.bundle_bytes),
            "worker_counts": self.worker_counts, "worker_batches": self.worker_batches,
            "worker_cpu_seconds": {k: round(v, 2) for k, v in self.worker_cpu_seconds.items()},
            "plain_seconds": round(self.plain_seconds, 3), "plain_sent": self.plain_sent,
            "plain_per_second": round(self.plain_rate, 1), "ratio": round(self.ratio, 3),
            "profile_consumers": self.profile_consumers,
        }


class DrainFailed(RuntimeError):
    """The drain did not deliver every consumer exactly once, or did not finish in time."""


# -- the whole measurement ------------------------------------------------------------------------

def measure(database_url: str, consumers: int, workers: int, batch_size: int, workdir: Path,
            log: Log, timeout: float = 600.0, profile_consumers: int = 0,
            profile_always: bool = False) -> DrainResults:
    """Seed, drain, check, and post the same bundles in a plain loop; ``database_url`` must
    be a migrated PostgreSQL database the caller owns. ``profile_consumers`` > 0: when a
    target is missed (or ``profile_always``), then seed that many more consumers and drain
    them again with every worker under cProfile (``results.profile``)."""
    if not database_url.startswith("postgresql"):
        raise ValueError("the drain benchmark runs on PostgreSQL (SKIP LOCKED claims)")
    results = DrainResults("PostgreSQL", consumers, workers, batch_size,
                           "`benchmarks/delivery_receiver.py`, HTTP/1.1 keep-alive")
    with _receiver(workdir) as receiver:
        state = _state(database_url)
        try:
            _register_partner(state, receiver.base_url)
            began = time.monotonic()
            patients = _seed(state, range(consumers), log)
            analyze(state.engine)
            results.seed_seconds = time.monotonic() - began
            pending = _statuses(state.engine)
            if pending != {("pending", 0): consumers}:
                raise DrainFailed(f"expected {consumers} pending deliveries after seeding, "
                                  f"found {pending}")
            log(f"delivery: {consumers:,} consumers stored, {consumers:,} deliveries pending "
                f"({results.seed_seconds:.0f}s)")
            run = _drain(database_url, workers, batch_size, timeout, log, state.engine,
                         consumers)
            results.startup_seconds = run.startup
            results.drain_seconds = run.seconds
            results.worker_counts = run.counts
            results.worker_batches = run.batches
            results.worker_cpu_seconds = run.cpu
            statuses = _statuses(state.engine)
            results.sent = _sent(state.engine)
            results.attempts_one = statuses.get(("sent", 1), 0)
            ids, bundles = receiver.received()
            _check_bundles(results, ids, bundles, set(patients))
            log(f"delivery: drained {results.sent:,} in {results.drain_seconds:.2f}s "
                f"({results.rate:,.0f}/s, {workers} workers, batch {batch_size}); "
                f"sent exactly once: {results.sent_once}")
            if not results.sent_once:
                raise DrainFailed(f"not every delivery was sent exactly once: {statuses}, "
                                  f"received {results.received} bundles for "
                                  f"{results.distinct_consumers} consumers "
                                  f"({results.complete_bundles} complete), workers "
                                  f"{run.counts}")
            receiver.reset()
            results.plain_seconds, results.plain_sent = _plain_loop(receiver, ids, bundles)
            if len(receiver.received()[0]) != results.plain_sent:
                raise DrainFailed("the receiver did not get every bundle of the plain loop")
            log(f"delivery: plain requests loop {results.plain_rate:,.0f}/s; workers reach "
                f"{results.ratio:.0%} of it")
            if profile_consumers and (profile_always or not results.met_targets):
                try:
                    results.profile = _profile(state, database_url, workers, batch_size,
                                               timeout, log, consumers, profile_consumers,
                                               workdir)
                    results.profile_consumers = profile_consumers
                except Exception as error:  # noqa: BLE001 - the measurement still stands
                    log(f"delivery: profiling failed: {error}")
                    results.problems.append(f"delivery profile: {type(error).__name__}: "
                                            f"{error}")
        finally:
            state.close()
    return results


# -- the receiver ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Receiver:
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/fhir"

    def received(self) -> tuple[list[str], list[dict[str, Any]]]:
        answer = requests.get(f"http://{HOST}:{self.port}/_received", timeout=60)
        answer.raise_for_status()
        body = answer.json()
        return body["ids"], body["bundles"]

    def reset(self) -> None:
        requests.post(f"http://{HOST}:{self.port}/_reset", timeout=10).raise_for_status()


@contextmanager
def _receiver(workdir: Path) -> Iterator[Receiver]:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.delivery_receiver", "--port", str(port)]
    with _process("delivery-receiver", command, _clean_env(workdir), workdir, port):
        yield Receiver(port)


# -- the data -------------------------------------------------------------------------------------

def _state(database_url: str) -> Any:
    from gateway.app import create_app
    from gateway.config import Config

    return create_app(Config(database_url=database_url)).extensions["gateway"]


def _register_partner(state: GatewayState, base_url: str) -> None:
    from gateway.auth import SYSTEM
    from gateway.partners.registry import Partner, PartnerRegistry

    with state.session_factory() as session, session.begin():
        PartnerRegistry(session).put(Partner.from_json(partner(base_url)))
    with state.writing(SYSTEM) as repository:
        repository.update("Organization", PARTNER_ORG, {
            "resourceType": "Organization", "id": PARTNER_ORG, "name": "Benchmark Clinic"})
        repository.update("Practitioner", PRACTITIONER, {
            "resourceType": "Practitioner", "id": PRACTITIONER, "name": [{"family": "Casey"}],
            "telecom": [{"system": "phone", "value": "555-0100"}]})


def partner(base_url: str) -> dict[str, Any]:
    return {"id": PARTNER_ID, "type": "physical-health", "name": "Benchmark Clinic",
            "organization": PARTNER_ORG, "endpoints": {"fhir_base": base_url},
            "purposes": ["TREAT"], "patient_identifier_systems": [MRN_SYSTEM],
            "resource_types": ["Patient", "CarePlan", "CareTeam", "Goal", "ServiceRequest",
                               "Practitioner", "Organization"]}


def patient_id(index: int, prefix: str = "drain") -> str:
    return f"{prefix}-{index:06d}"


def consent(patient: str) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "resourceType": "Consent", "id": f"consent-{patient}", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        # ppc-1 (R4): a Consent names a policy or a policyRule.
        "policyRule": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
            "code": "hipaa-auth"}]},
        "patient": {"reference": f"Patient/{patient}"},
        "provision": {
            "type": "permit",
            "period": {"start": (today - timedelta(days=10)).isoformat(),
                       "end": (today + timedelta(days=300)).isoformat()},
            "actor": [{"role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP"}]}, "reference": {"reference": f"Organization/{PARTNER_ORG}"}}],
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                         "code": "TREAT"}],
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": t}
                      for t in ("Patient", "CarePlan", "CareTeam", "Goal", "ServiceRequest",
                                "Practitioner", "Organization")]}}


def consumer_records(patient: str) -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{patient}"}
    return [
        {"resourceType": "Patient", "id": patient, "name": [{"family": patient}],
         "identifier": [{"system": MRN_SYSTEM, "value": f"MRN-{patient}"}]},
        {"resourceType": "CareTeam", "id": f"team-{patient}", "status": "active",
         "subject": subject,
         "participant": [{"member": {"reference": f"Practitioner/{PRACTITIONER}"}}]},
        {"resourceType": "Goal", "id": f"goal-{patient}", "lifecycleStatus": "active",
         "description": {"text": "Keep my apartment"}, "subject": subject},
        {"resourceType": "CarePlan", "id": f"plan-{patient}", "status": "active",
         "intent": "plan", "subject": subject,
         "careTeam": [{"reference": f"CareTeam/team-{patient}"}],
         "goal": [{"reference": f"Goal/goal-{patient}"}]},
        consent(patient),
    ]


def _seed(state: GatewayState, indexes: range, log: Log, prefix: str = "drain") -> list[str]:
    """Store the consumers through the repository, ``SEED_CHUNK`` to a transaction."""
    from gateway.auth import SYSTEM

    patients = [patient_id(i, prefix) for i in indexes]
    began, last_log = time.monotonic(), time.monotonic()
    for low in range(0, len(patients), SEED_CHUNK):
        with state.writing(SYSTEM, defer_index=True) as repository:
            for patient in patients[low:low + SEED_CHUNK]:
                for resource in consumer_records(patient):
                    repository.update(resource["resourceType"], resource["id"], resource)
        if time.monotonic() - last_log > 30:
            last_log = time.monotonic()
            done = min(len(patients), low + SEED_CHUNK)
            log(f"delivery: {done:,}/{len(patients):,} consumers stored "
                f"({done / (last_log - began):,.0f}/s)")
    return patients


def _statuses(engine: Engine) -> dict[tuple[str, int], int]:
    """(status, attempts) -> number of deliveries."""
    with engine.connect() as connection:
        return {(status, attempts): n for status, attempts, n in connection.execute(text(
            "SELECT status, attempts, count(*) FROM delivery GROUP BY status, attempts"))}


def _sent(engine: Engine) -> int:
    return sum(n for (status, _), n in _statuses(engine).items() if status == "sent")


def _check_bundles(results: DrainResults, ids: list[str], bundles: list[dict[str, Any]],
                   patients: set[str]) -> None:
    results.received = len(bundles)
    seen: set[str] = set()
    complete = 0
    size = 0
    for bundle in bundles:
        size += len(json.dumps(bundle, separators=(",", ":")))
        names = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                 for e in bundle.get("entry", [])}
        owner = next((n.split("/", 1)[1] for n in names if n.startswith("Patient/")), None)
        if owner is None or owner not in patients:
            continue
        seen.add(owner)
        wanted = {f"Patient/{owner}", f"CareTeam/team-{owner}", f"Goal/goal-{owner}",
                  f"CarePlan/plan-{owner}", f"Practitioner/{PRACTITIONER}"}
        if wanted <= names:
            complete += 1
    if len(set(ids)) != len(ids):
        complete = min(complete, len(set(ids)))  # a delivery id twice: something sent twice
    results.distinct_consumers = len(seen)
    results.complete_bundles = complete
    results.bundle_bytes = size / len(bundles) if bundles else 0.0


# -- the workers ----------------------------------------------------------------------------------

@dataclass
class DrainRun:
    startup: float = 0.0
    seconds: float = 0.0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    profiles: list[Path] = field(default_factory=list)


def _drain(database_url: str, workers: int, batch_size: int, timeout: float, log: Log,
           engine: Engine, expected: int, profile_dir: Path | None = None) -> DrainRun:
    """Start ``workers`` worker processes together; wait until all have finished."""
    context = multiprocessing.get_context("spawn")
    ready, done = context.Queue(), context.Queue()
    go = context.Event()
    names = [f"w{n + 1}" for n in range(workers)]
    profiles = {name: profile_dir / f"{name}.prof" for name in names} if profile_dir else {}
    processes = [context.Process(
        target=_worker_process, name=f"delivery-{name}", daemon=True,
        args=(database_url, name, batch_size, ready, done, go,
              str(profiles[name]) if profiles else None, timeout))
        for name in names]
    run = DrainRun(profiles=list(profiles.values()))
    already = _sent(engine)
    launched = time.monotonic()
    try:
        for process in processes:
            process.start()
        for _ in names:
            message = _get(ready, launched + 180, processes, "start")
            if "error" in message:
                raise DrainFailed(f"worker {message['name']} failed to start: "
                                  f"{message['error']}")
        run.startup = time.monotonic() - launched
        started = time.monotonic()
        go.set()
        deadline = started + timeout
        finished: list[dict[str, Any]] = []
        next_log = started + 10
        while len(finished) < workers:
            message = _get(done, deadline, processes, "finish", poll=min(1.0, timeout))
            if message.get("poll"):
                if time.monotonic() >= next_log:
                    next_log += 10
                    log(f"delivery: {_sent(engine) - already:,}/{expected:,} sent after "
                        f"{time.monotonic() - started:.0f}s")
                continue
            if "error" in message:
                raise DrainFailed(f"worker {message['name']} failed: {message['error']}")
            finished.append(message)
        run.seconds = max(m["ended"] for m in finished) - started
        for message in finished:
            run.counts[message["name"]] = message["counts"]
            run.batches[message["name"]] = message["batches"]
            run.cpu[message["name"]] = message["cpu"]
        for process in processes:
            process.join(timeout=30)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        ready.close()
        done.close()
    return run


def _get(queue: Any, deadline: float, processes: list[Any], what: str,
         poll: float = 1.0) -> dict[str, Any]:
    """The next message, {"poll": True} after ``poll`` seconds without one; raises at the
    deadline or when a worker died without a word."""
    import queue as queues

    wait = deadline - time.monotonic()
    if wait <= 0:
        raise DrainFailed(f"the workers did not {what} in time")
    try:
        return queue.get(timeout=min(poll, wait))
    except queues.Empty:
        dead = [p for p in processes if p.exitcode not in (None, 0)]
        if dead:
            raise DrainFailed(f"worker process {dead[0].name} exited with status "
                              f"{dead[0].exitcode}") from None
        if time.monotonic() >= deadline:
            raise DrainFailed(f"the workers did not {what} in time") from None
        return {"poll": True}


def _worker_process(database_url: str, name: str, batch_size: int, ready: Any, done: Any,
                    go: Any, profile_path: str | None, timeout: float) -> None:
    """One worker, as ``gateway deliver --once --batch B --name NAME`` builds and runs it."""
    for key in [k for k in os.environ if k.startswith("GATEWAY_")
                or k == "PROMETHEUS_MULTIPROC_DIR"]:
        del os.environ[key]
    os.environ["GATEWAY_DATABASE_URL"] = database_url
    try:
        from gateway.app import create_app
        from gateway.cli.delivery import delivery_worker
        from gateway.config import config_from_env

        config = config_from_env()
        state = create_app(config).extensions["gateway"]
    except Exception:  # noqa: BLE001 - reported to the parent
        ready.put({"name": name, "error": traceback.format_exc(limit=5)})
        return
    try:
        worker = delivery_worker(config, state, name, batch_size)
        ready.put({"name": name})
        if not go.wait(timeout=300):
            return
        profiler = cProfile.Profile() if profile_path else None
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        summary = worker.run(once=True)
        ended = time.monotonic()
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_path)
        done.put({"name": name, "counts": dict(summary.counts), "batches": summary.batches,
                  "ended": ended, "cpu": time.process_time() - cpu})
    except Exception:  # noqa: BLE001 - reported to the parent
        done.put({"name": name, "error": traceback.format_exc(limit=8)})
    finally:
        state.close()


# -- the limit ------------------------------------------------------------------------------------

def _plain_loop(receiver: Receiver, ids: list[str], bundles: list[dict[str, Any]]
                ) -> tuple[float, int]:
    """The same bundles, one after another from one ``requests.Session``: (seconds, sent)."""
    session = requests.Session()
    url = receiver.base_url
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    try:
        session.get(f"http://{HOST}:{receiver.port}/readyz", timeout=10)  # connect first
        began = time.perf_counter()
        for delivery, bundle in zip(ids, bundles, strict=True):
            answer = session.post(url, json=bundle, headers={**headers,
                                                              "X-Delivery-Id": delivery},
                                  timeout=(5.0, 30.0))
            if answer.status_code != 200:
                raise DrainFailed(f"plain loop: HTTP {answer.status_code}: {answer.text[:300]}")
        return time.perf_counter() - began, len(bundles)
    finally:
        session.close()


# -- where the time goes --------------------------------------------------------------------------

def _profile(state: GatewayState, database_url: str, workers: int, batch_size: int, timeout: float,
             log: Log, offset: int, consumers: int, workdir: Path) -> Profile:
    """Seed ``consumers`` more and drain them with every worker under cProfile (merged)."""
    _seed(state, range(offset, offset + consumers), log)
    profile_dir = Path(tempfile.mkdtemp(prefix="drain-profile-", dir=workdir))
    run = _drain(database_url, workers, batch_size, timeout, log, state.engine, consumers,
                 profile_dir)
    sent = sum(c.get("sent", 0) for c in run.counts.values())
    stats = pstats.Stats(*(str(p) for p in run.profiles))
    log(f"delivery: profiled {sent:,} deliveries in {run.seconds:.1f}s under cProfile")
    return _summarize(f"PostgreSQL: delivery worker, {workers} processes under cProfile "
                      f"(batch {batch_size}; time summed over the workers)",
                      stats, max(1, sent), run.seconds)


# -- just this part -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from benchmarks.databases import POSTGRES_URL
    from benchmarks.plan import FULL, QUICK

    parser = argparse.ArgumentParser(prog="python -m benchmarks.delivery_drain",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the --quick plan's size")
    parser.add_argument("--consumers", type=int, help="queued deliveries (default: the plan's)")
    parser.add_argument("--profile", type=int,
                        help="then profile a drain of this many more consumers (default: the "
                             "plan's, and only when a target is missed)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gateway-drain-") as scratch, \
            postgres_database(args.postgres_url) as database:
        results = measure(database.url, args.consumers or plan.delivery_consumers,
                          plan.delivery_workers, plan.delivery_batch, Path(scratch), log,
                          plan.delivery_timeout,
                          plan.delivery_profile if args.profile is None else args.profile,
                          profile_always=args.profile is not None)
    print(json.dumps(results.raw(), indent=1))
    if results.profile is not None:
        from benchmarks.report import profile_section
        print(profile_section(results.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())

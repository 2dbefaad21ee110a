"""Inbound hospital messages: Da Vinci notifications through ``$process-message`` and HL7 v2
ADT over MLLP, each from concurrent senders, on PostgreSQL.

On a migrated PostgreSQL database (benchmarks/databases.py makes a throwaway schema):

1. the agency: ``benchmarks/generate_agency.py``'s agency of ``consumers`` consumers, loaded by
   ``gateway import``, so that patient matching searches a realistically sized Patient table;
   then VACUUM ANALYZE and a CHECKPOINT (``databases.settle``), as the server would do soon
   after such a load;
2. a hospital partner (kind ``hospital``, an ES384 key made here) for the agency's hospital
   organization, sending HL7 v2 from 127.0.0.1 as facility ``GLRH``;
3. the messages, all made before any clock starts, each with its own message id and hospital
   encounter (``MIX``): discharges of consumers the hospital names by Medicaid id, discharges
   of consumers it knows only by name, birth date, sex, phone and address, discharges of
   people the agency does not know (prospective consumers) and admissions of consumers
   (care-team notices); as Da Vinci notification Bundles shaped like the public example, and
   as HL7 v2.5.1 ADT^A03 / ADT^A01. The gateway's own scoring checks each person beforehand:
   a consumer is a certain match for exactly one Patient, a stranger nobody's candidate;
4. FHIR: ``gateway serve`` (as the other sections start it); ``senders`` threads, each with its
   own ``requests.Session`` and the partner's SMART access token (fetched again before it
   expires, as a hospital's client does), send ``warmup`` messages (not measured), then the
   measured ones, closed loop, each on a connection of its own (``CONNECTION_PER_MESSAGE``),
   until all are answered or ``timeout`` seconds have passed;
5. HL7 v2: ``gateway mllp`` instead, the same again with one long-lived MLLP connection per
   thread;
6. the checks, per transport: every answer ``ok`` / ``AA``; ``inbound_message`` holds one row
   per message sent and each became what it should (a referral Task of its own per discharge,
   for the consumer it names or a new prospective Patient; a care-team notice per admission;
   no match review); a few messages sent again get the same answer and change nothing;
7. on a missed target (or when asked), ``profile`` more messages of that transport taken in
   process under cProfile (Flask's test client for FHIR, the MLLP handler for HL7 v2).

``python -m benchmarks.inbound_messages [--quick]`` runs just this part.
"""
from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from benchmarks import plan as targets
from benchmarks.databases import Database, postgres_database, settle
from benchmarks.importing import generate_agency, run_import
from benchmarks.profiling import Profile, _summarize
from benchmarks.servers import ServerFailed, _clean_env, _tail, free_port, gateway_command, stop
from benchmarks.servers import gateway_server as start_gateway
from benchmarks.stats import LatencySummary, summarize
from gateway.adapters.mllp import MllpClient
from gateway.db.engine import make_engine
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.mappings.ids import fhir_id, identifier_system
from gateway.partners.client import client_assertion, token_request
from gateway.partners.registry import Partner, PartnerRegistry
from gateway.partners.smart import token_endpoint
from gateway.workflows import patient_matching

HOST = "127.0.0.1"
# Server processes, for `gateway serve` and `gateway mllp` alike: twice the cores, as gunicorn
# advises. Each sender keeps one connection, and a connection stays with the process that
# accepted it; with fewer processes than senders, one process (one GIL) can end up carrying
# most of them while the other idles (2 processes: 22/s; 4: 46/s, quick plan).
SERVER_WORKERS = 2 * (os.cpu_count() or 1)
PUBLIC_BASE_URL = "http://127.0.0.1:8080"  # as in benchmarks/suite.py and `gateway import`
FHIR_JSON = "application/fhir+json"
PARTNER_ID = "bench-hospital"
HOSPITAL = "ORG-G-HOSP-001"  # the generated agency's first hospital (its local id)
HOSPITAL_NAME = "Lansing Regional Hospital"
FACILITY = "GLRH"  # MSH-4
SCOPE = "system/Task.read system/ServiceRequest.read"
MRN_SYSTEM = "https://lansing-regional.example/fhir/mrn"
MRN_OID = "2.16.840.1.113883.3.7777.12"
VISIT_SYSTEM = "https://lansing-regional.example/fhir/visit"
VISIT_OID = "2.16.840.1.113883.3.7777.13"
STATE_MEDICAID = "urn:oid:2.16.840.1.113883.4.3.26"  # as the hospital files Medicaid numbers
NOTIFICATION_EVENTS = "http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
HOSPITAL_ZONE = timezone(timedelta(hours=-5))
TRUSTED = frozenset({MRN_SYSTEM, identifier_system("consumer"), DEFAULT_MEDICAID_SYSTEM})
RESEND = 10  # measured messages sent again per transport

IDENTIFIED, DEMOGRAPHIC, STRANGER, ADMIT = "identified", "demographic", "stranger", "admit"
# Of every 20 messages: discharges of consumers named by Medicaid id; of consumers known by
# name, birth date, sex, phone and address only; of strangers; admissions of consumers.
MIX = ((IDENTIFIED, 12), (DEMOGRAPHIC, 3), (STRANGER, 3), (ADMIT, 2))
EXPECTED_OUTCOME = {IDENTIFIED: "referral", DEMOGRAPHIC: "referral", STRANGER: "referral",
                    ADMIT: "care-team-notified"}
DIAGNOSES = (("F20.9", "Schizophrenia, unspecified"),
             ("F25.0", "Schizoaffective disorder, bipolar type"),
             ("F31.2", "Bipolar disorder, current episode manic severe with psychotic features"),
             ("F32.2", "Major depressive disorder, single episode, severe without psychotic "
                       "features"),
             ("F33.1", "Major depressive disorder, recurrent, moderate"),
             ("F10.239", "Alcohol dependence with withdrawal, unspecified"),
             ("F43.10", "Post-traumatic stress disorder, unspecified"))
# Names of people the agency does not know (none in the generated agency's pools).
STRANGER_FAMILY = ("Halvorson", "Lindqvist", "Abernathy", "Castellanos", "Dubois", "Eriksen",
                   "Fairbanks", "Galloway", "Ibarra", "Jorgensen", "Kaminski", "Lacroix",
                   "Mbeki", "Novotny", "Ostrowski", "Quintero", "Rasmussen", "Sorensen",
                   "Thibodeaux", "Underwood", "Valdivia", "Yamamoto", "Zeller", "Achterberg")
STRANGER_GIVEN = {"female": ("Astrid", "Beatriz", "Colette", "Dagny", "Esme", "Freya", "Greta",
                             "Hilde", "Ines", "Johanna", "Katrin", "Lorna"),
                  "male": ("Anders", "Bram", "Cormac", "Dmitri", "Elden", "Fergus", "Gunnar",
                           "Henrik", "Idris", "Jarrah", "Klaus", "Lorcan")}
Log = Callable[[str], None]


class InboundFailed(RuntimeError):
    """The run could not be made (a sender could not connect, a server did not start)."""


# -- results --------------------------------------------------------------------------------------

@dataclass
class TransportResults:
    """One transport: ``prepared`` measured messages from ``senders`` threads after ``warmup``."""

    name: str          # "FHIR $process-message" | "HL7 v2 over MLLP"
    source: str        # inbound_message.source: fhir | hl7v2
    senders: int
    warmup: int
    prepared: int
    sent: int = 0      # measured messages that got an answer (or failed) before the time limit
    seconds: float = 0.0
    latency: LatencySummary = field(default_factory=lambda: summarize([]))
    errors: int = 0    # answered other than ok / AA, or not at all
    first_error: str = ""
    server_cpu: float = 0.0   # CPU seconds of the server's processes while measured
    sender_cpu: float = 0.0   # ... and of this process (the sender threads)
    kinds: dict[str, int] = field(default_factory=dict)     # measured messages by kind
    rows: int = 0                                           # its inbound_message rows
    outcomes: dict[str, int] = field(default_factory=dict)  # ... by outcome
    referral_tasks: int = 0   # distinct referral Tasks stored for its discharge messages
    discharges: int = 0       # discharge messages it sent (warm-up included)
    failed_checks: list[str] = field(default_factory=list)
    resent: int = 0
    resend_same: bool = False  # the same answers, and no row added anywhere
    profile: Profile | None = None
    profile_messages: int = 0

    @property
    def accepted(self) -> int:
        """Measured messages answered ok / AA."""
        return self.latency.count

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_per_message(self) -> float:
        return self.server_cpu / self.sent if self.sent else 0.0

    @property
    def verified(self) -> bool:
        return not self.errors and not self.failed_checks and self.resend_same

    @property
    def rate_met(self) -> bool:
        return self.verified and self.rate >= targets.INBOUND_RATE_TARGET

    @property
    def p99_met(self) -> bool:
        return self.verified and self.latency.p99 * 1e3 < targets.INBOUND_P99_TARGET_MS

    def raw(self) -> dict[str, Any]:
        return {
            "name": self.name, "senders": self.senders, "warmup": self.warmup,
            "prepared": self.prepared, "sent": self.sent, "seconds": round(self.seconds, 3),
            "messages_per_second": round(self.rate, 1),
            "latency_ms": {k: (v if k == "count" else round(v * 1e3, 3))
                           for k, v in vars(self.latency).items()},
            "errors": self.errors, "first_error": self.first_error,
            "server_cpu_seconds": round(self.server_cpu, 2),
            "sender_cpu_seconds": round(self.sender_cpu, 2), "kinds": self.kinds,
            "rows": self.rows, "outcomes": self.outcomes, "discharges": self.discharges,
            "referral_tasks": self.referral_tasks, "failed_checks": self.failed_checks,
            "resent": self.resent, "resend_same": self.resend_same,
            "profile_messages": self.profile_messages,
        }


@dataclass
class InboundResults:
    label: str
    consumers: int
    senders: int
    patients: int = 0          # Patients stored when the first message is sent
    resources: int = 0         # resources stored then
    import_seconds: float = 0.0
    fhir: TransportResults | None = None
    hl7: TransportResults | None = None
    problems: list[str] = field(default_factory=list)  # profiling steps that failed

    @property
    def transports(self) -> list[TransportResults]:
        return [t for t in (self.fhir, self.hl7) if t is not None]

    def raw(self) -> dict[str, Any]:
        return {"label": self.label, "consumers": self.consumers, "senders": self.senders,
                "patients": self.patients, "resources": self.resources,
                "import_seconds": round(self.import_seconds, 1),
                "transports": [t.raw() for t in self.transports]}


# -- the whole measurement ------------------------------------------------------------------------

def measure(database_url: str, consumers: int, messages: int, warmup: int, senders: int,
            workdir: Path, log: Log, timeout: float = 300.0, profile_messages: int = 0,
            profile_always: bool = False) -> InboundResults:
    """Import the agency, then measure both transports on ``database_url`` (a migrated
    PostgreSQL database the caller owns). ``messages`` measured per transport, after
    ``warmup``; ``profile_messages`` > 0: on a missed target (or ``profile_always``) that many
    more are taken in process under cProfile."""
    if not database_url.startswith("postgresql"):
        raise ValueError("the inbound benchmark runs on PostgreSQL")
    results = InboundResults("PostgreSQL", consumers, senders)
    agency = workdir / "agency-inbound"
    generate_agency(agency, consumers)
    imported = run_import(Database("PostgreSQL", database_url), agency, workdir, "inbound")
    if imported.exit_code or imported.rejected:
        raise InboundFailed(f"gateway import failed: {imported.output}")
    results.import_seconds = imported.seconds
    engine = make_engine(database_url)
    try:
        began = time.monotonic()
        settle(engine)
        log(f"inbound: VACUUM ANALYZE and CHECKPOINT after the import "
            f"({time.monotonic() - began:.0f}s)")
        private_jwk = register_partner(engine)
        patients = stored_patients(engine)
        results.patients, results.resources = len(patients), _count(engine, "resource")
        log(f"inbound: {consumers:,} consumers imported ({imported.seconds:.0f}s), "
            f"{results.resources:,} resources stored")
        began = time.monotonic()
        sizes = (warmup, messages, profile_messages)
        fhir, hl7 = prepare(patients, sizes, random.Random(20261201))
        log(f"inbound: {2 * sum(sizes):,} messages made ({time.monotonic() - began:.0f}s)")
        results.fhir = TransportResults("FHIR $process-message", "fhir", senders, warmup,
                                        messages)
        with start_gateway(database_url, PUBLIC_BASE_URL, workdir,
                           workers=SERVER_WORKERS) as server:
            token = AccessToken(server.port, private_jwk)
            _run(results.fhir, fhir, lambda: FhirSender(server.port, token),
                 (server.pid, server.log), engine, timeout, log)
        results.hl7 = TransportResults("HL7 v2 over MLLP", "hl7v2", senders, warmup, messages)
        with mllp_listener(database_url, workdir) as (port, pid, server_log):
            _run(results.hl7, hl7, lambda: MllpSender(port), (pid, server_log), engine,
                 timeout, log)
        for transport, batch in ((results.fhir, fhir), (results.hl7, hl7)):
            missed = not (transport.rate_met and transport.p99_met)
            if batch.profile and (profile_always or missed):
                try:
                    transport.profile = _profile(transport, batch.profile, database_url,
                                                 private_jwk, log)
                    transport.profile_messages = len(batch.profile)
                except Exception as error:  # noqa: BLE001 - the measurement still stands
                    log(f"inbound: profiling {transport.name} failed: {error}")
                    results.problems.append(f"inbound {transport.name} profile: "
                                            f"{type(error).__name__}: {error}")
    finally:
        engine.dispose()
    return results


def _run(transport: TransportResults, batch: Batch, open_sender: Callable[[], Sender],
         server: tuple[int, Path | None], engine: Engine, timeout: float, log: Log) -> None:
    """Send, summarize, check and resend; the figures go into ``transport``. ``server``:
    the pid leading the server's process group, and its log."""
    server_pid, server_log = server
    run = send_all(open_sender, batch.warmup, batch.measured, transport.senders, timeout,
                   lambda: (group_cpu(server_pid), time.process_time()))
    measured = run.measured
    transport.sent = len(measured)
    transport.seconds = run.seconds
    transport.server_cpu, transport.sender_cpu = run.cpu
    transport.latency = summarize([s.seconds for s in measured if not s.problem])
    failed = [s for s in (*run.warmup, *measured) if s.problem]
    transport.errors = len(failed)
    transport.first_error = (f"{failed[0].message.message_id}: {failed[0].problem}"
                             if failed else "")
    kinds = Counter(s.message.kind for s in measured)
    transport.kinds = {kind: kinds[kind] for kind, _ in MIX if kinds[kind]}
    log(f"inbound: {transport.name}: {transport.sent:,} messages in {transport.seconds:.1f}s "
        f"({transport.rate:,.1f}/s), p50 {transport.latency.p50 * 1e3:.0f} ms, p99 "
        f"{transport.latency.p99 * 1e3:.0f} ms, {transport.errors} errors; server CPU "
        f"{transport.server_cpu_per_message * 1e3:.0f} ms/message"
        + (f" (first: {transport.first_error[:200]})" if failed else ""))
    if failed and server_log is not None:
        log(f"inbound: the end of the server's log:\n{_tail(server_log, 30)}")
    check(transport, [*run.warmup, *measured], engine)
    resend(transport, [s for s in measured if not s.problem][:RESEND], open_sender, engine)
    log(f"inbound: {transport.name}: {transport.rows:,} messages stored, outcomes "
        f"{transport.outcomes}; checks "
        + ("passed" if not transport.failed_checks else f"FAILED: {transport.failed_checks}")
        + f"; {transport.resent} sent again: "
        + ("same answers, nothing written" if transport.resend_same else "NOT the same"))


# -- the partner and the data ---------------------------------------------------------------------

def register_partner(engine: Engine) -> dict[str, Any]:
    """The benchmark hospital (MLLP from loopback as ``FACILITY``); returns its private JWK."""
    key = ec.generate_private_key(ec.SECP384R1())
    extra = {"kid": f"{PARTNER_ID}-1", "alg": "ES384"}
    private = {**json.loads(ECAlgorithm.to_jwk(key)), **extra}
    public = {**json.loads(ECAlgorithm.to_jwk(key.public_key())), **extra}
    partner = Partner.from_json({
        "id": PARTNER_ID, "type": "hospital", "name": HOSPITAL_NAME,
        "organization": fhir_id("organization", HOSPITAL), "client_id": PARTNER_ID,
        "patient_identifier_systems": [MRN_SYSTEM],
        "endpoints": {"mllp_sources": "127.0.0.1/32,::1/128", "hl7_facility": FACILITY},
        "jwks": {"keys": [public]}, "purposes": ["TREAT", "COC"],
        "resource_types": ["Patient", "Task", "ServiceRequest", "Organization"],
        "submits": ["Task", "ServiceRequest"]})
    with Session(engine) as session, session.begin():
        PartnerRegistry(session).put(partner)
    return private


def stored_patients(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [json.loads(content) for (content,) in connection.execute(text(
            "SELECT content FROM resource WHERE resource_type = 'Patient' AND NOT deleted "
            "ORDER BY id"))]


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


# -- the messages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """Someone a hospital writes about, as the hospital knows them."""

    family: str
    given: tuple[str, ...]
    birth_date: str
    gender: str
    phone: str | None       # digits only, 10
    address: dict[str, Any] | None  # line, city, state, postalCode
    mrn: str
    medicaid: str | None    # sent when the hospital names the consumer by it
    patient_id: str | None  # the consumer's Patient; None: nobody the agency knows


@dataclass(frozen=True)
class Message:
    """One message as sent: ``body`` is the Bundle's JSON or the HL7 v2 message (unframed)."""

    message_id: str
    kind: str               # IDENTIFIED | DEMOGRAPHIC | STRANGER | ADMIT
    patient_id: str | None  # the Patient it must be linked to; None: a new prospective one
    body: bytes


@dataclass(frozen=True)
class Batch:
    warmup: list[Message]
    measured: list[Message]
    profile: list[Message]


def prepare(patients: list[dict[str, Any]], sizes: tuple[int, int, int], rng: random.Random
            ) -> tuple[Batch, Batch]:
    """(FHIR, HL7 v2) batches of (warm-up, measured, profile) sizes: distinct message ids and
    encounters throughout, people taken in turn from shuffled pools (see ``People``)."""
    people = People(patients, rng)
    visits = itertools.count(1)
    now = datetime.now(HOSPITAL_ZONE).replace(microsecond=0)

    def batch(render: Callable[..., Message]) -> Batch:
        parts = []
        for size in sizes:
            parts.append([render(kind, people.next(kind), next(visits), rng, now)
                          for kind in _kinds(size, rng)])
        return Batch(*parts)

    return batch(fhir_message), batch(hl7_message)


def _kinds(n: int, rng: random.Random) -> list[str]:
    """``n`` message kinds in the proportions of ``MIX``, shuffled."""
    cycle = [kind for kind, share in MIX for _ in range(share)]
    kinds = [cycle[i % len(cycle)] for i in range(n)]
    rng.shuffle(kinds)
    return kinds


class People:
    """Whom the messages are about. Consumers come from shuffled pools, in turn (a pool that
    runs out starts again, far from the first use); each gets one MRN at the hospital. Before
    a person is used, the gateway's own scoring (patient_matching.score) over every stored
    Patient that shares a birth date or a family name with them confirms that the message
    can only mean what it should: exactly one certain match for a consumer, no candidate at
    all for a stranger (strangers are remembered, so no two of them resemble each other)."""

    def __init__(self, patients: list[dict[str, Any]], rng: random.Random) -> None:
        self.rng = rng
        self.index: dict[str, list[dict[str, Any]]] = {}
        for patient in patients:
            self._remember(patient)
        medicaid = [p for p in patients if _identifier(p, DEFAULT_MEDICAID_SYSTEM)]
        reachable = [p for p in patients if p.get("gender") in ("male", "female")
                     and _phone(p) and _address(p)]
        rng.shuffle(medicaid)
        rng.shuffle(reachable)
        # Admissions and Medicaid-named discharges take turns on one pool.
        self.pools = {IDENTIFIED: itertools.cycle(medicaid),
                      DEMOGRAPHIC: itertools.cycle(reachable)}
        self.sizes = {IDENTIFIED: len(medicaid), DEMOGRAPHIC: len(reachable)}
        self.mrns: dict[str, str] = {}
        self.strangers = 0

    def next(self, kind: str) -> Person:
        if kind == STRANGER:
            return self._stranger()
        pool = DEMOGRAPHIC if kind == DEMOGRAPHIC else IDENTIFIED
        for _ in range(self.sizes[pool]):
            person = self._consumer(next(self.pools[pool]), by_medicaid=pool == IDENTIFIED)
            if self._certain(person) == [person.patient_id]:
                return person
        raise InboundFailed(f"no consumer in the agency fits a {kind} message")

    def _consumer(self, patient: dict[str, Any], by_medicaid: bool) -> Person:
        name = patient["name"][0]
        mrn = self.mrns.setdefault(patient["id"], f"{len(self.mrns) + 4_000_001:08d}")
        return Person(name["family"], tuple(name.get("given", ())), patient["birthDate"],
                      patient.get("gender", "unknown"), _phone(patient), _address(patient),
                      mrn, _identifier(patient, DEFAULT_MEDICAID_SYSTEM) if by_medicaid
                      else None, patient["id"])

    def _stranger(self) -> Person:
        rng = self.rng
        for _ in range(1000):
            gender = rng.choice(("female", "male"))
            born = datetime(1940, 1, 1) + timedelta(days=rng.randrange(68 * 365))
            self.strangers += 1
            person = Person(
                rng.choice(STRANGER_FAMILY), (rng.choice(STRANGER_GIVEN[gender]),),
                born.date().isoformat(), gender, f"313555{rng.randrange(10_000):04d}",
                {"line": [f"{rng.randrange(100, 9999)} {rng.choice(('Oak', 'Cedar'))} Ct"],
                 "city": "Detroit", "state": "MI", "postalCode": "48201"},
                f"{9_000_000 + self.strangers:08d}", None, None)
            if not self._candidates(person):
                self._remember(_probe(person) | {"id": f"stranger-{self.strangers}"})
                return person
        raise InboundFailed("could not make a stranger unlike everyone stored")

    def _candidates(self, person: Person, keys: set[str] | None = None
                    ) -> list[tuple[str, float]]:
        probe = _probe(person)
        found: dict[str, dict[str, Any]] = {}
        for key in _keys(probe) if keys is None else keys:
            for stored in self.index.get(key, ()):
                found[stored["id"]] = stored
        scores = [(pid, patient_matching.score(probe, stored, trusted_systems=TRUSTED)[0])
                  for pid, stored in found.items()]
        return [(pid, s) for pid, s in scores if s >= patient_matching.REVIEW]

    def _certain(self, person: Person) -> list[str]:
        # Certain takes a shared identifier, or the same birth date (and name): no need to
        # score everyone with the same family name.
        keys = {k for k in _keys(_probe(person)) if not k.startswith("family ")}
        return [pid for pid, s in self._candidates(person, keys)
                if s >= patient_matching.CERTAIN]

    def _remember(self, patient: dict[str, Any]) -> None:
        for key in _keys(patient):
            self.index.setdefault(key, []).append(patient)


def _probe(person: Person) -> dict[str, Any]:
    """The person as the gateway sees them once the hospital's identifiers are filed."""
    identifiers = [{"system": MRN_SYSTEM, "value": person.mrn}]
    if person.medicaid:
        identifiers.append({"system": DEFAULT_MEDICAID_SYSTEM, "value": person.medicaid})
    probe: dict[str, Any] = {
        "resourceType": "Patient", "identifier": identifiers,
        "name": [{"family": person.family, "given": list(person.given)}],
        "birthDate": person.birth_date, "gender": person.gender}
    if person.phone:
        probe["telecom"] = [{"system": "phone", "value": person.phone}]
    if person.address:
        probe["address"] = [person.address]
    return probe


def _keys(patient: dict[str, Any]) -> set[str]:
    """What the gateway's candidate searches look up: the birth date (and with day and month
    swapped), each family name whole and in parts; a shared Medicaid id."""
    keys = set()
    born = patient.get("birthDate") or ""
    if len(born) == 10:
        keys |= {f"born {born}", f"born {born[:5]}{born[8:]}-{born[5:7]}"}
    for name in patient.get("name", []):
        family = name.get("family") or ""
        keys.add(f"family {patient_matching.fold(family)}")
        keys |= {f"family {part}" for part in patient_matching._parts(family)}
    medicaid = _identifier(patient, DEFAULT_MEDICAID_SYSTEM)
    if medicaid:
        keys.add(f"medicaid {medicaid}")
    return keys


def _identifier(patient: dict[str, Any], system: str) -> str | None:
    return next((i["value"] for i in patient.get("identifier", [])
                 if i.get("system") == system and i.get("value")), None)


def _phone(patient: dict[str, Any]) -> str | None:
    for telecom in patient.get("telecom", []):
        digits = "".join(c for c in telecom.get("value", "") if c.isdigit())
        if telecom.get("system") in ("phone", "sms") and len(digits) == 10:
            return digits
    return None


def _address(patient: dict[str, Any]) -> dict[str, Any] | None:
    for address in patient.get("address", []):
        if address.get("line") and address.get("postalCode"):
            return {k: address[k] for k in ("line", "city", "state", "postalCode")
                    if address.get(k)}
    return None


@dataclass(frozen=True)
class Stay:
    """The hospital encounter a message reports."""

    number: str
    admitted: datetime
    discharged: datetime | None
    diagnoses: tuple[tuple[str, str], ...]


def _stay(visit: int, kind: str, rng: random.Random, now: datetime) -> Stay:
    discharged = now - timedelta(minutes=rng.randrange(30, 3 * 24 * 60))
    admitted = discharged - timedelta(hours=rng.randrange(30, 14 * 24))
    diagnoses = tuple(rng.sample(DIAGNOSES, rng.choice((1, 1, 2))))
    if kind == ADMIT:
        return Stay(f"V{visit:08d}", discharged, None, diagnoses)
    return Stay(f"V{visit:08d}", admitted, discharged, diagnoses)


# A Da Vinci Unsolicited Notification, shaped like the public example
# (davinci-discharge-notification-message-bundle-01): MessageHeader, Encounter, Patient, the
# sending hospital, its Location and attending Practitioner, and the encounter's Conditions.
HOSPITAL_ORGANIZATION = {
    "resourceType": "Organization", "active": True, "name": HOSPITAL_NAME,
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1588667638"}],
    "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                          "code": "prov"}]}],
    "address": [{"line": ["1200 E Michigan Ave"], "city": "Lansing", "state": "MI",
                 "postalCode": "48912"}]}
ATTENDING = {"resourceType": "Practitioner",
             "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1417940210"}],
             "name": [{"family": "Okafor", "given": ["Chidi"], "prefix": ["Dr."]}]}
ROUTINE_DISCHARGE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/nubc-UB92",
                                 "code": "1", "display": "Discharge to Home or Self Care "
                                                         "(Routine Discharge)"}],
                     "text": "Discharge to Home or Self Care (Routine Discharge)"}
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


def fhir_message(kind: str, person: Person, visit: int, rng: random.Random, now: datetime
                 ) -> Message:
    stay = _stay(visit, kind, rng, now)
    message_id = str(uuid.uuid4())
    urls = {name: f"urn:uuid:{uuid.uuid4()}" for name in
            ("encounter", "patient", "hospital", "location", "practitioner")}
    hospital = {"reference": urls["hospital"], "display": HOSPITAL_NAME.upper()}
    event = "admit" if kind == ADMIT else "discharge"
    header = {
        "resourceType": "MessageHeader", "id": message_id,
        "meta": {"profile": [f"http://hl7.org/fhir/us/davinci-alerts/StructureDefinition/"
                             f"{event}-notification-messageheader"]},
        "eventCoding": {"system": NOTIFICATION_EVENTS, "code": f"notification-{event}",
                        "display": f"{event.title()} Notification"},
        "destination": [{"name": "Great Lakes Regional CMH",
                         "endpoint": f"{PUBLIC_BASE_URL}/fhir/$process-message"}],
        "sender": hospital, "responsible": hospital,
        "author": {"reference": urls["practitioner"], "display": "Dr. Chidi Okafor"},
        "source": {"name": "Lansing Regional ADT", "software": "Epic",
                   "endpoint": "https://lansing-regional.example/fhir/notifications"},
        "focus": [{"reference": urls["encounter"]}],
    }
    encounter = {
        "resourceType": "Encounter",
        "identifier": [{"system": VISIT_SYSTEM, "value": stay.number}],
        "status": "in-progress" if kind == ADMIT else "finished",
        "class": {"system": f"{TERMINOLOGY}/v3-ActCode", "code": "IMP",
                  "display": "inpatient encounter"},
        "type": [{"text": "Inpatient psychiatry"}],
        "subject": {"reference": urls["patient"]},
        "period": {"start": stay.admitted.isoformat()},
        "participant": [{"individual": {"reference": urls["practitioner"]}}],
        "location": [{"location": {"reference": urls["location"]}}],
        "serviceProvider": hospital,
    }
    if stay.discharged:
        encounter["period"]["end"] = stay.discharged.isoformat()
        encounter["hospitalization"] = {"dischargeDisposition": ROUTINE_DISCHARGE}
    location = {"resourceType": "Location", "status": "active",
                "name": "Behavioral Health Unit 2",
                "managingOrganization": {"reference": urls["hospital"]}}
    entries = [(f"urn:uuid:{message_id}", header), (urls["encounter"], encounter),
               (urls["patient"], fhir_patient(person)), (urls["hospital"], HOSPITAL_ORGANIZATION),
               (urls["location"], location), (urls["practitioner"], ATTENDING),
               *((f"urn:uuid:{uuid.uuid4()}", _condition(code, display, stay, urls))
                 for code, display in stay.diagnoses)]
    bundle = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "message",
              "timestamp": (stay.discharged or stay.admitted).isoformat(),
              "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries]}
    return Message(message_id, kind, person.patient_id,
                   json.dumps(bundle, ensure_ascii=False).encode())


def _condition(code: str, display: str, stay: Stay, urls: dict[str, str]) -> dict[str, Any]:
    def coded(system: str, value: str) -> dict[str, Any]:
        return {"coding": [{"system": f"{TERMINOLOGY}/{system}", "code": value}]}

    return {"resourceType": "Condition",
            "clinicalStatus": coded("condition-clinical", "active"),
            "verificationStatus": coded("condition-ver-status", "confirmed"),
            "category": [coded("condition-category", "encounter-diagnosis")],
            "code": {"coding": [{"system": ICD10, "code": code, "display": display}],
                     "text": display},
            "subject": {"reference": urls["patient"]},
            "encounter": {"reference": urls["encounter"]},
            "recordedDate": stay.admitted.isoformat()}


def fhir_patient(person: Person) -> dict[str, Any]:
    mr = {"coding": [{"system": V2_0203, "code": "MR", "display": "Medical Record Number"}]}
    identifiers = [{"use": "usual", "type": mr, "system": MRN_SYSTEM, "value": person.mrn}]
    if person.medicaid:
        identifiers.append({"type": {"coding": [{"system": V2_0203, "code": "MA"}]},
                            "system": STATE_MEDICAID, "value": person.medicaid})
    patient: dict[str, Any] = {
        "resourceType": "Patient", "identifier": identifiers,
        "name": [{"use": "official", "family": person.family, "given": list(person.given)}],
        "gender": person.gender, "birthDate": person.birth_date}
    if person.phone:
        patient["telecom"] = [{"system": "phone", "use": "home",
                               "value": f"({person.phone[:3]}) {person.phone[3:6]}-"
                                        f"{person.phone[6:]}"}]
    if person.address:
        patient["address"] = [{"use": "home", **person.address}]
    return patient


def hl7_message(kind: str, person: Person, visit: int, rng: random.Random, now: datetime
                ) -> Message:
    """ADT^A03 (discharge) or ADT^A01 (admission), HL7 v2.5.1, UTF-8, as the fixtures'
    samples are laid out."""
    stay = _stay(visit, kind, rng, now)
    trigger = "A01" if kind == ADMIT else "A03"
    control_id = f"GLRH{visit:010d}"
    sent = _ts(stay.discharged or stay.admitted)
    identifiers = [f"{person.mrn}^^^{FACILITY}&{MRN_OID}&ISO^MR"]
    if person.medicaid:
        identifiers.append(f"{person.medicaid}^^^MIMEDICAID^MA")
    given = [*(_escaped(g) for g in person.given[:2]), "", ""]
    address = person.address or {}
    pid = {1: "1", 3: "~".join(identifiers),
           5: f"{_escaped(person.family)}^{given[0]}^{given[1]}^^^^L",
           7: person.birth_date.replace("-", ""),
           8: {"male": "M", "female": "F"}.get(person.gender, "U")}
    if address:
        pid[11] = "^".join([_escaped(address["line"][0]), "", _escaped(address.get("city", "")),
                            address.get("state", ""), address.get("postalCode", ""), "USA",
                            "H"])
    if person.phone:
        pid[13] = f"^PRN^PH^^1^{person.phone[:3]}^{person.phone[3:]}"
    pv1 = {1: "1", 2: "I", 3: f"BH2^{200 + visit % 40}^A^{FACILITY}",
           7: "4471^OKAFOR^CHIDI^^^DR", 10: "PSY", 14: "1",
           19: f"{stay.number}^^^{FACILITY}&{VISIT_OID}&ISO^VN", 44: _ts(stay.admitted)}
    if stay.discharged:
        pv1 |= {36: "01", 45: _ts(stay.discharged)}
    segments = [
        f"MSH|^~\\&|EPIC|{FACILITY}|CMHGW|GLRCMH|{sent}||ADT^{trigger}^ADT_{trigger}|"
        f"{control_id}|P|2.5.1|||AL|NE||UNICODE UTF-8",
        _segment("EVN", {1: trigger, 2: sent}), _segment("PID", pid), _segment("PV1", pv1),
        *(_segment("DG1", {1: str(n), 3: f"{code}^{_escaped(display)}^I10",
                           5: _ts(stay.admitted)[:8], 6: "A" if n == 1 else "F"})
          for n, (code, display) in enumerate(stay.diagnoses, 1))]
    return Message(control_id, kind, person.patient_id, "\r".join(segments).encode())


def _segment(name: str, fields: dict[int, str]) -> str:
    """A segment from its fields by number (the others empty)."""
    return "|".join([name, *(fields.get(n, "") for n in range(1, max(fields) + 1))])


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S%z")


def _escaped(value: str) -> str:
    """HL7 v2 escape sequences for the delimiters (escape character first)."""
    for char, escape in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"),
                         ("~", "\\R\\")):
        value = value.replace(char, escape)
    return value


# -- the senders ----------------------------------------------------------------------------------

class Sender(Protocol):
    def send(self, body: bytes) -> tuple[bytes, str]:
        """The answer, and why it is not an acceptance ("" when it is)."""

    def close(self) -> None: ...


class AccessToken:
    """The partner's SMART Backend Services access token, shared by the sender threads and
    fetched again when four fifths of its lifetime have passed."""

    def __init__(self, port: int, private_jwk: dict[str, Any]) -> None:
        self.port = port
        self.private_jwk = private_jwk
        self._lock = threading.Lock()
        self._value = ""
        self._renew_at = 0.0

    def header(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                assertion = client_assertion(self.private_jwk, PARTNER_ID,
                                             token_endpoint(PUBLIC_BASE_URL))
                answer = requests.post(f"http://{HOST}:{self.port}/auth/token",
                                       data=token_request(assertion, SCOPE), timeout=30)
                if answer.status_code != 200:
                    raise InboundFailed(f"no access token: {answer.status_code} "
                                        f"{answer.text[:300]}")
                body = answer.json()
                self._value = f"Bearer {body['access_token']}"
                self._renew_at = time.monotonic() + 0.8 * float(body["expires_in"])
            return self._value


# Each FHIR message goes on a connection of its own, as it reaches gunicorn behind a reverse
# proxy (nginx talks HTTP/1.0 to its upstream by default: a connection per request). With four
# long-lived keep-alive connections instead, the figure depended on how the kernel shared them
# among gunicorn's worker processes (each worker's requests share one GIL): 41 to 57
# messages/s on the same code, run after run. MLLP connections are long-lived by nature and
# stay so (``MllpSender``).
CONNECTION_PER_MESSAGE = True


class FhirSender:
    """One hospital sender: a ``requests.Session`` posting to ``$process-message``, a new
    connection per message (``CONNECTION_PER_MESSAGE``)."""

    def __init__(self, port: int, token: AccessToken) -> None:
        self.url = f"http://{HOST}:{port}/fhir/$process-message"
        self.token = token
        self.session = requests.Session()

    def send(self, body: bytes) -> tuple[bytes, str]:
        headers = {"Authorization": self.token.header(), "Content-Type": FHIR_JSON,
                   "Accept": FHIR_JSON}
        if CONNECTION_PER_MESSAGE:
            headers["Connection"] = "close"
        answer = self.session.post(self.url, data=body, headers=headers, timeout=(5.0, 60.0))
        return answer.content, _fhir_problem(answer.status_code, answer.content)

    def close(self) -> None:
        self.session.close()


def _fhir_problem(status: int, answer: bytes) -> str:
    try:
        code = json.loads(answer)["entry"][0]["resource"]["response"]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP {status}: {answer[:300]!r}"
    return "" if status == 200 and code == "ok" else f"HTTP {status}, {code}: {answer[:600]!r}"


class MllpSender:
    """One hospital connection: an MLLP client, one message and its ACK at a time."""

    def __init__(self, port: int) -> None:
        self.client = MllpClient(HOST, port, timeout=60.0)

    def send(self, body: bytes) -> tuple[bytes, str]:
        answer = self.client.send(body)
        return answer, _ack_problem(answer)

    def close(self) -> None:
        self.client.close()


def _ack_problem(answer: bytes) -> str:
    segments = answer.decode("utf-8", errors="replace").replace("\n", "\r").split("\r")
    msa = next((s for s in segments if s.startswith("MSA")), "")
    code = msa[4:].split(msa[3:4] or "|")[0] if len(msa) > 4 else ""
    return "" if code == "AA" else f"MSA-1 {code or '(none)'}: {answer[:600]!r}"


@dataclass(frozen=True)
class Sent:
    message: Message
    seconds: float    # from sending to the whole answer
    finished: float   # time.perf_counter() at the answer
    answer: bytes
    problem: str      # "" when accepted


@dataclass
class SendRun:
    warmup: list[Sent]
    measured: list[Sent]
    seconds: float    # from the measured start to the last measured answer
    cpu: tuple[float, ...] = ()  # what ``cpu()`` grew by meanwhile


class _Feed:
    """Messages for the sender threads, one at a time, until none are left or the deadline."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self._messages = iter(messages)
        self._lock = threading.Lock()
        self.deadline = float("inf")

    def next(self) -> Message | None:
        if time.perf_counter() >= self.deadline:
            return None
        with self._lock:
            return next(self._messages, None)


def send_all(open_sender: Callable[[], Sender], warmup: Sequence[Message],
             measured: Sequence[Message], senders: int, timeout: float,
             cpu: Callable[[], tuple[float, ...]] = tuple) -> SendRun:
    """``senders`` threads, each with a connection of its own, send the warm-up messages,
    wait for each other, then the measured ones (each phase ends after ``timeout`` s).
    ``cpu()`` is read as the measured phase starts and after it ends."""
    feeds = (_Feed(warmup), _Feed(measured))
    started: list[float] = []
    cpu_at_start: list[tuple[float, ...]] = []

    def start_measuring() -> None:
        cpu_at_start.append(cpu())
        started.append(time.perf_counter())
        feeds[1].deadline = started[0] + timeout

    barrier = threading.Barrier(senders, action=start_measuring)
    done: list[tuple[list[Sent], list[Sent]]] = []
    failures: list[str] = []

    def work() -> None:
        phases: tuple[list[Sent], list[Sent]] = ([], [])
        try:
            sender = open_sender()
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(f"a sender could not connect: {type(error).__name__}: {error}")
            barrier.abort()
            return
        try:
            for phase, feed in enumerate(feeds):
                if phase == 1:
                    barrier.wait(timeout=timeout + 120)
                while (message := feed.next()) is not None:
                    sent, sender = _send_one(sender, message, open_sender)
                    phases[phase].append(sent)
        except threading.BrokenBarrierError:
            failures.append("the senders could not start together")
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(f"a sender failed: {type(error).__name__}: {error}")
            barrier.abort()
        finally:
            sender.close()
            done.append(phases)

    feeds[0].deadline = time.perf_counter() + timeout
    threads = [threading.Thread(target=work, name=f"sender-{n + 1}", daemon=True)
               for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * timeout + 300)
    if failures or any(thread.is_alive() for thread in threads):
        raise InboundFailed(failures[0] if failures else "a sender thread did not finish")
    used = tuple(end - start for start, end in zip(cpu_at_start[0], cpu(), strict=True))
    warm = [s for phases in done for s in phases[0]]
    timed = sorted((s for phases in done for s in phases[1]), key=lambda s: s.finished)
    seconds = timed[-1].finished - started[0] if timed else 0.0
    return SendRun(warm, timed, seconds, used)


def group_cpu(pgid: int) -> float:
    """CPU seconds (user and system) used so far by the processes of process group
    ``pgid`` (a server and its workers); Linux /proc, NaN elsewhere."""
    ticks = 0
    try:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:  # pgrp, after state and ppid
                    ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return float("nan")
    return ticks / os.sysconf("SC_CLK_TCK")


def _send_one(sender: Sender, message: Message, open_sender: Callable[[], Sender]
              ) -> tuple[Sent, Sender]:
    """Send one message; a broken connection is opened again for the next one."""
    began = time.perf_counter()
    try:
        answer, problem = sender.send(message.body)
    except (OSError, requests.RequestException, ConnectionError) as error:
        ended = time.perf_counter()
        sender.close()
        return (Sent(message, ended - began, ended, b"", f"{type(error).__name__}: {error}"),
                open_sender())
    ended = time.perf_counter()
    return Sent(message, ended - began, ended, answer, problem), sender


@contextmanager
def mllp_listener(database_url: str, workdir: Path) -> Iterator[tuple[int, int, Path]]:
    """``gateway mllp`` on a free loopback port, accepting connections on entry: (port, pid
    (it leads its own process group), log)."""
    port = free_port()
    env = _clean_env(workdir)
    env.update(GATEWAY_DATABASE_URL=database_url, GATEWAY_BASE_URL=PUBLIC_BASE_URL)
    log_path = workdir / f"mllp-{port}.log"
    command = [*gateway_command(), "mllp", "--host", HOST, "--port", str(port),
               "--workers", str(SERVER_WORKERS)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"gateway mllp exited with status {process.returncode}: "
                                   f"{_tail(log_path)}")
            with suppress(OSError), socket.create_connection((HOST, port), timeout=2):
                break
            if time.monotonic() > deadline:
                raise ServerFailed(f"gateway mllp not listening after 90s: {_tail(log_path)}")
            time.sleep(0.2)
        yield port, process.pid, log_path
    finally:
        stop(process)


# -- the checks -----------------------------------------------------------------------------------

def check(transport: TransportResults, sent: list[Sent], engine: Engine) -> None:
    """What the database holds for this transport's messages (see the module docstring)."""
    failed = transport.failed_checks
    with engine.connect() as connection:
        rows = {message_id: (outcome, patient_id, task_id)
                for message_id, outcome, patient_id, task_id in connection.execute(text(
                    "SELECT message_id, outcome, patient_id, task_id FROM inbound_message "
                    "WHERE partner_id = :partner AND source = :source"),
                    {"partner": PARTNER_ID, "source": transport.source})}
        reviews = int(connection.execute(text(
            "SELECT count(*) FROM match_review WHERE partner_id = :partner"),
            {"partner": PARTNER_ID}).scalar_one())
        discharges = [s.message for s in sent if s.message.kind != ADMIT]
        task_ids = {rows[m.message_id][2] for m in discharges
                    if m.message_id in rows and rows[m.message_id][2]}
        stored_tasks = _existing(connection, "Task", task_ids)
        strangers = [rows[m.message_id][1] for m in discharges
                     if m.kind == STRANGER and m.message_id in rows]
        prospective = _existing(connection, "Patient", {p for p in strangers if p})
    transport.rows = len(rows)
    transport.outcomes = dict(Counter(outcome for outcome, _, _ in rows.values()))
    transport.discharges = len(discharges)
    transport.referral_tasks = len(task_ids & stored_tasks)
    if len(rows) != len(sent) or {s.message.message_id for s in sent} != set(rows):
        failed.append(f"{len(rows)} inbound_message rows for {len(sent)} messages sent")
    wrong = [m.message_id for m in (s.message for s in sent) if m.message_id in rows
             and rows[m.message_id][0] != EXPECTED_OUTCOME[m.kind]]
    if wrong:
        failed.append(f"{len(wrong)} messages with another outcome than expected, e.g. "
                      f"{wrong[0]}: {rows[wrong[0]][0]}")
    misfiled = [m.message_id for m in (s.message for s in sent) if m.message_id in rows
                and m.patient_id is not None and rows[m.message_id][1] != m.patient_id]
    if misfiled:
        failed.append(f"{len(misfiled)} messages linked to another Patient than the consumer "
                      f"they name, e.g. {misfiled[0]}")
    if len(set(strangers)) != len(strangers) or len(prospective) != len(strangers):
        failed.append(f"{len(strangers)} discharges of strangers made {len(prospective)} "
                      f"prospective Patients ({len(set(strangers))} distinct)")
    if transport.referral_tasks != len(discharges):
        failed.append(f"{transport.referral_tasks} referral Tasks stored for "
                      f"{len(discharges)} discharge messages")
    if reviews:
        failed.append(f"{reviews} match reviews opened")


def _existing(connection: Any, resource_type: str, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    found = connection.execute(text(
        "SELECT id FROM resource WHERE resource_type = :type AND NOT deleted "
        "AND id = ANY(:ids)"), {"type": resource_type, "ids": sorted(ids)})
    return {resource_id for (resource_id,) in found}


def resend(transport: TransportResults, originals: list[Sent],
           open_sender: Callable[[], Sender], engine: Engine) -> None:
    """The given messages again, on a new connection: the same answers, and nothing written
    but each repeat's own AuditEvent (every inbound message is audited, a repeat too:
    gateway/workflows/inbound_messages.py ``note_repeat``)."""
    before = _footprint(engine)
    same = True
    sender = open_sender()
    try:
        for original in originals:
            answer, _ = sender.send(original.message.body)
            same = same and _same_answer(original.answer, answer)
    finally:
        sender.close()
    after = _footprint(engine)
    accounted = len(originals)
    expected = {**before, **{key: before[key] + accounted for key in (
        "journal (AuditEvent)", "audit chain events")}}
    transport.resent = len(originals)
    transport.resend_same = same and after == expected
    if not same:
        transport.failed_checks.append(f"sending {len(originals)} messages again got other "
                                       f"answers")
    if after != expected:
        changed = {k: f"{before[k]} -> {after[k]}" for k in after if after[k] != before[k]}
        transport.failed_checks.append(f"sending {len(originals)} messages again wrote rows "
                                       f"({accounted} AuditEvents expected): {changed}")


def _footprint(engine: Engine) -> dict[str, int]:
    """Rows per table; AuditEvents (the journal) and the events the audit chain covers
    counted apart."""
    with engine.connect() as connection:
        counts = {table: int(connection.execute(text(
            f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("inbound_message", "match_review", "delivery", "resource",
                          "resource_version")}
        counts["journal (AuditEvent)"] = int(connection.execute(text(
            "SELECT count(*) FROM journal WHERE resource_type = 'AuditEvent'")).scalar_one())
        counts["audit chain events"] = int(connection.execute(text(
            "SELECT coalesce(max(total), 0) FROM audit_batch")).scalar_one())
    return counts


def _same_answer(first: bytes, again: bytes) -> bool:
    if first.startswith(b"{"):
        return json.loads(first) == json.loads(again)
    return first == again


# -- where the time goes --------------------------------------------------------------------------

def _profile(transport: TransportResults, messages: list[Message], database_url: str,
             private_jwk: dict[str, Any], log: Log) -> Profile:
    """The messages taken in one after another in this process under cProfile: through Flask's
    test client (FHIR) or the MLLP listener's handler (HL7 v2). The title says how many SQL
    statements and commits each took (the request's own AuditEvent's included), and this
    process's CPU time (cProfile's overhead included)."""
    from sqlalchemy import event

    from gateway.app import create_app
    from gateway.config import Config
    from gateway.workflows.hl7_messages import receive_hl7

    app = create_app(Config(database_url=database_url, base_url=PUBLIC_BASE_URL))
    state = app.extensions["gateway"]
    try:
        if transport.source == "fhir":
            client = app.test_client()
            assertion = client_assertion(private_jwk, PARTNER_ID,
                                         token_endpoint(PUBLIC_BASE_URL))
            token = client.post("/auth/token", data=token_request(assertion, SCOPE))
            headers = {"Authorization": f"Bearer {token.get_json()['access_token']}",
                       "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}

            def take(body: bytes) -> str:
                answer = client.post("/fhir/$process-message", data=body, headers=headers)
                return _fhir_problem(answer.status_code, answer.get_data())
            where = "Flask test client, no gunicorn"
        else:
            def take(body: bytes) -> str:
                return _ack_problem(receive_hl7(state, body, peer=HOST))
            where = "the MLLP handler `receive_hl7`, no sockets"
        counted = Counter[str]()
        listeners: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", lambda *_: counted.update(["statements"])),
            ("commit", lambda *_: counted.update(["commits"]))]
        for name, listener in listeners:
            event.listen(state.engine, name, listener)
        profiler = cProfile.Profile()
        began, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        problems = [problem for message in messages if (problem := take(message.body))]
        profiler.disable()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        for name, listener in listeners:
            event.remove(state.engine, name, listener)
    finally:
        state.close()
    if problems:
        raise InboundFailed(f"{len(problems)} profiled messages not accepted: {problems[0]}")
    log(f"inbound: profiled {len(messages):,} {transport.name} messages in {elapsed:.1f}s")
    n = len(messages)
    return _summarize(f"PostgreSQL: {transport.name}, one message at a time in process "
                      f"({where}; per message {counted['statements'] / n:.0f} SQL "
                      f"statements, {counted['commits'] / n:.1f} commits, "
                      f"{cpu / n * 1e3:.0f} ms CPU)",
                      pstats.Stats(profiler), n, elapsed)


# -- in `make bench`, and just this part ----------------------------------------------------------

def run_section(quick: bool, postgres_url: str, workdir: Path, log: Log, failures: list[str]
                ) -> InboundResults | None:
    """The section as `make bench` runs it: the plan's sizes, in a schema of its own."""
    import traceback

    from benchmarks.plan import FULL, QUICK

    plan = QUICK if quick else FULL
    try:
        with postgres_database(postgres_url) as database:
            return measure(database.url, plan.inbound_consumers, plan.inbound_messages,
                           plan.inbound_warmup, plan.inbound_senders, workdir, log,
                           plan.inbound_timeout, plan.inbound_profile)
    except Exception as error:  # noqa: BLE001 - reported in RESULTS.md
        log(f"inbound messages: FAILED: {error}")
        traceback.print_exc()
        failures.append(f"inbound messages: {type(error).__name__}: {error}")
        return None


def main(argv: list[str] | None = None) -> int:
    from benchmarks.databases import POSTGRES_URL
    from benchmarks.plan import FULL, QUICK

    parser = argparse.ArgumentParser(prog="python -m benchmarks.inbound_messages",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the --quick plan's sizes")
    parser.add_argument("--messages", type=int, help="measured messages per transport")
    parser.add_argument("--profile", type=int,
                        help="then profile this many more per transport (default: the "
                             "plan's, and only when a target is missed)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gateway-inbound-") as scratch, \
            postgres_database(args.postgres_url) as database:
        results = measure(database.url, plan.inbound_consumers,
                          args.messages or plan.inbound_messages, plan.inbound_warmup,
                          plan.inbound_senders, Path(scratch), log, plan.inbound_timeout,
                          plan.inbound_profile if args.profile is None else args.profile,
                          profile_always=args.profile is not None)
    print(json.dumps(results.raw(), indent=1))
    from benchmarks.report import inbound_section, profile_section

    print(inbound_section(results))
    for transport in results.transports:
        if transport.profile is not None:
            print(profile_section(transport.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())

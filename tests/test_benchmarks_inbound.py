"""The inbound hospital messages benchmark (benchmarks/inbound_messages.py) at a tiny scale, on
PostgreSQL (GATEWAY_TEST_DATABASE_URL; skipped without it): a real `gateway serve` and
`gateway mllp`, four senders each, every message taken in as it should be; and the messages
it makes are what the gateway's own parsers read."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks import inbound_messages as inbound
from benchmarks.plan import FULL, QUICK
from benchmarks.report import inbound_section
from gateway.adapters import davinci, hl7v2
from gateway.adapters.adt_v2 import event_from_v2
from gateway.db.engine import make_engine, upgrade
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.workflows import patient_matching
from tests.conftest import EXTRA_URL, throwaway_schema


@pytest.mark.skipif(not EXTRA_URL or not EXTRA_URL.startswith("postgresql"),
                    reason="needs GATEWAY_TEST_DATABASE_URL (PostgreSQL)")
def test_both_transports_take_every_message_once(tmp_path: Path) -> None:
    with throwaway_schema("inbound") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        messages: list[str] = []
        results = inbound.measure(url, consumers=40, messages=24, warmup=4, senders=4,
                                  workdir=tmp_path, log=messages.append, timeout=120.0,
                                  profile_messages=3, profile_always=True)
    assert results.patients == 40
    assert [t.source for t in results.transports] == ["fhir", "hl7v2"]
    for transport in results.transports:
        assert transport.errors == 0, transport.first_error
        assert transport.failed_checks == []
        assert transport.sent == 24 and transport.rows == 28
        assert transport.latency.count == 24 and transport.rate > 0
        # The mix of every 20 messages, then 4 more; the warm-up's 4 are all discharges.
        assert transport.kinds == {"identified": 16, "demographic": 3, "stranger": 3,
                                   "admit": 2}
        assert transport.outcomes == {"referral": 26, "care-team-notified": 2}
        assert transport.referral_tasks == transport.discharges == 26
        assert transport.resent == inbound.RESEND and transport.resend_same
        assert transport.verified
        assert transport.profile is not None and transport.profile.calls == 3
    assert any("checks passed" in message for message in messages), messages
    section = inbound_section(results)
    assert "| FHIR $process-message | 24 |" in section and "| HL7 v2 over MLLP | 24 |" in section
    assert json.loads(json.dumps(results.raw()))["transports"][1]["name"] == "HL7 v2 over MLLP"


def patients(n: int) -> list[dict]:
    """Stored Patients as the agency's import makes them (the fields matching reads)."""
    rng = random.Random(5)
    found = []
    for i in range(n):
        found.append({
            "resourceType": "Patient", "id": f"p{i}",
            "identifier": [{"system": DEFAULT_MEDICAID_SYSTEM, "value": f"{1000000 + i}"}],
            "name": [{"family": rng.choice(("Okafor", "Chen", "García")),
                      "given": [rng.choice(("Maria", "James", "Wei", "Elena"))]}],
            "birthDate": f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 9)}-1{i % 9}",
            "gender": rng.choice(("male", "female")),
            "telecom": [{"system": "phone", "value": f"517-555-{i:04d}"}],
            "address": [{"line": [f"{i} Elm St"], "city": "Lansing", "state": "MI",
                         "postalCode": "48912"}]})
    return found


def test_the_messages_read_as_the_gateway_reads_them() -> None:
    stored = patients(60)
    fhir, hl7 = inbound.prepare(stored, (2, 20, 0), random.Random(1))
    assert len(fhir.warmup) == len(hl7.warmup) == 2 and len(fhir.measured) == 20
    sent = [*fhir.warmup, *fhir.measured, *hl7.warmup, *hl7.measured]
    assert len({m.message_id for m in sent}) == len(sent)
    encounters = set()
    for message in [*fhir.warmup, *fhir.measured]:
        event = davinci.event_from(json.loads(message.body)).event
        assert event.message_id == message.message_id
        assert event.kind == ("admit" if message.kind == inbound.ADMIT else "discharge")
        encounters.add(event.encounter["identifier"][0]["value"])
        systems = {i["system"] for i in event.patient["identifier"]}
        assert (inbound.STATE_MEDICAID in systems) == (message.kind in (inbound.IDENTIFIED,
                                                                        inbound.ADMIT))
    for message in [*hl7.warmup, *hl7.measured]:
        event = event_from_v2(hl7v2.parse(message.body))
        assert event.message_id == message.message_id
        assert event.kind == ("admit" if message.kind == inbound.ADMIT else "discharge")
        assert event.encounter["identifier"][0]["value"] not in encounters
        encounters.add(event.encounter["identifier"][0]["value"])
        if message.patient_id is not None:  # the consumer's own demographics, as sent
            consumer = next(p for p in stored if p["id"] == message.patient_id)
            assert event.patient["birthDate"] == consumer["birthDate"]
            assert event.patient["name"][0]["family"] == consumer["name"][0]["family"]
    assert len(encounters) == 44


def test_strangers_resemble_nobody_and_consumers_only_themselves() -> None:
    stored = patients(30)
    people = inbound.People(stored, random.Random(2))
    strangers = [people.next(inbound.STRANGER) for _ in range(200)]
    probes = [inbound._probe(s) for s in strangers]
    for n, probe in enumerate(probes):
        for other in [*stored, *probes[:n]]:
            value, _ = patient_matching.score(probe, other, trusted_systems=inbound.TRUSTED)
            assert value < patient_matching.REVIEW
    for kind in (inbound.IDENTIFIED, inbound.DEMOGRAPHIC, inbound.ADMIT):
        person = people.next(kind)
        own = next(p for p in stored if p["id"] == person.patient_id)
        value, _ = patient_matching.score(inbound._probe(person), own,
                                          trusted_systems=inbound.TRUSTED)
        assert value >= patient_matching.CERTAIN
        assert (person.medicaid is None) == (kind == inbound.DEMOGRAPHIC)


def test_plans_have_the_inbound_sizes() -> None:
    assert FULL.inbound_senders == QUICK.inbound_senders == 4
    assert FULL.inbound_consumers == 10_000
    assert 0 < QUICK.inbound_messages < FULL.inbound_messages

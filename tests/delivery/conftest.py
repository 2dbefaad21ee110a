"""Delivery fixtures: a loopback partner FHIR server, a small consented world, a worker whose
clock the test moves."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.auth import SYSTEM
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.worker import DeliveryWorker, WorkerSettings
from gateway.demo.partner_server import ReceivingFhirServer
from gateway.partners.registry import Partner, PartnerRegistry
from tests.partners.conftest import demo_agency, get_token, partners  # noqa: F401 - fixtures

PCP_ORG = "org-pcp-test"
TODAY = datetime.now(UTC).date()


@pytest.fixture
def receiver() -> Iterator[ReceivingFhirServer]:
    with ReceivingFhirServer("pcp-test") as server:
        yield server


def register(app, partner: dict[str, Any]) -> Partner:
    state = app.extensions["gateway"]
    with state.session_factory() as session, session.begin():
        PartnerRegistry(session).put(Partner.from_json(partner))
    return Partner.from_json(partner)


def pcp_partner(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"id": "pcp-test", "type": "physical-health", "name": "Test Clinic",
            "organization": PCP_ORG, "endpoints": {"fhir_base": base_url},
            "purposes": ["TREAT"],
            "patient_identifier_systems": ["https://clinic.example/mrn"],
            "resource_types": ["Patient", "CarePlan", "CareTeam", "Goal", "ServiceRequest",
                               "Practitioner", "Organization"], **extra}


def consent(patient_id: str, organization: str, purpose: str = "TREAT",
            status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Consent", "id": f"consent-{patient_id}-{organization}",
        "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "policyRule": {"coding": [{  # ppc-1 (R4): a policy or a policyRule
            "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
            "code": "hipaa-auth"}]},
        "patient": {"reference": f"Patient/{patient_id}"},
        "provision": {
            "type": "permit",
            "period": {"start": (TODAY - timedelta(days=10)).isoformat(),
                       "end": (TODAY + timedelta(days=300)).isoformat()},
            "actor": [{"role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP"}]}, "reference": {"reference": f"Organization/{organization}"}}],
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                         "code": purpose}],
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": t}
                      for t in ("Patient", "CarePlan", "CareTeam", "Goal", "ServiceRequest",
                                "Practitioner", "Organization")]}}


def consumer_records(patient_id: str) -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{patient_id}"}
    return [
        {"resourceType": "Patient", "id": patient_id, "name": [{"family": patient_id}],
         "identifier": [{"system": "https://clinic.example/mrn", "value": f"MRN-{patient_id}"},
                        {"system": "https://school.example/student", "value": "S-1"}]},
        {"resourceType": "CareTeam", "id": f"team-{patient_id}", "status": "active",
         "subject": subject,
         "participant": [{"member": {"reference": "Practitioner/csm-1"}}]},
        {"resourceType": "Goal", "id": f"goal-{patient_id}", "lifecycleStatus": "active",
         "description": {"text": "Keep my apartment"}, "subject": subject},
        {"resourceType": "CarePlan", "id": f"plan-{patient_id}", "status": "active",
         "intent": "plan", "subject": subject, "careTeam": [{"reference":
                                                            f"CareTeam/team-{patient_id}"}],
         "goal": [{"reference": f"Goal/goal-{patient_id}"}]},
    ]


def put(app, resource: dict[str, Any]) -> None:
    with app.extensions["gateway"].writing(SYSTEM) as repository:
        repository.update(resource["resourceType"], resource["id"], resource)


@pytest.fixture
def world(app, receiver) -> dict[str, Any]:
    """Partner pcp-test (FHIR endpoint: ``receiver``); consumer p-yes consented to it, p-no
    did not; both have a plan, a care team and a goal."""
    partner = register(app, pcp_partner(receiver.base_url))
    put(app, {"resourceType": "Organization", "id": PCP_ORG, "name": "Test Clinic"})
    put(app, {"resourceType": "Practitioner", "id": "csm-1", "name": [{"family": "Casey"}],
              "telecom": [{"system": "phone", "value": "555-0100"}]})
    for patient_id in ("p-yes", "p-no"):
        for resource in consumer_records(patient_id):
            put(app, resource)
    put(app, consent("p-yes", PCP_ORG))
    return {"partner": partner}


class Clock:
    """Real time, plus however far the test moved it on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_worker(app, clock):
    def _make(**settings: Any) -> DeliveryWorker:
        settings.setdefault("read_timeout", 2.0)
        settings.setdefault("connect_timeout", 1.0)
        settings.setdefault("policy", RetryPolicy(max_attempts=4, base_seconds=2.0))
        return DeliveryWorker(app.extensions["gateway"], "test-worker",
                              WorkerSettings(**settings), clock=clock)
    return _make

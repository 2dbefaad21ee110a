"""Small, valid FHIR R4 resources for tests; keyword arguments override elements."""
from __future__ import annotations

from typing import Any

AGENCY = "https://fhir-care-gateway.example/agency-id/consumer"


def patient(**overrides: Any) -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": AGENCY, "value": "C-1"}],
            "name": [{"family": "Martínez", "given": ["Elena"]}],
            "gender": "female", "birthDate": "1988-04-12", **overrides}


def practitioner(**overrides: Any) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"family": "Okafor", "given": ["Adaeze"]}],
            **overrides}


def care_team(patient_id: str, **overrides: Any) -> dict[str, Any]:
    return {"resourceType": "CareTeam", "status": "active",
            "subject": {"reference": f"Patient/{patient_id}"}, **overrides}


def care_plan(patient_id: str, **overrides: Any) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": "2026-02-01"}, **overrides}


def task(patient_id: str, **overrides: Any) -> dict[str, Any]:
    return {"resourceType": "Task", "status": "requested", "intent": "order",
            "for": {"reference": f"Patient/{patient_id}"}, **overrides}

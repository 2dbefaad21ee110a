"""Operators find recorded disclosures at /fhir/AuditEvent (INTERFACE.md "Audit trail")."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .builders import operator_disclosure, partner_disclosure, record_events

DICOM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture
def disclosures(app: Flask) -> dict[str, str]:
    """Three recorded events by name: their AuditEvent ids."""
    names = ["cedar-read", "school-denied", "operator-import"]
    ids = record_events(app.extensions["gateway"], [
        partner_disclosure(patients=["C-1001"], resources=["CareTeam/ct-1001"],
                           recorded=datetime(2026, 1, 10, 9, 0, tzinfo=UTC)),
        partner_disclosure(requester_name="school-walnut", requester_organization="ORG-SCHOOL",
                           purpose="HLEGAL", interaction="delivery", action="C",
                           outcome="deny", patients=["C-1002"], resources=[],
                           recorded=datetime(2026, 1, 20, 9, 0, tzinfo=UTC)),
        operator_disclosure(interaction="inbound", action="C", patients=["C-1001"],
                            resources=["Task/t-1"],
                            recorded=datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
    ])
    return dict(zip(names, ids, strict=True))


def found(client: FlaskClient, auth: dict[str, str], query: str) -> set[str]:
    response = client.get(f"/fhir/AuditEvent?{query}", headers=auth)
    assert response.status_code == 200, response.get_json()
    bundle = response.get_json()
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


@pytest.mark.parametrize(("query", "expected"), [
    ("patient=Patient/C-1001", {"cedar-read", "operator-import"}),
    ("patient=C-1002", {"school-denied"}),
    ("agent=Organization/ORG-SCHOOL", {"school-denied"}),
    ("agent=Organization/ORG-PCP-CEDAR", {"cedar-read"}),
    ("entity=CareTeam/ct-1001", {"cedar-read"}),
    ("entity=Task/t-1", {"operator-import"}),
    ("type=rest", {"cedar-read"}),
    (f"type={DICOM}|110106", {"school-denied"}),
    (f"type={DICOM}|110107", {"operator-import"}),
    ("subtype=search-type", {"cedar-read"}),
    ("outcome=4", {"school-denied"}),
    ("outcome=0", {"cedar-read", "operator-import"}),
    ("date=ge2026-01-15", {"school-denied", "operator-import"}),
    ("date=lt2026-01-15", {"cedar-read"}),
    ("patient=Patient/C-1001&date=ge2026-02-01", {"operator-import"}),
    ("agent-name=operator-key-1", {"operator-import"}),
])
def test_operators_search_the_log(client, auth, disclosures, query, expected):
    assert found(client, auth, query) == {disclosures[name] for name in expected}


def test_searching_needs_a_token(client, disclosures):
    assert client.get("/fhir/AuditEvent?outcome=4").status_code == 401

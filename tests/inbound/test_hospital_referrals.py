"""A hospital's referral posted as a transaction of Task + ServiceRequest (Gravity / BSeR
style) becomes the agency's referral."""
from __future__ import annotations

import json
from typing import Any

from gateway.mappings.ids import fhir_id
from tests.inbound.conftest import HOSPITAL
from tests.inbound.test_process_message import consumer_patient_id, search

GRAVITY_TASK_CODE = {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                                 "code": "fulfill"}]}
ELENA = {"resourceType": "Patient", "id": "p",
         "identifier": [{"system": "https://fhir-care-gateway.example/medicaid-id",
                         "value": "0014382291"}],
         "name": [{"family": "Martinez", "given": ["Elena"]}], "birthDate": "1988-04-12"}
STRANGER = {"resourceType": "Patient", "id": "p",
            "name": [{"family": "Quill", "given": ["Jonah"]}], "birthDate": "1979-02-02",
            "gender": "male"}


def referral_transaction(person: dict[str, Any]) -> dict[str, Any]:
    """A Task asking the agency to fulfil a ServiceRequest, for a person contained in it."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0c9d3c68-2f1e-4a5e-9d55-7b0a1d3c5e01", "request": {
            "method": "POST", "url": "ServiceRequest"}, "resource": {
            "resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "contained": [person], "subject": {"reference": "#p"},
            "code": {"text": "Community mental-health assessment and case management"},
            "reasonCode": [{"text": "Recurrent depression; no outpatient provider"}],
            "authoredOn": "2026-11-20"}},
        {"fullUrl": "urn:uuid:0c9d3c68-2f1e-4a5e-9d55-7b0a1d3c5e02", "request": {
            "method": "POST", "url": "Task"}, "resource": {
            "resourceType": "Task", "status": "requested", "intent": "order",
            "code": GRAVITY_TASK_CODE, "contained": [person], "for": {"reference": "#p"},
            "focus": {"reference": "urn:uuid:0c9d3c68-2f1e-4a5e-9d55-7b0a1d3c5e01"},
            "authoredOn": "2026-11-20T10:00:00Z",
            "requester": {"display": "claims to be someone else"}}}]}


def post(client, headers, bundle):
    response = client.post("/fhir", data=json.dumps(bundle), headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def task_of(client, auth) -> dict[str, Any]:
    [task] = search(client, auth, "Task?_tag=hospital-referral")
    return task


def test_a_referral_for_a_known_consumer_is_taken_in(client, auth, demo_agency,
                                                     referring_hospital):
    post(client, referring_hospital, referral_transaction(ELENA))

    task = task_of(client, auth)
    elena = f"Patient/{consumer_patient_id('C-1001')}"
    assert task["for"] == {"reference": elena}
    assert "contained" not in task
    assert task["code"]["coding"][0]["code"] == "referral"
    assert task["owner"] == {"reference": f"Organization/"
                                          f"{fhir_id('organization', 'ORG-RCMH-ACCESS')}"}
    assert task["requester"]["reference"] == \
        f"Organization/{demo_agency[HOSPITAL].organization}"
    order = client.get(f"/fhir/{task['focus']['reference']}", headers=auth).get_json()
    assert order["subject"] == {"reference": elena} and "contained" not in order
    events = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/"
                                  "ontology/DCM|110107")
    assert [e for e in events if f"Task/{task['id']}" in
            {x["what"]["reference"] for x in e.get("entity", []) if "what" in x}]


def test_a_referral_for_someone_unknown_makes_a_prospective_consumer(
        client, auth, demo_agency, referring_hospital):
    post(client, referring_hospital, referral_transaction(STRANGER))

    task = task_of(client, auth)
    [patient] = search(client, auth, "Patient?_tag=prospective")
    assert task["for"] == {"reference": f"Patient/{patient['id']}"}
    assert patient["name"][0]["family"] == "Quill"


def test_an_uncertain_person_waits_for_review_then_is_attached(
        client, auth, demo_agency, referring_hospital):
    uncertain = {"resourceType": "Patient", "id": "p",
                 "name": [{"family": "Martinez", "given": ["Elena"]}],
                 "birthDate": "1988-04-12"}
    post(client, referring_hospital, referral_transaction(uncertain))

    task = task_of(client, auth)
    assert task["businessStatus"] == {"text": "awaiting identity review"}
    assert task["for"] == {"reference": "#p"}
    [review] = client.get("/admin/matches", headers=auth).get_json()["reviews"]
    assert review["event"] == "referral"

    decided = client.post(f"/admin/matches/{review['id']}/link", headers=auth,
                          json={"patient": consumer_patient_id("C-1001")})

    assert decided.status_code == 200, decided.get_json()
    task = task_of(client, auth)
    assert task["for"] == {"reference": f"Patient/{consumer_patient_id('C-1001')}"}
    assert "businessStatus" not in task and "contained" not in task


def test_a_school_cannot_post_referrals(client, auth, demo_agency, get_token):
    token = get_token("school-walnut", scope="system/Task.c").get_json()
    assert "access_token" not in token or client.post(
        "/fhir", data=json.dumps(referral_transaction(ELENA)),
        headers={"Authorization": f"Bearer {token['access_token']}",
                 "Content-Type": "application/fhir+json"}).status_code == 403
    assert search(client, auth, "Task?_tag=hospital-referral") == []

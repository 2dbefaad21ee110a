"""A hospital's FHIR referral, settled as it is written (gateway/workflows/referral_subject.py):
it starts requested whatever it was sent as, it is for someone (the Patient in the
transaction, a conditional reference on an identifier, a contained Patient, or ours), matched
like a discharge's patient, and a referral that names no one is refused with nothing stored."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.inbound.test_hospital_referrals import (
    ELENA,
    STRANGER,
    post,
    referral_transaction,
    task_of,
)
from tests.inbound.test_process_message import consumer_patient_id, search

MEDICAID = "https://fhir-care-gateway.example/medicaid-id"
SERVICE_REQUEST_URL = "urn:uuid:0c9d3c68-2f1e-4a5e-9d55-7b0a1d3c5e01"
PATIENT_URL = "urn:uuid:0c9d3c68-2f1e-4a5e-9d55-7b0a1d3c5e03"
UNCERTAIN_ELENA = {"resourceType": "Patient", "id": "p",
                   "name": [{"family": "Martinez", "given": ["Elena"]}],
                   "birthDate": "1988-04-12"}


def with_subject(subject: dict[str, Any], *, status: str = "requested",
                 patient: dict[str, Any] | None = None, **task: Any) -> dict[str, Any]:
    """The referral transaction with ``subject`` as the Task's ``for`` and the ServiceRequest's
    ``subject``, nothing contained, and ``patient`` as an entry of its own."""
    bundle = referral_transaction(ELENA)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        resource.pop("contained")
        resource["for" if resource["resourceType"] == "Task" else "subject"] = subject
        if resource["resourceType"] == "Task":
            resource.update(status=status, **task)
    if patient is not None:
        bundle["entry"].insert(0, {"fullUrl": PATIENT_URL, "resource": patient,
                                   "request": {"method": "POST", "url": "Patient"}})
    return bundle


def the_patient_in_the_transaction(patient: dict[str, Any], **task: Any) -> dict[str, Any]:
    return with_subject({"reference": PATIENT_URL}, patient=patient, **task)


def everything(client, auth) -> dict[str, int]:
    """How many Tasks, ServiceRequests and Patients are stored."""
    return {kind: client.get(f"/fhir/{kind}?_summary=count", headers=auth).get_json()["total"]
            for kind in ("Task", "ServiceRequest", "Patient")}


def refused(client, headers, bundle) -> dict[str, Any]:
    response = client.post("/fhir", data=json.dumps(bundle), headers=headers)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


# -- where a new referral starts -------------------------------------------------------------

def test_a_referral_sent_as_completed_is_stored_requested(client, auth, demo_agency,
                                                          referring_hospital):
    bundle = referral_transaction(ELENA)
    sent = bundle["entry"][1]["resource"]
    sent.update(status="completed", intent="plan",
                statusReason={"text": "done on our side"})
    post(client, referring_hospital, bundle)

    task = task_of(client, auth)
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert "statusReason" not in task
    assert {"text": "Sent with status completed (done on our side)"} in task["note"]
    codes = {(c["system"], c["code"]) for c in task["code"]["coding"]}
    assert ("http://hl7.org/fhir/CodeSystem/task-code", "fulfill") in codes
    assert ("http://fhir-care-gateway.example/fhir/CodeSystem/cmh-task-type",
            "referral") in codes
    # No version of it was ever completed: the first one stored was already requested.
    history = client.get(f"/fhir/Task/{task['id']}/_history", headers=auth).get_json()
    assert {e["resource"]["status"] for e in history["entry"]} == {"requested"}


@pytest.mark.parametrize("status", ["draft", "accepted", "in-progress", "on-hold", "rejected",
                                    "cancelled", "failed", "entered-in-error"])
def test_whatever_status_it_arrives_with_it_starts_requested(client, auth, demo_agency,
                                                             referring_hospital, status):
    bundle = referral_transaction(ELENA)
    bundle["entry"][1]["resource"]["status"] = status
    post(client, referring_hospital, bundle)

    task = task_of(client, auth)
    assert task["status"] == "requested"
    assert {"text": f"Sent with status {status}"} in task["note"]


def test_a_sent_as_requested_referral_gets_no_note(client, auth, demo_agency,
                                                   referring_hospital):
    post(client, referring_hospital, referral_transaction(ELENA))
    assert "note" not in task_of(client, auth)


def test_the_hospitals_identifier_is_the_placers_and_ours_the_fillers(
        client, auth, demo_agency, referring_hospital):
    theirs = {"system": "https://stbrigid.example/referrals", "value": "REF-2026-0417"}
    bundle = referral_transaction(ELENA)
    bundle["entry"][1]["resource"]["identifier"] = [theirs]
    post(client, referring_hospital, bundle)

    task = task_of(client, auth)
    by_type = {i["type"]["coding"][0]["code"]: i for i in task["identifier"]}
    assert by_type["PLAC"]["value"] == "REF-2026-0417"
    assert by_type["PLAC"]["type"]["coding"][0]["system"] == \
        "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert by_type["FILL"] == {
        "system": "http://fhir-care-gateway.example/fhir/referral", "value": task["id"],
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "FILL", "display": "Filler Identifier"}]}}


# -- the Patient in the transaction: matched, never stored as sent ---------------------------

def test_the_patient_in_the_transaction_is_matched_with_certainty(client, auth, demo_agency,
                                                                  referring_hospital):
    before = everything(client, auth)
    patient = {**ELENA, "id": "hospital-own-id", "managingOrganization": {
        "reference": "Organization/somewhere"}}
    post(client, referring_hospital, the_patient_in_the_transaction(patient))

    task = task_of(client, auth)
    elena = f"Patient/{consumer_patient_id('C-1001')}"
    assert task["for"] == {"reference": elena}
    assert "contained" not in task
    order = client.get(f"/fhir/{task['focus']['reference']}", headers=auth).get_json()
    assert order["subject"] == {"reference": elena} and "contained" not in order
    # The hospital's Patient was a probe: no Patient was created from it.
    assert everything(client, auth) == {**before, "Task": before["Task"] + 1,
                                        "ServiceRequest": before["ServiceRequest"] + 1}
    assert client.get("/fhir/Patient/hospital-own-id", headers=auth).status_code == 404


def test_an_uncertain_patient_in_the_transaction_waits_for_review(client, auth, demo_agency,
                                                                  referring_hospital):
    post(client, referring_hospital, the_patient_in_the_transaction(UNCERTAIN_ELENA))

    task = task_of(client, auth)
    assert task["businessStatus"] == {"text": "awaiting identity review"}
    assert task["for"] == {"reference": "#referral-subject"}
    [contained] = task["contained"]
    assert contained["name"] == UNCERTAIN_ELENA["name"]
    [review] = client.get("/admin/matches", headers=auth).get_json()["reviews"]
    assert review["event"] == "referral"
    assert review["candidates"][0]["patient_id"] == consumer_patient_id("C-1001")


def test_an_unknown_patient_in_the_transaction_becomes_a_prospective_consumer(
        client, auth, demo_agency, referring_hospital):
    post(client, referring_hospital, the_patient_in_the_transaction(STRANGER))

    task = task_of(client, auth)
    [patient] = search(client, auth, "Patient?_tag=prospective")
    assert task["for"] == {"reference": f"Patient/{patient['id']}"}
    assert patient["name"][0]["family"] == "Quill"


def test_an_absolute_fullurl_patient_entry_referred_to_relatively(client, auth, demo_agency,
                                                                  referring_hospital):
    bundle = with_subject({"reference": "Patient/h-77"})
    for entry in bundle["entry"]:
        entry["fullUrl"] = entry["fullUrl"].replace(
            "urn:uuid:", "https://stbrigid.example/fhir/" +
            entry["resource"]["resourceType"] + "/")
    bundle["entry"][1]["resource"]["focus"] = {
        "reference": bundle["entry"][0]["fullUrl"].partition("/fhir/")[2]}
    bundle["entry"].insert(0, {"fullUrl": "https://stbrigid.example/fhir/Patient/h-77",
                               "resource": {**ELENA, "id": "h-77"},
                               "request": {"method": "PUT", "url": "Patient/h-77"}})
    post(client, referring_hospital, bundle)

    assert task_of(client, auth)["for"] == {
        "reference": f"Patient/{consumer_patient_id('C-1001')}"}


def test_a_patient_entry_no_referral_refers_to_is_still_refused(client, auth, demo_agency,
                                                                referring_hospital):
    bundle = referral_transaction(ELENA)
    bundle["entry"].append({"fullUrl": PATIENT_URL, "resource": STRANGER,
                            "request": {"method": "POST", "url": "Patient"}})
    response = client.post("/fhir", data=json.dumps(bundle), headers=referring_hospital)
    assert response.status_code == 403
    assert search(client, auth, "Task?_tag=hospital-referral") == []


# -- a conditional or logical reference on an identifier --------------------------------------

@pytest.mark.parametrize("subject", [
    {"reference": f"Patient?identifier={MEDICAID}|0014382291"},
    {"identifier": {"system": MEDICAID, "value": "0014382291"}}])
def test_a_known_identifier_names_the_consumer(client, auth, demo_agency, referring_hospital,
                                               subject):
    post(client, referring_hospital, with_subject(subject))

    task = task_of(client, auth)
    assert task["for"] == {"reference": f"Patient/{consumer_patient_id('C-1001')}"}
    assert search(client, auth, "Patient?_tag=prospective") == []


def test_the_hospitals_own_mrn_once_learned_names_the_consumer(client, auth, demo_agency,
                                                               referring_hospital):
    mrn = {"system": "https://fhir-care-gateway.example/partner/hospital-stbrigid/mrn",
           "value": "SB-4471"}
    post(client, referring_hospital, referral_transaction({**ELENA, "identifier": [
        *ELENA["identifier"], mrn]}))
    post(client, referring_hospital, with_subject(
        {"reference": f"Patient?identifier={mrn['system']}|{mrn['value']}"}))

    tasks = search(client, auth, "Task?_tag=hospital-referral")
    assert [t["for"] for t in tasks] == [
        {"reference": f"Patient/{consumer_patient_id('C-1001')}"}] * 2


# -- a referral that names no one ------------------------------------------------------------

@pytest.mark.parametrize(("subject", "why"), [
    ({"reference": "https://stbrigid.example/fhir/Patient/123"}, "no Patient of this server"),
    ({"reference": "Group/g1"}, "no Patient of this server"),
    ({"display": "Elena Martinez"}, "names nothing"),
    ({"reference": "Patient?identifier=https://stbrigid.example/mrn|NOPE"},
     "names no consumer the agency knows"),
    ({"identifier": {"system": MEDICAID, "value": "9999999999"}},
     "names no consumer the agency knows"),
])
def test_a_dangling_subject_is_refused_and_nothing_is_stored(client, auth, demo_agency,
                                                             referring_hospital, subject, why):
    before = everything(client, auth)

    issue = refused(client, referring_hospital, with_subject(subject))

    assert issue["code"] == "not-found"
    assert why in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[1].resource.for"]
    assert everything(client, auth) == before
    assert client.get("/admin/matches", headers=auth).get_json()["reviews"] == []


def test_a_contained_reference_to_no_contained_patient_is_refused(client, auth, demo_agency,
                                                                  referring_hospital):
    bundle = referral_transaction(ELENA)
    task = bundle["entry"][1]["resource"]
    task["for"] = {"reference": "#nobody"}
    task["note"] = [{"text": "see #p"}]
    issue = refused(client, referring_hospital, bundle)
    assert "names no contained Patient" in issue["diagnostics"]
    assert search(client, auth, "Task?_tag=hospital-referral") == []


def test_a_patient_of_ours_that_does_not_exist_is_refused(client, auth, demo_agency,
                                                          referring_hospital):
    before = everything(client, auth)
    issue = refused(client, referring_hospital, with_subject({"reference": "Patient/nobody"}))
    assert "Patient/nobody does not exist" in issue["diagnostics"]
    assert everything(client, auth) == before


def test_a_task_posted_alone_is_held_to_the_same_rule(client, auth, demo_agency,
                                                      referring_hospital):
    task = copy.deepcopy(with_subject({"reference": "https://elsewhere.example/Patient/1"})
                         ["entry"][1]["resource"])
    task["focus"] = {"display": "a referral"}
    before = everything(client, auth)
    response = client.post("/fhir/Task", data=json.dumps(task), headers=referring_hospital)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["issue"][0]["expression"] == ["Task.for"]
    assert everything(client, auth) == before


def test_a_contained_patient_with_nothing_to_know_them_by_is_refused(
        client, auth, demo_agency, referring_hospital):
    issue = refused(client, referring_hospital,
                    referral_transaction({"resourceType": "Patient", "id": "p",
                                          "gender": "female"}))
    assert "neither a name nor an identifier" in issue["diagnostics"]
    assert search(client, auth, "Task?_tag=hospital-referral") == []


# -- what the local system is handed -----------------------------------------------------------

def test_the_intake_record_names_the_person(config, client, auth, demo_agency,
                                            referring_hospital, make_worker):
    post(client, referring_hospital, the_patient_in_the_transaction(STRANGER))

    make_worker().run(once=True)

    [written] = (config.var_dir / "local-outbox" / "intake").glob("*.intake.json")
    intake = json.loads(written.read_text())
    assert intake["consumer"] is None  # a prospective consumer: the person is all there is
    assert intake["person"]["name"] == {"family": "Quill", "given": ["Jonah"]}
    assert intake["person"]["birth_date"] == "1979-02-02"
    assert intake["status"] == "requested"

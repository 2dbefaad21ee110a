"""Da Vinci discharge notifications through POST /fhir/$process-message, end to end."""
from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.care.followup import FUH_7_DAY, FUH_30_DAY
from gateway.mappings.ids import fhir_id
from tests.inbound.conftest import HOSPITAL, davinci_example, variant

MRN_SYSTEM = "https://fhir-care-gateway.example/partner/hospital-stbrigid/mrn"
MEDICAID = "https://fhir-care-gateway.example/medicaid-id"
ELENA = {  # C-1001 as the hospital knows her
    "name": [{"family": "Martinez", "given": ["Elena"]}], "birthDate": "1988-04-12",
    "gender": "female", "telecom": [{"system": "phone", "value": "(517) 555-0142"}],
    "address": [{"line": ["12 Elm St", "Apt 3"], "city": "Lansing", "state": "MI",
                 "postalCode": "48912"}],
}


def process(client, bundle: dict[str, Any], headers: dict[str, str]):
    return client.post("/fhir/$process-message", data=json.dumps(bundle), headers=headers)


def response_header(response) -> dict[str, Any]:
    bundle = response.get_json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "message"
    return bundle["entry"][0]["resource"]


def response_outcome(response) -> dict[str, Any]:
    return next(e["resource"] for e in response.get_json()["entry"]
                if e["resource"]["resourceType"] == "OperationOutcome")


def search(client, auth, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/fhir/{query}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return [e["resource"] for e in response.get_json().get("entry", [])
            if e.get("search", {}).get("mode", "match") == "match"]


def referral_tasks(client, auth) -> list[dict[str, Any]]:
    return search(client, auth, "Task?code=http://fhir-care-gateway.example/fhir/CodeSystem/"
                                "cmh-task-type|referral&_tag=hospital-discharge&_count=100")


def consumer_patient_id(consumer: str) -> str:
    return fhir_id("consumer", consumer)


def test_the_public_example_becomes_a_referral_task(app, client, auth, demo_agency,
                                                    hospital_headers):
    response = process(client, davinci_example(), hospital_headers)

    assert response.status_code == 200
    header = response_header(response)
    assert header["response"] == {"identifier": "df0bb058-e0bb-11ea-a11a-864d2e68a322",
                                  "code": "ok", "details": header["response"]["details"]}
    state = app.extensions["gateway"]
    assert not [i for i in state.validator.validate(response.get_json(),
                                                    expected_type="Bundle")
                if i.severity in ("error", "fatal")]
    [task] = referral_tasks(client, auth)
    assert task["id"] in response_outcome(response)["issue"][0]["diagnostics"]
    assert task["status"] == "requested" and task["intent"] == "order"
    access_unit = fhir_id("organization", "ORG-RCMH-ACCESS")
    assert task["owner"] == {"reference": f"Organization/{access_unit}"}
    assert task["requester"]["reference"] == f"Organization/{demo_agency[HOSPITAL].organization}"
    # Discharged 2018-10-23 (local time): follow-up due within 7 and 30 days.
    deadlines = {e["url"]: e["valueDate"] for e in task["extension"]}
    assert deadlines == {FUH_7_DAY: "2018-10-30", FUH_30_DAY: "2018-11-22"}
    assert task["restriction"]["period"] == {"start": "2018-10-23", "end": "2018-11-22"}
    inputs = {i["type"]["coding"][0]["code"]: i for i in task["input"]}
    assert set(inputs) == {"encounter", "discharge-disposition", "stay", "diagnosis",
                           "sending-facility"}
    assert inputs["discharge-disposition"]["valueCodeableConcept"]["coding"][0]["code"] == "1"
    assert inputs["stay"]["valuePeriod"] == {"start": "2018-10-21T21:22:15-07:00",
                                             "end": "2018-10-23T22:22:15-07:00"}
    encounter = client.get(f"/fhir/{inputs['encounter']['valueReference']['reference']}",
                           headers=auth).get_json()
    assert encounter["status"] == "finished"
    assert encounter["hospitalization"]["dischargeDisposition"]["text"].startswith("Discharge")
    condition = client.get(f"/fhir/{inputs['diagnosis']['valueReference']['reference']}",
                           headers=auth).get_json()
    assert condition["code"]["text"] == "Examplitis"
    assert condition["subject"] == task["for"]
    service_request = client.get(f"/fhir/{task['focus']['reference']}", headers=auth).get_json()
    assert service_request["status"] == "active" and service_request["subject"] == task["for"]
    # Nobody at the agency is Elden Halvorson: a prospective consumer, with the hospital's MRN
    # filed under the hospital's registered MRN system, and nothing the agency doesn't need.
    patient = client.get(f"/fhir/{task['for']['reference']}", headers=auth).get_json()
    assert [t["code"] for t in patient["meta"]["tag"]] == ["prospective"]
    assert patient["name"][0]["family"] == "Halvorson124"
    assert [(i["system"], i["value"]) for i in patient["identifier"]] == [
        (MRN_SYSTEM, "06e1f0dd-5fbe-4480-9bb4-6b54ec02d31b")]
    assert "extension" not in patient  # race, ethnicity, birthplace: not taken


def test_the_receipt_is_audited(client, auth, demo_agency, hospital_headers):
    process(client, davinci_example(), hospital_headers)

    events = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/ontology/"
                                  "DCM|110107")
    assert len(events) == 1
    [task] = referral_tasks(client, auth)
    entities = [e["what"]["reference"] for e in events[0]["entity"]]
    assert f"Task/{task['id']}" in entities and task["for"]["reference"] in entities
    assert events[0]["agent"][0]["who"]["reference"] == \
        f"Organization/{demo_agency[HOSPITAL].organization}"
    assert "df0bb058-e0bb-11ea-a11a-864d2e68a322" in events[0]["outcomeDesc"]


def test_the_same_message_twice_gets_the_same_answer_and_one_referral(
        client, auth, demo_agency, hospital_headers):
    first = process(client, davinci_example(), hospital_headers)
    second = process(client, davinci_example(), hospital_headers)

    assert second.status_code == first.status_code == 200
    assert second.get_json() == first.get_json()
    assert len(referral_tasks(client, auth)) == 1
    assert len(search(client, auth, "Patient?_tag=prospective")) == 1


def test_the_same_discharge_in_a_new_message_is_the_same_referral(
        client, auth, demo_agency, hospital_headers):
    process(client, davinci_example(), hospital_headers)
    again = process(client, variant("another-message-about-the-same-stay"), hospital_headers)

    assert again.status_code == 200
    assert "already referral" in response_outcome(again)["issue"][0]["diagnostics"]
    assert len(referral_tasks(client, auth)) == 1


def test_a_consumer_found_by_medicaid_id_links_and_the_hospital_mrn_is_learned(
        client, auth, demo_agency, hospital_headers):
    identifiers = [
        {"system": "http://example.org/fhir/mrn", "value": "SB-000417",
         "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                              "code": "MR"}]}},
        {"system": "urn:oid:2.16.840.1.113883.4.3.26", "value": "0014382291",
         "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                              "code": "MA"}]}}]
    bundle = variant("elena-1", patient={**ELENA, "identifier": identifiers,
                                         "name": [{"family": "Martinez-Lopez",
                                                   "given": ["E"]}]})

    response = process(client, bundle, hospital_headers)

    assert response.status_code == 200, response.get_json()
    [task] = referral_tasks(client, auth)
    assert task["for"] == {"reference": f"Patient/{consumer_patient_id('C-1001')}"}
    assert search(client, auth, "Patient?_tag=prospective") == []
    [found] = search(client, auth, f"Patient?identifier={MRN_SYSTEM}|SB-000417")
    assert found["id"] == consumer_patient_id("C-1001")


def test_a_certain_demographic_match_links_without_identifiers(
        client, auth, demo_agency, hospital_headers):
    response = process(client, variant("elena-2", patient={**ELENA, "identifier": []}),
                       hospital_headers)

    assert response.status_code == 200
    [task] = referral_tasks(client, auth)
    assert task["for"] == {"reference": f"Patient/{consumer_patient_id('C-1001')}"}


def test_an_uncertain_match_waits_for_an_operator_instead_of_guessing(
        app, client, auth, demo_agency, hospital_headers):
    probe = {"name": [{"family": "Martinez", "given": ["Elena"]}], "birthDate": "1988-04-12",
             "identifier": []}
    bundle = variant("elena-3", patient=probe)
    for entry in bundle["entry"]:  # the example's own address and phone are not Elena's
        if entry["resource"]["resourceType"] == "Patient":
            for name in ("address", "telecom", "gender"):
                entry["resource"].pop(name, None)

    response = process(client, bundle, hospital_headers)

    assert response.status_code == 200
    assert "match review" in response_outcome(response)["issue"][0]["diagnostics"]
    assert referral_tasks(client, auth) == []
    assert search(client, auth, "Patient?_tag=prospective") == []
    reviews = client.get("/admin/matches", headers=auth).get_json()["reviews"]
    assert [r["candidates"][0]["patient_id"] for r in reviews] == [consumer_patient_id("C-1001")]


def test_an_admission_of_a_consumer_tells_the_case_manager_and_makes_no_referral(
        client, auth, demo_agency, hospital_headers):
    bundle = variant("elena-admit", event="notification-admit",
                     patient={**ELENA, "identifier": [{"system": MEDICAID,
                                                       "value": "0014382291"}]},
                     encounter={"status": "in-progress", "period": {
                         "start": "2026-11-20T08:00:00-05:00"}})

    response = process(client, bundle, hospital_headers)

    assert response.status_code == 200, response.get_json()
    assert referral_tasks(client, auth) == []
    [notice] = search(client, auth, f"Communication?subject=Patient/"
                                    f"{consumer_patient_id('C-1001')}")
    team = search(client, auth, f"CareTeam?patient={consumer_patient_id('C-1001')}")
    managers = {p["member"]["reference"] for t in team for p in t["participant"]
                if any(c.get("code") == "current-case-manager"
                       for r in p.get("role", []) for c in r.get("coding", []))}
    assert managers and {r["reference"] for r in notice["recipient"]} == managers
    assert "admitted to" in notice["payload"][0]["contentString"]


def test_an_admission_of_someone_unknown_is_recorded_only(
        client, auth, demo_agency, hospital_headers):
    response = process(client, variant("stranger-admit", event="notification-admit"),
                       hospital_headers)

    assert response.status_code == 200
    assert search(client, auth, "Patient?_tag=prospective") == []
    assert search(client, auth, "Communication") == []


@pytest.mark.parametrize(("body", "expression"), [
    ("not json", None),
    ({"resourceType": "Patient"}, "Bundle"),
    ({"resourceType": "Bundle", "type": "transaction", "entry": []}, "Bundle.type"),
    ({"resourceType": "Bundle", "type": "message", "entry": [
        {"resource": {"resourceType": "Patient"}}]}, "Bundle.entry[0].resource"),
])
def test_what_is_not_a_message_is_a_400_operation_outcome(
        client, demo_agency, hospital_headers, body, expression):
    response = client.post("/fhir/$process-message", headers=hospital_headers,
                           data=body if isinstance(body, str) else json.dumps(body))

    assert response.status_code == 400
    result = response.get_json()
    assert result["resourceType"] == "OperationOutcome"
    if expression:
        assert result["issue"][0]["expression"] == [expression]


def test_an_unsupported_event_is_a_fatal_error_response(client, auth, demo_agency,
                                                       hospital_headers):
    response = process(client, variant("odd", event="notification-something"),
                       hospital_headers)

    assert response.status_code == 422
    assert response_header(response)["response"]["code"] == "fatal-error"
    [issue] = response_outcome(response)["issue"]
    assert issue["expression"] == ["Bundle.entry[0].resource.eventCoding"]
    again = process(client, variant("odd", event="notification-something"), hospital_headers)
    assert again.get_json() == response.get_json()


def test_an_encounter_without_a_patient_is_a_fatal_error(client, demo_agency,
                                                         hospital_headers):
    bundle = davinci_example()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["subject"] = {"reference": "urn:uuid:nobody"}

    response = process(client, bundle, hospital_headers)

    assert response.status_code == 422
    assert response_outcome(response)["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.subject"]


def test_only_hospitals_send_notifications(client, auth, demo_agency, get_token):
    school = get_token("school-walnut").get_json()["access_token"]
    as_school = client.post("/fhir/$process-message", data=json.dumps(davinci_example()),
                            headers={"Authorization": f"Bearer {school}",
                                     "Content-Type": "application/fhir+json"})
    as_operator = client.post("/fhir/$process-message", data=json.dumps(davinci_example()),
                              headers={**auth, "Content-Type": "application/fhir+json"})
    anonymous = client.post("/fhir/$process-message", data=json.dumps(davinci_example()))

    assert (as_school.status_code, as_operator.status_code, anonymous.status_code) == (
        403, 403, 401)
    assert referral_tasks(client, auth) == []


def test_a_learned_mrn_survives_the_next_import_of_the_consumer(
        client, auth, demo_agency, hospital_headers):
    identifiers = [{"system": MRN_SYSTEM, "value": "SB-000417"},
                   {"system": MEDICAID, "value": "0014382291"}]
    process(client, variant("elena-mrn", patient={**ELENA, "identifier": identifiers}),
            hospital_headers)
    # C-1001's record as the local system sends it again, with a new phone number.
    record = {"type": "consumer", "id": "C-1001", "name": {"given": ["Elena", "Rosa"],
                                                           "family": "Martínez"},
              "birth_date": "1988-04-12", "gender": "female",
              "identifiers": {"agency_number": "2019-0417", "medicaid_id": "0014382291"},
              "eligibility": [{"group": "mental-illness", "since": "2019-05-06"}],
              "application_date": "2019-04-22", "active": True}
    record = {**record, "updated_at": "2026-11-30T12:00:00Z",
              "contacts": [{"kind": "phone", "value": "517-555-0199", "use": "mobile"}]}

    imported = client.post("/local/records", json=[record], headers=auth)

    assert imported.status_code == 200, imported.get_json()
    patient = client.get(f"/fhir/Patient/{consumer_patient_id('C-1001')}", headers=auth).get_json()
    assert patient["telecom"][0]["value"] == "517-555-0199"  # the import did change it
    assert {"system": MRN_SYSTEM, "value": "SB-000417"} in [
        {"system": i["system"], "value": i["value"]} for i in patient["identifier"]]


def test_the_hospital_then_finds_the_care_team_by_its_own_mrn(
        client, auth, demo_agency, hospital_headers, get_token):
    token = get_token(HOSPITAL, scope="system/CareTeam.read").get_json()["access_token"]
    query = f"/fhir/CareTeam?patient.identifier={MRN_SYSTEM}|SB-000417"
    hospital = {"Authorization": f"Bearer {token}"}
    assert client.get(query, headers=hospital).get_json().get("entry", []) == []
    identifiers = [{"system": MRN_SYSTEM, "value": "SB-000417"},
                   {"system": MEDICAID, "value": "0014382291"}]

    process(client, variant("elena-query", patient={**ELENA, "identifier": identifiers}),
            hospital_headers)

    found = client.get(query, headers=hospital)
    assert found.status_code == 200
    teams = [e["resource"] for e in found.get_json().get("entry", [])]
    assert teams and all(t["subject"]["reference"] ==
                         f"Patient/{consumer_patient_id('C-1001')}" for t in teams)

"""transaction (atomic, urn:uuid rewriting) and batch (independent entries) Bundles."""
from __future__ import annotations

from tests.api.builders import AGENCY, care_plan, care_team, patient

FHIR_JSON = "application/fhir+json"
PATIENT_URN = "urn:uuid:6d9f1c9e-3c2b-4a47-9b7e-0f7c8d1b2a01"


def post_bundle(client, auth, bundle, **headers):
    return client.post("/fhir", json=bundle,
                       headers={**auth, "Content-Type": FHIR_JSON, **headers})


def transaction(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post_entry(resource, full_url=None, **request):
    entry = {"resource": resource,
             "request": {"method": "POST", "url": resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def count(client, auth, resource_type):
    return client.get(f"/fhir/{resource_type}?_summary=count", headers=auth).get_json()["total"]


def test_transaction_rewrites_urn_uuid_references(client, auth):
    plan = care_plan("x", subject={"reference": PATIENT_URN})
    team = care_team("x", subject={"reference": PATIENT_URN})
    response = post_bundle(client, auth, transaction(
        post_entry(plan), post_entry(team), post_entry(patient(), PATIENT_URN)))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    patient_id = body["entry"][2]["resource"]["id"]
    assert body["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert body["entry"][0]["response"]["location"].startswith("CarePlan/")
    stored_plan_id = body["entry"][0]["resource"]["id"]
    stored = client.get(f"/fhir/CarePlan/{stored_plan_id}", headers=auth).get_json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"


def test_transaction_is_atomic_and_locates_the_failing_entry(client, auth):
    response = post_bundle(client, auth, transaction(
        post_entry(patient(), PATIENT_URN),
        post_entry(care_plan("x", subject={"reference": PATIENT_URN}, status="bogus"))))
    assert response.status_code == 422
    expressions = [e for i in response.get_json()["issue"] for e in i.get("expression", [])]
    assert "Bundle.entry[1].resource.status" in expressions
    assert count(client, auth, "Patient") == 0  # the valid entry was rolled back too


def test_transaction_with_unresolvable_urn_reference_fails(client, auth):
    response = post_bundle(client, auth, transaction(
        post_entry(care_plan("x", subject={"reference": "urn:uuid:nowhere"}))))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"][0].startswith("Bundle.entry[0]")


def test_transaction_put_delete_get_and_conditional_create(client, auth):
    existing = client.post("/fhir/Patient", json=patient(),
                           headers={**auth, "Content-Type": FHIR_JSON}).get_json()
    doomed_id = client.post("/fhir/Patient",
                            json=patient(identifier=[{"system": AGENCY, "value": "C-9"}]),
                            headers={**auth, "Content-Type": FHIR_JSON}).get_json()["id"]
    entries = [
        post_entry(patient(), "urn:uuid:match", ifNoneExist=f"identifier={AGENCY}|C-1"),
        {"resource": patient(id="fixed-id"), "request": {"method": "PUT",
                                                         "url": "Patient/fixed-id"}},
        {"request": {"method": "GET", "url": f"Patient/{existing['id']}"}},
        {"request": {"method": "GET", "url": "Patient?gender=female"}},
        post_entry(care_team("x", subject={"reference": "urn:uuid:match"})),
        {"request": {"method": "DELETE", "url": f"Patient/{doomed_id}"}},
    ]
    body = post_bundle(client, auth, transaction(*entries)).get_json()
    results = body["entry"]
    assert results[0]["response"]["status"] == "200 OK"  # matched, not created
    assert results[0]["resource"]["id"] == existing["id"]
    assert results[1]["response"]["status"] == "201 Created"
    assert results[2]["resource"]["id"] == existing["id"]
    assert results[3]["resource"]["type"] == "searchset"
    assert results[4]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert results[5]["response"]["status"] == "204 No Content"
    assert client.get(f"/fhir/Patient/{doomed_id}", headers=auth).status_code == 410


def test_transaction_resolves_conditional_references(client, auth):
    existing = client.post("/fhir/Patient", json=patient(),
                           headers={**auth, "Content-Type": FHIR_JSON}).get_json()
    response = post_bundle(client, auth, transaction(post_entry(
        care_team("x", subject={"reference": f"Patient?identifier={AGENCY}|C-1"}))))
    assert response.status_code == 200
    team = response.get_json()["entry"][0]["resource"]
    assert team["subject"]["reference"] == f"Patient/{existing['id']}"
    missing = post_bundle(client, auth, transaction(post_entry(
        care_team("x", subject={"reference": f"Patient?identifier={AGENCY}|nobody"}))))
    assert missing.status_code == 412


def test_transaction_may_not_change_a_resource_twice(client, auth):
    put = {"resource": patient(id="twice"), "request": {"method": "PUT", "url": "Patient/twice"}}
    response = post_bundle(client, auth, transaction(put, put))
    assert response.status_code == 400


def test_batch_entries_succeed_or_fail_on_their_own(client, auth):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        post_entry(patient()),
        post_entry(care_plan("x", status="bogus")),
        {"request": {"method": "GET", "url": "Patient/unknown"}},
        {"request": {"method": "PATCH", "url": "Patient/unknown"}},
    ]}
    response = post_bundle(client, auth, bundle)
    assert response.status_code == 200
    body = response.get_json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses[0] == "201 Created"
    assert statuses[1].startswith("422")
    assert statuses[2].startswith("404")
    assert statuses[3].startswith("400")
    outcome = body["entry"][1]["response"]["outcome"]
    assert "Bundle.entry[1].resource.status" in [e for i in outcome["issue"]
                                                 for e in i.get("expression", [])]
    assert count(client, auth, "Patient") == 1


def test_only_transaction_and_batch_bundles_are_accepted(client, auth):
    response = post_bundle(client, auth, {"resourceType": "Bundle", "type": "collection"})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["Bundle.type"]
    assert post_bundle(client, auth, patient()).status_code == 400


def test_malformed_entries_are_located(client, auth):
    response = post_bundle(client, auth, transaction({"resource": patient()}))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]

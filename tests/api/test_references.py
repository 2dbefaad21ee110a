"""References on write: a transaction rewrites references to its own entries whatever form the
fullUrl has (R4 bundle.html#references, http.html#trules), and a local reference must name a
stored resource (422 naming the element otherwise)."""
from __future__ import annotations

from tests.api.builders import care_team, patient

HOSPITAL = "http://hospital.example/fhir"


def transaction(*entries) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource: dict, full_url: str) -> dict:
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"]}}


def stored_patient(client, auth, patient_id: str = "p-ref") -> str:
    response = client.put(f"/fhir/Patient/{patient_id}", json=patient(id=patient_id),
                          headers=auth)
    assert response.status_code in (200, 201), response.get_json()
    return patient_id


def order(patient_id: str) -> dict:
    return {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"}}


def task(patient_id: str, focus: str, **extra) -> dict:
    return {"resourceType": "Task", "status": "requested", "intent": "order",
            "for": {"reference": f"Patient/{patient_id}"}, "focus": {"reference": focus},
            **extra}


def written(client, auth, answer: dict, index: int) -> dict:
    location = answer["entry"][index]["response"]["location"]
    return client.get(f"/fhir/{location.split('/_history')[0]}", headers=auth).get_json()


def test_relative_references_resolve_against_an_absolute_fullurl(client, auth):
    patient_id = stored_patient(client, auth)
    response = client.post("/fhir", headers=auth, json=transaction(
        post(order(patient_id), f"{HOSPITAL}/ServiceRequest/sr1"),
        post(task(patient_id, "ServiceRequest/sr1"), f"{HOSPITAL}/Task/t1")))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    order_id = written(client, auth, answer, 0)["id"]
    assert order_id != "sr1"
    assert written(client, auth, answer, 1)["focus"] == {
        "reference": f"ServiceRequest/{order_id}"}


def test_a_relative_reference_matching_an_absolute_fullurls_tail_is_that_entry(client, auth):
    patient_id = stored_patient(client, auth)
    flag = {"url": "http://example.org/fhir/StructureDefinition/based-on",
            "valueReference": {"reference": "ServiceRequest/sr1"}}
    referring = task(patient_id, f"{HOSPITAL}/ServiceRequest/sr1", extension=[flag],
                     basedOn=[{"reference": "ServiceRequest/sr1"}])
    response = client.post("/fhir", headers=auth, json=transaction(
        post(order(patient_id), f"{HOSPITAL}/ServiceRequest/sr1"),
        post(referring, "urn:uuid:4f1c2b7e-9a3d-4c5e-8f6a-0b1c2d3e4f5a")))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    order_id = written(client, auth, answer, 0)["id"]
    stored = written(client, auth, answer, 1)
    assert stored["focus"]["reference"] == f"ServiceRequest/{order_id}"
    assert stored["basedOn"] == [{"reference": f"ServiceRequest/{order_id}"}]
    assert stored["extension"][0]["valueReference"]["reference"] == \
        f"ServiceRequest/{order_id}"


def test_a_reference_to_nothing_is_refused_naming_the_element(client, auth):
    response = client.post("/fhir/CareTeam", json=care_team("nobody"), headers=auth)
    assert response.status_code == 422
    problem = response.get_json()["issue"][0]
    assert problem["expression"] == ["CareTeam.subject"]
    assert "Patient/nobody does not exist" in problem["diagnostics"]
    assert client.get("/fhir/CareTeam", headers=auth).get_json()["total"] == 0


def test_a_reference_to_a_deleted_resource_is_refused(client, auth):
    patient_id = stored_patient(client, auth, "p-gone")
    assert client.delete(f"/fhir/Patient/{patient_id}", headers=auth).status_code == 204
    response = client.post("/fhir/CareTeam", json=care_team(patient_id), headers=auth)
    assert response.status_code == 422


def test_a_transaction_may_refer_to_what_a_later_entry_creates(client, auth):
    # POST entries are processed before PUT entries: the CareTeam is written first.
    response = client.post("/fhir", headers=auth, json=transaction(
        post(care_team("p-later"), "urn:uuid:0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a"),
        {"fullUrl": "http://testserver/fhir/Patient/p-later", "resource": patient(id="p-later"),
         "request": {"method": "PUT", "url": "Patient/p-later"}}))
    assert response.status_code == 200, response.get_json()


def test_a_dangling_reference_fails_the_whole_transaction_at_its_entry(client, auth):
    patient_id = stored_patient(client, auth)
    response = client.post("/fhir", headers=auth, json=transaction(
        post(care_team(patient_id), "urn:uuid:1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"),
        post(care_team("nobody"), "urn:uuid:2b3c4d5e-6f7a-4b2c-9d3e-4f5a6b7c8d9e")))
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.subject"]
    assert client.get("/fhir/CareTeam", headers=auth).get_json()["total"] == 0

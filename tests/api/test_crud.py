"""Create, read, vread, update, delete and their headers, through HTTP."""
from __future__ import annotations

from tests.api.builders import care_plan, patient

FHIR_JSON = "application/fhir+json"


def create(client, auth, resource, **headers):
    return client.post(f"/fhir/{resource['resourceType']}", json=resource,
                       headers={**auth, "Content-Type": FHIR_JSON, **headers})


def test_create_assigns_id_and_version_and_reports_location(client, auth):
    response = create(client, auth, patient(id="client-chosen"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] != "client-chosen"  # create ignores a client id (server-assigned)
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["Location"] == \
        f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.mimetype == FHIR_JSON


def test_read_returns_the_stored_resource_with_version_headers(client, auth):
    created = create(client, auth, patient()).get_json()
    response = client.get(f"/fhir/Patient/{created['id']}", headers=auth)
    assert response.status_code == 200
    assert response.get_json() == created
    assert response.headers["ETag"] == 'W/"1"'


def test_read_with_matching_if_none_match_is_not_modified(client, auth):
    created = create(client, auth, patient()).get_json()
    response = client.get(f"/fhir/Patient/{created['id']}",
                          headers={**auth, "If-None-Match": 'W/"1"'})
    assert response.status_code == 304


def test_update_makes_a_new_version_and_vread_keeps_the_old(client, auth):
    created = create(client, auth, patient()).get_json()
    changed = {**created, "gender": "other"}
    response = client.put(f"/fhir/Patient/{created['id']}", json=changed,
                          headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 200
    assert response.get_json()["meta"]["versionId"] == "2"
    assert response.headers["ETag"] == 'W/"2"'
    old = client.get(f"/fhir/Patient/{created['id']}/_history/1", headers=auth)
    assert old.status_code == 200 and old.get_json()["gender"] == "female"
    current = client.get(f"/fhir/Patient/{created['id']}", headers=auth).get_json()
    assert current["gender"] == "other"


def test_update_with_unchanged_content_keeps_the_version(client, auth):
    created = create(client, auth, patient()).get_json()
    response = client.put(f"/fhir/Patient/{created['id']}", json=created,
                          headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 200
    assert response.get_json()["meta"]["versionId"] == "1"


def test_update_with_if_match(client, auth):
    created = create(client, auth, patient()).get_json()
    url = f"/fhir/Patient/{created['id']}"
    ok = client.put(url, json={**created, "gender": "male"},
                    headers={**auth, "Content-Type": FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(url, json={**created, "gender": "other"},
                       headers={**auth, "Content-Type": FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.get_json()["resourceType"] == "OperationOutcome"
    assert client.get(url, headers=auth).get_json()["gender"] == "male"


def test_create_on_update_uses_the_client_id(client, auth):
    response = client.put("/fhir/Patient/pat-42", json=patient(id="pat-42"),
                          headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/fhir/Patient/pat-42/_history/1")
    assert client.get("/fhir/Patient/pat-42", headers=auth).status_code == 200


def test_update_body_id_must_match_the_url(client, auth):
    response = client.put("/fhir/Patient/a", json=patient(id="b"),
                          headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["Patient.id"]
    missing = client.put("/fhir/Patient/a", json=patient(),
                         headers={**auth, "Content-Type": FHIR_JSON})
    assert missing.status_code == 400


def test_delete_is_soft_then_read_is_gone(client, auth):
    created = create(client, auth, patient()).get_json()
    url = f"/fhir/Patient/{created['id']}"
    assert client.delete(url, headers=auth).status_code == 204
    gone = client.get(url, headers=auth)
    assert gone.status_code == 410
    assert gone.get_json()["issue"][0]["code"] == "deleted"
    assert client.get(f"{url}/_history/1", headers=auth).status_code == 200
    assert client.get(f"{url}/_history/2", headers=auth).status_code == 410
    # Deleting again is harmless; a resource that never existed is not found.
    assert client.delete(url, headers=auth).status_code == 204
    assert client.delete("/fhir/Patient/never", headers=auth).status_code == 404


def test_update_after_delete_brings_the_resource_back(client, auth):
    created = create(client, auth, patient()).get_json()
    url = f"/fhir/Patient/{created['id']}"
    client.delete(url, headers=auth)
    response = client.put(url, json=created, headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 201
    assert response.get_json()["meta"]["versionId"] == "3"


def test_read_unknown_and_malformed_ids(client, auth):
    assert client.get("/fhir/Patient/nope", headers=auth).status_code == 404
    assert client.get("/fhir/Patient/bad%20id", headers=auth).status_code == 400
    assert client.get("/fhir/Patient/nope/_history/1", headers=auth).status_code == 404
    assert client.get("/fhir/Patient/nope/_history/x", headers=auth).status_code == 404


def test_conditional_create_with_if_none_exist(client, auth):
    query = "identifier=https://fhir-care-gateway.example/agency-id/consumer|C-1"
    first = create(client, auth, patient(), **{"If-None-Exist": query})
    assert first.status_code == 201
    again = create(client, auth, patient(), **{"If-None-Exist": query})
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    create(client, auth, patient())  # a second Patient with the same identifier
    ambiguous = create(client, auth, patient(), **{"If-None-Exist": query})
    assert ambiguous.status_code == 412


def test_prefer_return_minimal_and_operation_outcome(client, auth):
    minimal = create(client, auth, patient(), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.data == b""
    assert minimal.headers["Location"]
    outcome = create(client, auth, patient(), Prefer="return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.get_json()["resourceType"] == "OperationOutcome"


def test_invalid_resource_is_rejected_with_every_problem_located(client, auth):
    plan = care_plan("p1", status="bogus")
    del plan["subject"]
    response = create(client, auth, plan)
    assert response.status_code == 422
    issues = response.get_json()["issue"]
    expressions = {e for i in issues for e in i.get("expression", [])}
    assert "CarePlan.status" in expressions
    assert "CarePlan.subject" in expressions


def test_create_of_the_wrong_type_for_the_url_is_rejected(client, auth):
    response = client.post("/fhir/Patient", json=care_plan("p1"),
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code in (400, 422)
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_audit_events_are_append_only(client, auth):
    event = {"resourceType": "AuditEvent",
             "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                      "code": "rest"},
             "recorded": "2026-11-23T10:00:00Z",
             "agent": [{"who": {"display": "operator"}, "requestor": True}],
             "source": {"observer": {"display": "gateway"}}}
    created = create(client, auth, event)
    assert created.status_code == 201
    url = f"/fhir/AuditEvent/{created.get_json()['id']}"
    assert client.delete(url, headers=auth).status_code == 403
    changed = client.put(url, json={**created.get_json(), "outcome": "4"},
                         headers={**auth, "Content-Type": FHIR_JSON})
    assert changed.status_code == 403
    assert changed.get_json()["issue"][0]["code"] == "forbidden"


def test_elements_keeps_the_asked_and_the_mandatory_elements(client, auth):
    client.put("/fhir/Patient/p1", json=patient(id="p1"), headers=auth)
    created = create(client, auth, care_plan("p1", title="Plan", description="long text"))
    plan_id = created.get_json()["id"]
    body = client.get(f"/fhir/CarePlan/{plan_id}?_elements=title", headers=auth).get_json()
    # title was asked for; status, intent and subject are mandatory (1..1) in R4.
    assert set(body) == {"resourceType", "id", "meta", "title", "status", "intent", "subject"}
    assert body["meta"]["tag"][-1]["code"] == "SUBSETTED"
    assert body["meta"]["versionId"] == "1"

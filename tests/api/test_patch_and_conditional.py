"""PATCH (JSON Patch and FHIRPath Patch), conditional update and delete, and a create with a
query string, through HTTP (R4 http.html#patch, #cond-update, #3.1.0.7.1, fhirpatch.html)."""
from __future__ import annotations

from tests.api.builders import patient

FHIR_JSON = "application/fhir+json"
AGENCY = "https://fhir-care-gateway.example/agency-id/consumer"


def created(client, auth, **fields) -> dict:
    response = client.post("/fhir/Patient", json=patient(**fields),
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def operation(kind: str, path: str, **parts) -> dict:
    part = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    for name, value in parts.items():
        if name == "value":
            part.append({"name": "value", **value})
        elif name in ("index", "source", "destination"):
            part.append({"name": name, "valueInteger": value})
        else:
            part.append({"name": name, "valueString": value})
    return {"name": "operation", "part": part}


def fhirpath_patch(*operations) -> dict:
    return {"resourceType": "Parameters", "parameter": list(operations)}


def test_json_patch_changes_the_resource_as_an_update(client, auth):
    before = created(client, auth, birthDate="1980-01-01")
    response = client.patch(f"/fhir/Patient/{before['id']}", headers={
        **auth, "Content-Type": "application/json-patch+json"}, json=[
        {"op": "replace", "path": "/birthDate", "value": "1981-02-03"},
        {"op": "add", "path": "/gender", "value": "female"}])
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert after["birthDate"] == "1981-02-03" and after["gender"] == "female"
    assert after["meta"]["versionId"] == "2"
    assert response.headers["ETag"] == 'W/"2"'
    history = client.get(f"/fhir/Patient/{before['id']}/_history", headers=auth).get_json()
    assert history["total"] == 2


def test_fhirpath_patch_operations(client, auth):
    before = created(client, auth, telecom=[{"system": "phone", "value": "517-555-0101"},
                                            {"system": "email", "value": "a@example.org"}])
    body = fhirpath_patch(
        operation("replace", "Patient.birthDate", value={"valueDate": "1990-05-06"}),
        operation("delete", "Patient.telecom.where(system='email')"),
        operation("add", "Patient", name="deceasedBoolean", value={"valueBoolean": False}),
        operation("add", "Patient", name="address", value={"part": [
            {"name": "city", "valueString": "Lansing"}]}),
        operation("insert", "Patient.name[0].given", index=0, value={"valueString": "Ana"}))
    response = client.patch(f"/fhir/Patient/{before['id']}", json=body,
                            headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert after["birthDate"] == "1990-05-06" and after["deceasedBoolean"] is False
    assert after["address"] == [{"city": "Lansing"}]  # a repeating element: added as a list
    assert after["telecom"] == [{"system": "phone", "value": "517-555-0101"}]
    assert after["name"][0]["given"][0] == "Ana"


def test_a_patch_that_breaks_the_resource_is_refused_and_stores_nothing(client, auth):
    before = created(client, auth)
    bad = client.patch(f"/fhir/Patient/{before['id']}", headers={
        **auth, "Content-Type": "application/json-patch+json"},
        json=[{"op": "replace", "path": "/gender", "value": "sometimes"}])
    assert bad.status_code == 422
    assert bad.get_json()["issue"][0]["expression"] == ["Patient.gender"]
    failed_test = client.patch(f"/fhir/Patient/{before['id']}", headers={
        **auth, "Content-Type": "application/json-patch+json"},
        json=[{"op": "test", "path": "/birthDate", "value": "1900-01-01"}])
    assert failed_test.status_code == 422
    no_path = client.patch(f"/fhir/Patient/{before['id']}", json=fhirpath_patch(
        operation("replace", "Patient.deceasedBoolean", value={"valueBoolean": True})),
        headers={**auth, "Content-Type": FHIR_JSON})
    assert no_path.status_code == 422
    assert "selects 0 elements" in no_path.get_json()["issue"][0]["diagnostics"]
    current = client.get(f"/fhir/Patient/{before['id']}", headers=auth).get_json()
    assert current["meta"]["versionId"] == "1"


def test_patch_honours_if_match(client, auth):
    before = created(client, auth)
    stale = client.patch(f"/fhir/Patient/{before['id']}", headers={
        **auth, "Content-Type": "application/json-patch+json", "If-Match": 'W/"7"'},
        json=[{"op": "add", "path": "/gender", "value": "male"}])
    assert stale.status_code == 412
    fresh = client.patch(f"/fhir/Patient/{before['id']}", headers={
        **auth, "Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
        json=[{"op": "add", "path": "/gender", "value": "male"}])
    assert fresh.status_code == 200


def test_patch_of_a_missing_resource_is_404_and_of_another_type_415(client, auth):
    missing = client.patch("/fhir/Patient/nobody", headers={
        **auth, "Content-Type": "application/json-patch+json"}, json=[])
    assert missing.status_code == 404
    before = created(client, auth)
    wrong = client.patch(f"/fhir/Patient/{before['id']}", data="x",
                         headers={**auth, "Content-Type": "text/plain"})
    assert wrong.status_code == 415


def test_conditional_update_creates_updates_or_refuses(client, auth):
    query = f"identifier={AGENCY}|C-77"
    body = patient(identifier=[{"system": AGENCY, "value": "C-77"}])
    first = client.put(f"/fhir/Patient?{query}", json=body,
                       headers={**auth, "Content-Type": FHIR_JSON})
    assert first.status_code == 201, first.get_json()
    patient_id = first.get_json()["id"]
    again = client.put(f"/fhir/Patient?{query}", json={**body, "gender": "female"},
                       headers={**auth, "Content-Type": FHIR_JSON})
    assert again.status_code == 200
    assert again.get_json()["id"] == patient_id and again.get_json()["gender"] == "female"
    other_id = client.put(f"/fhir/Patient?{query}", json={**body, "id": "someone-else"},
                          headers={**auth, "Content-Type": FHIR_JSON})
    assert other_id.status_code == 400
    created(client, auth, identifier=[{"system": AGENCY, "value": "C-77"}])
    ambiguous = client.put(f"/fhir/Patient?{query}", json=body,
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert ambiguous.status_code == 412
    no_criteria = client.put("/fhir/Patient", json=body,
                             headers={**auth, "Content-Type": FHIR_JSON})
    assert no_criteria.status_code == 400


def test_conditional_delete(client, auth):
    created(client, auth, identifier=[{"system": AGENCY, "value": "C-88"}])
    query = f"identifier={AGENCY}|C-88"
    assert client.delete(f"/fhir/Patient?{query}", headers=auth).status_code == 204
    found = client.get(f"/fhir/Patient?{query}", headers=auth).get_json()
    assert found["total"] == 0
    assert client.delete(f"/fhir/Patient?{query}", headers=auth).status_code == 204
    created(client, auth, identifier=[{"system": AGENCY, "value": "C-89"}])
    created(client, auth, identifier=[{"system": AGENCY, "value": "C-89"}])
    assert client.delete(f"/fhir/Patient?identifier={AGENCY}|C-89",
                         headers=auth).status_code == 412


def test_a_create_with_a_query_string_is_refused_not_duplicated(client, auth):
    query = f"identifier={AGENCY}|C-90"
    body = patient(identifier=[{"system": AGENCY, "value": "C-90"}])
    response = client.post(f"/fhir/Patient?{query}", json=body,
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 400
    assert "If-None-Exist" in response.get_json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Patient?{query}", headers=auth).get_json()["total"] == 0


def test_elements_may_name_resource_type_and_id(client, auth):
    before = created(client, auth)
    bundle = client.get(f"/fhir/Patient?_id={before['id']}&_elements=resourceType,id,name",
                        headers=auth).get_json()
    shown = bundle["entry"][0]["resource"]
    assert set(shown) == {"resourceType", "id", "meta", "name"}


def test_conditional_patch_patches_the_one_match(client, auth):
    created(client, auth, identifier=[{"system": AGENCY, "value": "C-91"}])
    json_patch = {**auth, "Content-Type": "application/json-patch+json"}
    body = [{"op": "replace", "path": "/gender", "value": "other"}]
    one = client.patch(f"/fhir/Patient?identifier={AGENCY}|C-91", json=body, headers=json_patch)
    assert one.status_code == 200 and one.get_json()["gender"] == "other"
    none = client.patch(f"/fhir/Patient?identifier={AGENCY}|C-00", json=body, headers=json_patch)
    assert none.status_code == 404
    created(client, auth, identifier=[{"system": AGENCY, "value": "C-91"}])
    several = client.patch(f"/fhir/Patient?identifier={AGENCY}|C-91", json=body,
                           headers=json_patch)
    assert several.status_code == 412


def test_summary_modes_on_read_and_search(client, auth):
    before = created(client, auth, text={"status": "generated", "div":
                                         '<div xmlns="http://www.w3.org/1999/xhtml">Elena</div>'},
                     maritalStatus={"text": "single"})
    path = f"/fhir/Patient/{before['id']}"
    summary = client.get(f"{path}?_summary=true", headers=auth).get_json()
    # Patient.name, gender, birthDate are isSummary in R4; maritalStatus and text are not.
    assert {"name", "gender", "birthDate"} <= set(summary)
    assert "maritalStatus" not in summary and "text" not in summary
    assert summary["meta"]["tag"][-1]["code"] == "SUBSETTED"
    text = client.get(f"{path}?_summary=text", headers=auth).get_json()
    assert set(text) == {"resourceType", "id", "meta", "text"}
    data = client.get(f"{path}?_summary=data", headers=auth).get_json()
    assert "text" not in data and data["maritalStatus"] == {"text": "single"}
    full = client.get(f"{path}?_summary=false", headers=auth).get_json()
    assert full == client.get(path, headers=auth).get_json()
    searched = client.get(f"/fhir/Patient?_id={before['id']}&_summary=text",
                          headers=auth).get_json()
    assert set(searched["entry"][0]["resource"]) == {"resourceType", "id", "meta", "text"}
    assert client.get(f"{path}?_summary=sometimes", headers=auth).status_code == 400

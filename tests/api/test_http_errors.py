"""Every error is an OperationOutcome with a fitting status, never a 500 or a traceback."""
from __future__ import annotations

import pytest

from tests.api.builders import patient

FHIR_JSON = "application/fhir+json"


def assert_outcome(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and all(i["severity"] in ("error", "fatal") for i in body["issue"])
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_unauthenticated_calls_get_401(client):
    response = client.get("/fhir/Patient")
    assert_outcome(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_outcome(client.get("/fhir/Patient", headers={"Authorization": "Bearer wrong"}), 401)
    assert_outcome(client.get("/fhir/Patient", headers={"Authorization": "Basic abc"}), 401)


def test_metadata_needs_no_token(client):
    assert client.get("/fhir/metadata").status_code == 200


def test_unknown_type_is_404(client, auth):
    assert_outcome(client.get("/fhir/Spaceship", headers=auth), 404)
    assert_outcome(client.get("/fhir/Spaceship/1", headers=auth), 404)


def test_unknown_endpoint_is_404_outcome(client, auth):
    assert_outcome(client.get("/fhir/Patient/1/2/3/4", headers=auth), 404)


def test_unsupported_method_is_405(client, auth):
    response = client.post("/fhir/Patient/1", json={}, headers=auth)
    assert_outcome(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("accept", ["application/fhir+xml", "text/turtle", "image/png"])
def test_unsupported_accept_is_406(client, auth, accept):
    assert_outcome(client.get("/fhir/Patient", headers={**auth, "Accept": accept}), 406)


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/fhir+json",
                                    "text/html,application/xhtml+xml,*/*;q=0.8",
                                    "application/fhir+json; fhirVersion=4.0"])
def test_json_compatible_accept_is_served(client, auth, accept):
    response = client.get("/fhir/Patient", headers={**auth, "Accept": accept})
    assert response.status_code == 200


def test_format_parameter_wins_over_accept(client, auth):
    assert_outcome(client.get("/fhir/Patient?_format=xml", headers=auth), 406)
    ok = client.get("/fhir/Patient?_format=json",
                    headers={**auth, "Accept": "application/fhir+xml"})
    assert ok.status_code == 200


def test_unsupported_body_type_is_415(client, auth):
    response = client.post("/fhir/Patient", data="<Patient/>",
                           headers={**auth, "Content-Type": "application/fhir+xml"})
    assert_outcome(response, 415)


def test_malformed_json_is_400(client, auth):
    response = client.post("/fhir/Patient", data="{not json",
                           headers={**auth, "Content-Type": FHIR_JSON})
    body = assert_outcome(response, 400)
    assert "line 1" in body["issue"][0]["diagnostics"]
    empty = client.post("/fhir/Patient", data="", headers={**auth, "Content-Type": FHIR_JSON})
    assert_outcome(empty, 400)


def test_body_over_the_limit_is_413(client, auth):
    huge = patient(text={"status": "generated", "div": "<div>" + "x" * 300_000 + "</div>"})
    assert_outcome(client.post("/fhir/Patient", json=huge,
                               headers={**auth, "Content-Type": FHIR_JSON}), 413)


def test_non_object_bodies_are_rejected_cleanly(client, auth):
    for body in ("[]", "null", "42", '"Patient"'):
        response = client.post("/fhir/Patient", data=body,
                               headers={**auth, "Content-Type": FHIR_JSON})
        assert response.status_code in (400, 422)
        assert response.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_operation_is_a_clear_error(client, auth):
    assert_outcome(client.get("/fhir/Patient/$everything", headers=auth), 400)


def test_scopes_limit_what_a_principal_may_do():
    from gateway.auth import Principal, authorize, scope_permits
    from gateway.fhir.errors import FhirError

    reader = Principal("partner", "school", frozenset({"system/CareTeam.read"}))
    authorize(reader, "CareTeam", "r")
    authorize(reader, "CareTeam", "s")
    with pytest.raises(FhirError) as denied:
        authorize(reader, "CareTeam", "c")
    assert denied.value.status == 403
    with pytest.raises(FhirError):
        authorize(reader, "Patient", "r")
    assert scope_permits(frozenset({"system/*.rs"}), "Consent", "s")
    assert not scope_permits(frozenset({"system/*.rs"}), "Consent", "u")
    assert scope_permits(frozenset({"system/Task.cruds"}), "Task", "d")
    assert not scope_permits(frozenset({"user/*.*"}), "Task", "r")


def test_a_repeated_json_property_is_refused_with_its_path(client, auth):
    body = '{"resourceType":"Patient","name":[{"family":"Roe","family":"Doe"}]}'
    response = client.post("/fhir/Patient", data=body,
                           headers={**auth, "Content-Type": "application/fhir+json"})
    assert_outcome(response, 400)
    assert response.get_json()["issue"][0]["expression"] == ["Patient.name[0].family"]
    assert client.get("/fhir/Patient", headers=auth).get_json()["total"] == 0


@pytest.mark.parametrize("body", ['{"resourceType":"Patient","extension":' + "[" * 990
                                  + "]" * 990 + "}", "[" * 5000 + "]" * 5000])
def test_json_nested_absurdly_deep_is_a_400_not_a_500(client, auth, body):
    response = client.post("/fhir/Patient", data=body,
                           headers={**auth, "Content-Type": "application/fhir+json"})
    assert_outcome(response, 400)
    assert "nested more than" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_bodies_are_utf8_only(client, auth, encoding):
    body = '{"resourceType":"Patient","name":[{"family":"Roe"}]}'.encode(encoding)
    response = client.post("/fhir/Patient", data=body,
                           headers={**auth, "Content-Type": "application/fhir+json"})
    assert_outcome(response, 400)
    assert client.get("/fhir/Patient", headers=auth).get_json()["total"] == 0

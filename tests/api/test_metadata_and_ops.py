"""CapabilityStatement, $validate, health, readiness and metrics."""
from __future__ import annotations

from gateway.fhir.resource_types import SUPPORTED_TYPES
from tests.api.builders import care_plan, patient

FHIR_JSON = "application/fhir+json"


def test_capability_statement_is_truthful(client, app):
    statement = client.get("/fhir/metadata").get_json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(SUPPORTED_TYPES)
    registry = app.extensions["gateway"].search_registry
    for resource_type, entry in resources.items():
        listed = {p["name"] for p in entry["searchParam"]}
        assert listed == {p.code for p in registry.supported(resource_type)}
        assert {i["code"] for i in entry["interaction"]} >= {"read", "vread", "create",
                                                             "update", "delete", "search-type"}
    assert {"patient", "status", "participant"} <= \
        {p["name"] for p in resources["CareTeam"]["searchParam"]}
    assert {i["code"] for i in statement["rest"][0]["interaction"]} == {"transaction", "batch"}


def test_validate_operation_reports_without_storing(client, auth):
    bad = care_plan("p", status="bogus")
    response = client.post("/fhir/CarePlan/$validate", json=bad,
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 200
    issues = response.get_json()["issue"]
    assert any(i["severity"] == "error" and i["expression"] == ["CarePlan.status"]
               for i in issues)
    good = client.post("/fhir/Patient/$validate",
                       json={"resourceType": "Parameters",
                             "parameter": [{"name": "resource", "resource": patient()}]},
                       headers={**auth, "Content-Type": FHIR_JSON})
    assert good.status_code == 200
    assert all(i["severity"] not in ("error", "fatal") for i in good.get_json()["issue"])
    total = client.get("/fhir/CarePlan?_summary=count", headers=auth).get_json()["total"]
    assert total == 0


def test_validate_operation_with_a_profile(client, auth):
    url = "http://fhir-care-gateway.example/fhir/StructureDefinition/cmh-careplan"
    response = client.post(f"/fhir/CarePlan/$validate?profile={url}", json=care_plan("p"),
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 200
    assert any(i["severity"] == "error" for i in response.get_json()["issue"])


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readiness_fails_when_the_database_is_gone(tmp_path):
    from gateway.app import create_app
    from gateway.config import Config

    config = Config(database_url=f"sqlite:///{tmp_path}/missing/dir/x.db",
                    require_migrated_database=False, operator_keys=("k" * 32,))
    app = create_app(config)
    engine = app.extensions["gateway"].engine
    engine.dispose()
    # Point the engine at a path that cannot be created: readiness must say so, not crash.
    (tmp_path / "missing").rename(tmp_path / "moved")
    (tmp_path / "missing").write_text("not a directory")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503


def test_metrics_count_requests_by_interaction_and_status(client, auth):
    client.get("/fhir/Patient/nobody", headers=auth)
    client.get("/fhir/metadata")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_http_requests_total{interaction="read",status="404"} 1.0' in text
    assert 'gateway_http_request_seconds_bucket{interaction="capabilities"' in text


def test_the_capability_statement_tells_what_the_server_does(client):
    statement = client.get("/fhir/metadata").get_json()
    rest = statement["rest"][0]
    oauth = next(e for e in rest["security"]["extension"]
                 if e["url"].endswith("/oauth-uris"))
    assert {"url": "token", "valueUri": "http://testserver/auth/token"} in oauth["extension"]
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert rest["operation"] == [{
        "name": "process-message",
        "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"}]
    assert statement["messaging"][0]["endpoint"][0]["address"] == \
        "http://testserver/fhir/$process-message"
    assert "http://hl7.org/fhir/us/davinci-alerts/CapabilityStatement/notification-receiver" \
        in statement["instantiates"]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {"code": "patch"} in patient["interaction"]
    assert patient["conditionalUpdate"] is True and patient["conditionalDelete"] == "single"


def test_the_operations_definitions_are_served(client):
    statement = client.get("/fhir/metadata").get_json()
    canonicals = {op["definition"] for resource in statement["rest"][0]["resource"]
                  for op in resource.get("operation", [])}
    canonicals |= {op["definition"] for op in statement["rest"][0]["operation"]}
    for canonical in canonicals:
        definition_id = canonical.rsplit("/", 1)[-1]
        response = client.get(f"/fhir/OperationDefinition/{definition_id}")
        assert response.status_code == 200, definition_id
        assert response.get_json()["url"] == canonical
    assert client.get("/fhir/OperationDefinition/Patient-everything").status_code == 404

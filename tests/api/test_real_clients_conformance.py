"""Partners' own FHIR client libraries against a running gateway on a loopback port, unmodified:
fhirclient (SMART on FHIR's Python client) discovers the token endpoint from the
CapabilityStatement and runs the SMART Backend Services flow; fhirpy patches, makes
conditional creates and updates and reads history."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from werkzeug.serving import make_server

from gateway.app import create_app
from gateway.demo import register_partners
from gateway.partners.client import client_assertion
from tests.api.builders import patient
from tests.conftest import OPERATOR_KEY, _empty_all_tables
from tests.partners.conftest import PARTNERS_DIR, private_key

AGENCY = "https://fhir-care-gateway.example/agency-id/consumer"


@pytest.fixture
def served(config) -> Iterator[tuple[str, object]]:
    """The gateway on a free loopback port, its base URL its own (tokens' audience)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(replace(config, base_url=f"http://127.0.0.1:{port}"))
    _empty_all_tables(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["gateway"].close()


def test_fhirclient_backend_services_flow_works_unmodified(served):
    from fhirclient import client

    base, app = served
    register_partners(app.extensions["gateway"], PARTNERS_DIR)
    assertion = client_assertion(private_key("pcp-cedar"), "pcp-cedar", f"{base}/auth/token")
    smart = client.FHIRClient(settings={"app_id": "pcp-cedar", "api_base": f"{base}/fhir",
                                        "jwt_token": assertion,
                                        "scope": "system/CareTeam.read"})
    smart.prepare()  # reads the CapabilityStatement: the oauth-uris extension names the token URL
    assert smart.server.auth.__class__.__name__ == "FHIROAuth2Auth"
    smart.server.authorize()  # client_credentials with the private_key_jwt assertion
    assert smart.server.auth.access_token
    bundle = smart.server.request_json("CareTeam")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"


def test_fhirpy_patch_conditional_create_update_and_history(served):
    from fhirpy import SyncFHIRClient
    from fhirpy.base.exceptions import OperationOutcome

    base, _ = served
    fhir = SyncFHIRClient(f"{base}/fhir", authorization=f"Bearer {OPERATOR_KEY}")
    body = {k: v for k, v in patient(identifier=[{"system": AGENCY, "value": "C-501"}]).items()
            if k != "resourceType"}
    first = fhir.resource("Patient", **body)
    first.create()
    # fhirpy's conditional create is POST Patient?identifier=...: R4 puts the criteria in
    # If-None-Exist, and a create that ignored them would make a duplicate: refused, 400.
    with pytest.raises(OperationOutcome) as refused:
        fhir.resource("Patient", **body).create(identifier=f"{AGENCY}|C-501")
    assert "If-None-Exist" in str(refused.value)
    assert fhir.resources("Patient").search(identifier=f"{AGENCY}|C-501").count() == 1

    first.patch(gender="other")  # fhirpy sends a partial resource (a merge patch)
    assert fhir.reference("Patient", first.id).to_resource()["gender"] == "other"

    updated = fhir.resource("Patient", **{**body, "birthDate": "1970-01-01"})
    _, created = fhir.resources("Patient").search(identifier=f"{AGENCY}|C-501").update(
        updated)  # PUT Patient?identifier=...
    assert not created
    current = fhir.reference("Patient", first.id).to_resource()
    assert current["birthDate"] == "1970-01-01" and current["meta"]["versionId"] == "3"
    history = fhir.execute(f"Patient/{first.id}/_history", method="get")
    assert history["total"] == 3
    elements = fhir.resources("Patient").search(_id=first.id).elements("name").fetch()
    assert set(elements[0]) >= {"resourceType", "id", "name"}

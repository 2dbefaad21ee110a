"""A real FHIR client library (fhirpy) against the server on a loopback port."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.api.builders import care_team, patient
from tests.conftest import OPERATOR_KEY


@pytest.fixture
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_fhirpy_creates_reads_and_searches(live_server):
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(live_server, authorization=f"Bearer {OPERATOR_KEY}")
    person = client.resource("Patient", **{k: v for k, v in patient().items()
                                            if k != "resourceType"})
    person.save()
    assert person.id
    team = client.resource("CareTeam", **{k: v for k, v in care_team(person.id).items()
                                          if k != "resourceType"})
    team.save()

    fetched = client.reference("Patient", person.id).to_resource()
    assert fetched["name"][0]["family"] == "Martínez"
    assert fetched["meta"]["versionId"] == "1"

    teams = client.resources("CareTeam").search(patient=person.id).fetch_all()
    assert [t.id for t in teams] == [team.id]
    assert client.resources("Patient").search(family="martinez").count() == 1

    fetched["gender"] = "other"
    fetched.save()
    assert client.reference("Patient", person.id).to_resource()["meta"]["versionId"] == "2"
    team.delete()
    assert client.resources("CareTeam").search(patient=person.id).fetch_all() == []

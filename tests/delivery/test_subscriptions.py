"""Partners that prefer to pull: R4 rest-hook Subscriptions notify them (an empty POST), and
only about consumers whose records they may see."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import OPERATOR_KEY

from .conftest import PCP_ORG, consent, consumer_records, put, register

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


class Hook:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        self.calls.append((request.path, dict(request.headers), request.get_data()))
        return Response(status=200)(environ, start_response)


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    recorder = Hook()
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield recorder, f"http://127.0.0.1:{server.server_port}/hooks/clinic"
    server.shutdown()


def subscription(criteria: str, endpoint: str) -> dict:
    return {"resourceType": "Subscription", "status": "requested", "reason": "plan changes",
            "criteria": criteria,
            "channel": {"type": "rest-hook", "endpoint": endpoint,
                        "header": ["Authorization: Bearer hook-secret"]}}


def test_subscriptions_notify_a_pulling_partner_about_consented_consumers_only(
        app, client, hook, make_worker):
    recorder, webhook = hook
    register(app, {"id": "pcp-pull", "type": "physical-health", "name": "Pull Clinic",
                   "organization": PCP_ORG, "endpoints": {"webhook": webhook},
                   "purposes": ["TREAT"], "resource_types": ["CarePlan", "CareTeam"]})
    for patient_id in ("p-yes", "p-no"):
        for resource in consumer_records(patient_id):
            put(app, resource)
    put(app, consent("p-yes", PCP_ORG))
    for body in (subscription("CarePlan?patient=Patient/p-yes", f"{webhook}/careplans"),
                 subscription("CarePlan?patient=Patient/p-no", f"{webhook}/careplans-no"),
                 subscription("CarePlan?patient=Patient/p-yes",
                              "http://127.0.0.1:9/elsewhere")):
        assert client.post("/fhir/Subscription", json=body, headers=OPERATOR).status_code == 201

    assert make_worker().run(once=True).counts == {"sent": 1, "withheld": 1}
    assert len(recorder.calls) == 1
    path, headers, body = recorder.calls[0]
    assert path == "/hooks/clinic/careplans" and body == b""
    assert headers["Authorization"] == "Bearer hook-secret"
    event = client.get("/fhir/AuditEvent?type=110106&patient=Patient/p-yes",
                       headers=OPERATOR).get_json()["entry"][0]["resource"]
    assert event["outcomeDesc"].startswith("notified Subscription/")
    assert "CarePlan/plan-p-yes" in {e["what"]["reference"] for e in event["entity"]}

    # A change the partner may not see notifies no one; one it may see notifies again.
    put(app, {**consumer_records("p-no")[3], "title": "changed"})
    put(app, {**consumer_records("p-yes")[3], "title": "changed"})
    assert make_worker().run(once=True).counts == {"sent": 1, "withheld": 1}
    assert len(recorder.calls) == 2
    assert recorder.calls[1][0] == "/hooks/clinic/careplans"  # p-yes's again, never p-no's

"""The loopback partner endpoint, over real HTTP: it applies what the delivery engine pushes,
counts re-deliveries, and misbehaves exactly as told."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway.demo.endpoints import main
from gateway.demo.fhir_http import FHIR_JSON
from gateway.demo.partner_server import ReceivingFhirServer

TIMEOUT = 5


@pytest.fixture
def server() -> Iterator[ReceivingFhirServer]:
    with ReceivingFhirServer("pcp") as running:
        yield running


def patient(pid: str, family: str = "Rivera", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}], **extra}


def observation(subject: str, value: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "PHQ-9"},
            "subject": {"reference": subject}, "valueInteger": value}


def put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "id": "b1", "type": kind, "entry": list(entries)}


def post_bundle(server: ReceivingFhirServer, bundle: Any, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.post(server.base_url, json=bundle, **kwargs)


def statuses(response: requests.Response) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


def test_transaction_applies_put_post_and_delete(server):
    server_put = requests.put(f"{server.base_url}/Patient/old", json=patient("old"),
                              timeout=TIMEOUT)
    assert server_put.status_code == 201
    bundle = transaction(
        put(patient("p1")),
        {"resource": observation("Patient/p1", 12), "request": {"method": "POST",
                                                                "url": "Observation"}},
        {"request": {"method": "DELETE", "url": "Patient/old"}},
    )

    response = post_bundle(server, bundle)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == FHIR_JSON
    answer = response.json()
    assert answer["resourceType"] == "Bundle"
    assert answer["type"] == "transaction-response"
    assert statuses(response) == ["201 Created", "201 Created", "200 OK"]
    assert answer["entry"][0]["response"]["location"] == "Patient/p1/_history/1"
    obs_location = answer["entry"][1]["response"]["location"]
    obs_type, obs_id, history, version = obs_location.split("/")
    assert (obs_type, history, version) == ("Observation", "_history", "1")
    assert set(server.resources) == {("Patient", "p1"), ("Observation", obs_id)}
    assert server.resources[("Observation", obs_id)]["valueInteger"] == 12
    assert [(t, i) for t, i, _ in server.applied] == [
        ("Patient", "old"), ("Patient", "p1"), ("Observation", obs_id)]
    assert server.deleted == [("Patient", "old")]
    got = requests.get(f"{server.base_url}/Patient/old", timeout=TIMEOUT)
    assert got.status_code == 404
    assert got.json()["resourceType"] == "OperationOutcome"


def test_transaction_resolves_urn_uuid_references(server):
    bundle = transaction(
        {"fullUrl": "urn:uuid:0b5c", "resource": {"resourceType": "Patient"},
         "request": {"method": "POST", "url": "Patient"}},
        put({**observation("urn:uuid:0b5c", 7), "id": "o1"}),
    )

    response = post_bundle(server, bundle)

    assert response.status_code == 200
    patient_ref = response.json()["entry"][0]["response"]["location"].rsplit("/_history", 1)[0]
    assert patient_ref.startswith("Patient/")
    stored = server.resources[("Observation", "o1")]
    assert stored["subject"]["reference"] == patient_ref


def test_identical_put_counts_one_version_and_one_duplicate(server):
    first = post_bundle(server, transaction(put(patient("p1"))))
    # A re-delivery: same content, different meta, as a retrying client would send it.
    again = patient("p1", meta={"lastUpdated": "2030-01-01T00:00:00Z"})
    second = post_bundle(server, transaction(put(again)))

    assert statuses(first) == ["201 Created"]
    assert statuses(second) == ["200 OK"]
    assert second.json()["entry"][0]["response"]["location"] == "Patient/p1/_history/1"
    assert server.versions == {("Patient", "p1"): 1}
    assert server.duplicates == 1
    assert len(server.applied) == 1


def test_changed_content_counts_a_new_version(server):
    post_bundle(server, transaction(put(patient("p1", "Rivera"))))
    second = post_bundle(server, transaction(put(patient("p1", "Rivera-Lopez"))))

    assert statuses(second) == ["200 OK"]
    assert second.json()["entry"][0]["response"]["location"] == "Patient/p1/_history/2"
    assert server.versions == {("Patient", "p1"): 2}
    assert server.duplicates == 0
    hashes = [h for _, _, h in server.applied]
    assert len(hashes) == 2 and hashes[0] != hashes[1]
    got = requests.get(f"{server.base_url}/Patient/p1", timeout=TIMEOUT).json()
    assert got["name"] == [{"family": "Rivera-Lopez"}]
    assert got["meta"]["versionId"] == "2"


def test_if_none_exist_returns_the_existing_resource(server):
    identified = {"resourceType": "Patient",
                  "identifier": [{"system": "urn:agency:mrn", "value": "A-17"}]}
    entry = {"resource": identified,
             "request": {"method": "POST", "url": "Patient",
                         "ifNoneExist": "identifier=urn:agency:mrn|A-17"}}

    first = post_bundle(server, transaction(entry))
    second = post_bundle(server, transaction(entry))

    assert statuses(first) == ["201 Created"]
    assert statuses(second) == ["200 OK"]
    location = first.json()["entry"][0]["response"]["location"]
    assert second.json()["entry"][0]["response"]["location"] == location
    assert len(server.resources) == 1
    assert len(server.applied) == 1


def test_invalid_transaction_applies_nothing(server):
    bundle = transaction(
        put(patient("p1")),
        {"resource": patient("p2"), "request": {"method": "PUT", "url": "Patient"}},
        {"resource": {"id": "x"}, "request": {"method": "POST", "url": "Observation"}},
    )

    response = post_bundle(server, bundle)

    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = [issue["diagnostics"] for issue in outcome["issue"]]
    assert len(diagnostics) == 2
    assert diagnostics[0].startswith("entry[1]: PUT url must be Type/id")
    assert diagnostics[1] == "entry[2]: the resource has no resourceType"
    assert server.resources == {}
    assert server.applied == []
    assert [r.status for r in server.requests] == [400]


def test_batch_applies_valid_entries_and_reports_invalid_ones(server):
    bundle = transaction(
        put(patient("p1")),
        {"resource": patient("p2"), "request": {"method": "PUT", "url": "Patient"}},
        kind="batch",
    )

    response = post_bundle(server, bundle)

    assert response.status_code == 200
    assert response.json()["type"] == "batch-response"
    assert statuses(response) == ["201 Created", "400 Bad Request"]
    assert set(server.resources) == {("Patient", "p1")}


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not JSON"),
    (b'{"resourceType": "Patient", "id": "p1"}', "only a Bundle"),
    (b'{"resourceType": "Bundle", "type": "collection"}', "transaction or batch"),
])
def test_a_body_that_is_not_a_transaction_answers_400(server, body, reason):
    response = requests.post(server.base_url, data=body, timeout=TIMEOUT,
                             headers={"Content-Type": FHIR_JSON})

    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert reason in outcome["issue"][0]["diagnostics"]
    assert server.resources == {}


def test_fail_next_answers_the_status_then_applies(server):
    server.fail_next(2, 503, retry_after="1")
    bundle = transaction(put(patient("p1")))

    answers = [post_bundle(server, bundle) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert [a.headers.get("Retry-After") for a in answers] == ["1", "1", None]
    assert answers[0].json()["resourceType"] == "OperationOutcome"
    assert [r.status for r in server.requests] == [503, 503, 200]
    assert server.versions == {("Patient", "p1"): 1}
    assert len(server.applied) == 1


def test_fail_next_leaves_reads_alone(server):
    server.fail_next(1, 500)

    assert requests.get(f"{server.base_url}/metadata", timeout=TIMEOUT).status_code == 200
    assert post_bundle(server, transaction(put(patient("p1")))).status_code == 500
    assert post_bundle(server, transaction(put(patient("p1")))).status_code == 200


def test_fail_always_until_cleared(server):
    server.fail_always(500)
    bundle = transaction(put(patient("p1")))

    failed = [post_bundle(server, bundle).status_code for _ in range(3)]
    assert failed == [500, 500, 500]
    assert server.resources == {}

    server.fail_always(None)
    assert post_bundle(server, bundle).status_code == 200
    assert set(server.resources) == {("Patient", "p1")}


def test_delay_next_delays_then_applies(server):
    server.delay_next(1, 0.3)
    bundle = transaction(put(patient("p1")))

    started = time.monotonic()
    slow = post_bundle(server, bundle)
    slow_took = time.monotonic() - started
    started = time.monotonic()
    fast = post_bundle(server, bundle)
    fast_took = time.monotonic() - started

    assert (slow.status_code, fast.status_code) == (200, 200)
    assert slow_took >= 0.3
    assert fast_took < 0.2
    assert server.versions == {("Patient", "p1"): 1}


def test_delay_makes_a_short_timeout_client_time_out_and_stop_stays_prompt():
    server = ReceivingFhirServer("slow").start()
    try:
        server.delay_next(1, 0.5)
        with pytest.raises(requests.exceptions.Timeout):
            post_bundle(server, transaction(put(patient("p1"))), timeout=0.1)
    finally:
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started

    assert took < 0.3
    assert server.resources == {}
    assert [r.status for r in server.requests] == [503]


def test_stop_refuses_connections_and_start_reuses_the_port(server):
    assert post_bundle(server, transaction(put(patient("p1")))).status_code == 200
    port = server.port
    assert port > 0

    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError, match="Connection refused"):
        requests.get(f"{server.base_url}/Patient/p1", timeout=TIMEOUT)

    server.start()
    assert server.port == port
    assert server.base_url == f"http://127.0.0.1:{port}/fhir"
    got = requests.get(f"{server.base_url}/Patient/p1", timeout=TIMEOUT)
    assert got.status_code == 200
    assert got.json()["name"] == [{"family": "Rivera"}]


def test_require_bearer_refuses_other_tokens():
    with ReceivingFhirServer("hospital", require_bearer="s3cret") as server:
        url = f"{server.base_url}/metadata"
        missing = requests.get(url, timeout=TIMEOUT)
        wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT)
        right = requests.get(url, headers={"Authorization": "Bearer s3cret"}, timeout=TIMEOUT)

        assert [missing.status_code, wrong.status_code, right.status_code] == [401, 401, 200]
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert missing.json()["resourceType"] == "OperationOutcome"
        assert [r.headers.get("Authorization") for r in server.requests] == [
            None, "Bearer nope", "Bearer s3cret"]


def test_search_filters_by_patient_and_counts(server):
    bundle = transaction(put({**observation("Patient/p1", 3), "id": "o1"}),
                         put({**observation("Patient/p2", 9), "id": "o2"}),
                         put({"resourceType": "Goal", "id": "g1",
                              "subject": {"reference": "Patient/p1"}}))
    assert post_bundle(server, bundle).status_code == 200

    def search(query: str) -> dict[str, Any]:
        response = requests.get(f"{server.base_url}/Observation{query}", timeout=TIMEOUT)
        assert response.status_code == 200
        return response.json()

    by_reference = search("?patient=Patient/p1")
    by_id = search("?patient=p2")
    counted = search("?_summary=count")

    assert by_reference["type"] == "searchset"
    assert by_reference["total"] == 1
    assert [e["resource"]["id"] for e in by_reference["entry"]] == ["o1"]
    assert by_reference["entry"][0]["fullUrl"] == f"{server.base_url}/Observation/o1"
    assert [e["resource"]["id"] for e in by_id["entry"]] == ["o2"]
    assert counted["total"] == 2
    assert "entry" not in counted


def test_single_resource_put_post_and_if_none_exist_header(server):
    created = requests.put(f"{server.base_url}/Patient/p1", json=patient("p1"),
                           timeout=TIMEOUT)
    identified = {"resourceType": "Patient",
                  "identifier": [{"system": "urn:agency:mrn", "value": "A-17"}]}
    headers = {"If-None-Exist": "identifier=urn:agency:mrn|A-17"}
    posted = requests.post(f"{server.base_url}/Patient", json=identified, headers=headers,
                           timeout=TIMEOUT)
    reposted = requests.post(f"{server.base_url}/Patient", json=identified, headers=headers,
                             timeout=TIMEOUT)
    mismatch = requests.put(f"{server.base_url}/Patient/p9", json=patient("p1"),
                            timeout=TIMEOUT)

    assert created.status_code == 201
    assert created.headers["Location"] == f"{server.base_url}/Patient/p1/_history/1"
    assert created.json()["meta"]["versionId"] == "1"
    assert (posted.status_code, reposted.status_code) == (201, 200)
    assert reposted.json()["id"] == posted.json()["id"]
    assert mismatch.status_code == 400
    assert len(server.resources) == 2


def test_summary_page_and_metadata(server):
    post_bundle(server, transaction(put(patient("p1")), put(patient("p2"))))
    metadata = requests.get(f"{server.base_url}/metadata", timeout=TIMEOUT).json()
    summary = requests.get(f"http://127.0.0.1:{server.port}/", timeout=TIMEOUT).json()

    assert metadata["resourceType"] == "CapabilityStatement"
    assert metadata["fhirVersion"] == "4.0.1"
    assert summary["name"] == "pcp"
    assert summary["resources"] == {"Patient": 2}
    assert summary["requests_received"] == 2
    assert [(r["method"], r["path"], r["status"], r["bundle_id"], r["entries"])
            for r in summary["recent_requests"]] == [
        ("POST", "/fhir", 200, "b1", 2), ("GET", "/fhir/metadata", 200, None, None)]
    assert len(server.requests) == 2  # the summary page does not record itself


def test_reset_forgets_everything(server):
    post_bundle(server, transaction(put(patient("p1"))))
    post_bundle(server, transaction(put(patient("p1"))))
    server.fail_next(5)

    server.reset()

    assert (server.resources, server.versions, server.applied, server.duplicates,
            server.requests) == ({}, {}, [], 0, [])
    assert post_bundle(server, transaction(put(patient("p1")))).status_code == 200


def test_ipv6_loopback_works():
    try:
        server = ReceivingFhirServer("v6", host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        assert server.base_url == f"http://[::1]:{server.port}/fhir"
        response = requests.get(f"{server.base_url}/metadata", timeout=TIMEOUT)
        assert response.status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "localhost",
                                  "example.org"])
def test_non_loopback_hosts_are_refused(host):
    with pytest.raises(ValueError, match="loopback|not an IP address"):
        ReceivingFhirServer("pcp", host=host)


def test_main_refuses_a_non_loopback_host(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--host", "0.0.0.0"])

    assert exited.value.code == 2
    assert "not a loopback address" in capsys.readouterr().err

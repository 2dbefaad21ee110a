"""Every authenticated /fhir request leaves an AuditEvent, before its answer is sent."""
from __future__ import annotations

from gateway.audit.verify import verify_chain
from tests.api.builders import patient


def audit_events(client, auth, query=""):
    return client.get(f"/fhir/AuditEvent?_count=100&{query}", headers=auth).get_json()


def test_operator_reads_and_writes_are_audited(app, client, auth):
    created = client.post("/fhir/Patient", json=patient(), headers=auth)
    patient_id = created.get_json()["id"]
    assert client.get(f"/fhir/Patient/{patient_id}", headers=auth).status_code == 200
    found = audit_events(client, auth, f"entity=Patient/{patient_id}")
    kinds = sorted((e["resource"]["subtype"][0]["code"], e["resource"]["action"])
                   for e in found["entry"])
    assert kinds == [("create", "C"), ("read", "R")]
    agent = found["entry"][0]["resource"]["agent"][0]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"]["value"] == "operator-key-1"
    # The AuditEvent search was audited too (after its answer was ready), and the chain holds.
    with app.extensions["gateway"].session_factory() as session:
        result = verify_chain(session)
    assert result.intact and result.entries == 3


def test_failed_requests_are_audited_with_their_outcome(client, auth):
    assert client.get("/fhir/Patient/nobody", headers=auth).status_code == 404
    assert client.get("/fhir/Patient?bogus=1", headers=auth).status_code == 400
    events = [e["resource"] for e in audit_events(client, auth, "outcome=4")["entry"]]
    assert sorted(e["outcomeDesc"] for e in events) == ["answered HTTP 400",
                                                         "answered HTTP 404"]


def test_unauthenticated_and_public_requests_write_nothing(client, auth):
    assert client.get("/fhir/Patient").status_code == 401
    assert client.get("/fhir/metadata").status_code == 200
    assert audit_events(client, auth)["total"] == 0


def test_no_answer_leaves_without_its_audit_event(app, client, auth, monkeypatch):
    import gateway.audit.access as access

    created = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()

    def broken(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(access, "audit_request", broken)
    response = client.get(f"/fhir/Patient/{created['id']}", headers=auth)
    assert response.status_code == 500
    assert "Martínez".encode() not in response.data
    assert created["id"].encode() not in response.data
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_operator_searches_and_history_name_what_they_returned(client, auth):
    created = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    team = client.post("/fhir/CareTeam", json={
        "resourceType": "CareTeam", "subject": {"reference": f"Patient/{created['id']}"}},
        headers=auth).get_json()
    assert client.get(f"/fhir/CareTeam?patient=Patient/{created['id']}",
                      headers=auth).get_json()["total"] == 1
    assert client.get(f"/fhir/CareTeam/{team['id']}/_history", headers=auth).status_code == 200
    found = audit_events(client, auth, f"entity=CareTeam/{team['id']}")["entry"]
    kinds = sorted(e["resource"]["subtype"][0]["code"] for e in found)
    assert kinds == ["create", "history-instance", "search-type"]
    search = next(e["resource"] for e in found
                  if e["resource"]["subtype"][0]["code"] == "search-type")
    assert {e["what"]["reference"] for e in search["entity"]} == {
        f"Patient/{created['id']}", f"CareTeam/{team['id']}"}


def test_every_event_the_requests_recorded_is_valid_r4(app, client, auth):
    """The per-request accounting stores its events without validating each (log.record):
    what a spread of requests recorded must be valid R4 all the same."""
    from gateway.config import PROJECT_ROOT
    from gateway.fhir.validation import Validator, has_errors

    created = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    client.get(f"/fhir/Patient/{created['id']}", headers=auth)
    client.get(f"/fhir/Patient?_id={created['id']}", headers=auth)
    client.get("/fhir/Patient/nobody", headers=auth)
    client.get("/fhir/Patient?bogus=1", headers=auth)
    client.delete(f"/fhir/Patient/{created['id']}", headers=auth)
    client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": []},
                headers=auth)
    events = [e["resource"] for e in audit_events(client, auth)["entry"]]
    assert len(events) >= 7
    validator = Validator(PROJECT_ROOT / "profiles")
    for event in events:
        issues = validator.validate(event, expected_type="AuditEvent")
        assert not has_errors(issues), [(i.expression, i.diagnostics) for i in issues]


def test_an_answer_waits_for_its_audit_event_commit_and_fails_if_it_fails(app, client, auth,
                                                                          monkeypatch):
    """The journal's own write failing (the database refusing it) is a 500 without the data,
    not an answer with its record lost; once the journal works again, so do the answers."""
    from gateway.fhir.journal import Journal

    created = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    real_write = Journal._write

    def refused(self, entries):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Journal, "_write", refused)
    response = client.get(f"/fhir/Patient/{created['id']}", headers=auth)
    assert response.status_code == 500
    assert created["id"].encode() not in response.data
    assert response.get_json()["resourceType"] == "OperationOutcome"
    monkeypatch.setattr(Journal, "_write", real_write)
    assert client.get(f"/fhir/Patient/{created['id']}", headers=auth).status_code == 200
    reads = audit_events(client, auth, f"entity=Patient/{created['id']}&subtype=read")
    assert reads["total"] == 1  # the refused read left no record, the answered one did

"""Court orders: the court posts a Task and the ServiceRequest it orders; the agency receives
it, hands a referral to the case-management system, and adds the probation officer to the
care team where the consumer's consents let the court see the team."""
from __future__ import annotations

import json

from tests.conftest import OPERATOR_KEY

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def court_headers(get_token, scope: str) -> tuple[dict[str, str], str]:
    answer = get_token("court-probate", scope=scope).get_json()
    return {"Authorization": f"Bearer {answer['access_token']}"}, answer["scope"]


def team_visible_to_court(client, headers, patient: str) -> bool:
    found = client.get(f"/fhir/CareTeam?patient=Patient/{patient}", headers=headers).get_json()
    return found["total"] > 0


def order(patient: str, court_org: str) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b7d3f2c-8f0e-4a7e-9d55-0c3f6d1b2a11", "request": {
            "method": "POST", "url": "ServiceRequest"}, "resource": {
            "resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "contained": [{"resourceType": "Practitioner", "id": "po", "name": [
                {"family": "Okafor", "given": ["Grace"]}], "telecom": [
                {"system": "phone", "value": "517-555-0188"},
                {"system": "email", "value": "gokafor@riverbend.example"}]}],
            "code": {"text": "Court-ordered outpatient mental health treatment"},
            "subject": {"reference": f"Patient/{patient}"},
            "requester": {"reference": "#po"},
            "reasonCode": [{"text": "Probation condition, case 26-CR-0142"}]}},
        {"fullUrl": "urn:uuid:7a0c1e55-2f3b-4b0e-8f6a-9e1d2c3b4a55", "request": {
            "method": "POST", "url": "Task"}, "resource": {
            "resourceType": "Task", "status": "requested", "intent": "order",
            "priority": "urgent",
            "focus": {"reference": "urn:uuid:0b7d3f2c-8f0e-4a7e-9d55-0c3f6d1b2a11"},
            "for": {"reference": f"Patient/{patient}"},
            "requester": {"reference": f"Organization/{court_org}"},
            "authoredOn": "2026-11-30T10:00:00Z"}}]}


def test_a_court_order_becomes_a_referral_and_adds_the_officer_where_consent_allows(
        app, client, config, demo_agency, get_token):
    court = demo_agency["court-probate"]
    headers, scope = court_headers(get_token, "system/Task.write system/ServiceRequest.write "
                                              "system/CareTeam.read")
    assert set(scope.split()) == {"system/Task.c", "system/ServiceRequest.c",
                                  "system/CareTeam.read"}
    teams = client.get("/fhir/CareTeam?_count=500", headers=OPERATOR).get_json()["entry"]
    patients = [t["resource"]["subject"]["reference"].split("/")[1] for t in teams]
    shared = next(p for p in patients if team_visible_to_court(client, headers, p))
    unshared = next(p for p in patients if not team_visible_to_court(client, headers, p))

    def participants(patient: str) -> list[dict]:
        return client.get(f"/fhir/CareTeam?patient=Patient/{patient}", headers=OPERATOR
                          ).get_json()["entry"][0]["resource"].get("participant", [])

    unshared_before = participants(unshared)
    outbox = config.var_dir / "local-outbox"
    for patient in (shared, unshared):
        answer = client.post("/fhir", json=order(patient, court.organization), headers=headers)
        assert answer.status_code == 200, answer.get_json()
        task_id = answer.get_json()["entry"][1]["response"]["location"].split("/")[1]
        task = client.get(f"/fhir/Task/{task_id}", headers=OPERATOR).get_json()
        assert task["status"] == "received"
        assert task["owner"]["reference"].startswith("Organization/")
        assert "court-order" in {t["code"] for t in task["meta"]["tag"]}
        referral = json.loads(next(outbox.glob(f"CO-*{task_id[:8]}*.referral.json"))
                              .read_text())
        assert referral["type"] == "referral" and referral["direction"] == "incoming"
        assert referral["source"] == "ORG-COURT-PROBATE" and referral["urgency"] == "urgent"
        assert referral["consumer"].startswith("C-")

    def officers(patient: str) -> list[dict]:
        team = client.get(f"/fhir/CareTeam?patient=Patient/{patient}",
                          headers=OPERATOR).get_json()["entry"][0]["resource"]
        return [p for p in team.get("participant", [])
                if any(c.get("code") == "probation-officer" for r in p.get("role", [])
                       for c in r.get("coding", []))]

    added = [p for p in officers(shared) if "Okafor" in json.dumps(p) or _member_is(
        client, p, "Okafor")]
    assert len(added) == 1
    assert participants(unshared) == unshared_before  # no officer, by name or otherwise
    assert len(list(outbox.glob("*.assignment.json"))) == 1


def _member_is(client, participant: dict, family: str) -> bool:
    reference = (participant.get("member") or {}).get("reference")
    if not reference:
        return False
    member = client.get(f"/fhir/{reference}", headers=OPERATOR).get_json()
    return any(n.get("family") == family for n in member.get("name", []))


def test_a_court_may_only_create_its_orders(client, demo_agency, get_token):
    headers, _ = court_headers(get_token, "system/Task.write system/CarePlan.write")
    plan = {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/x"}}
    assert client.post("/fhir/CarePlan", json=plan, headers=headers).status_code == 403
    task = {"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order"}
    assert client.put("/fhir/Task/t1", json=task, headers=headers).status_code == 403
    school = get_token("school-walnut", scope="system/Task.write system/CareTeam.read")
    assert school.get_json()["scope"] == "system/CareTeam.read"

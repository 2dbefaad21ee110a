"""A revocation counts at the next request, whichever way the Consent changed.

Partners' grants are cached until the Consent change counter moves (GrantsCache); a database
trigger moves it. These tests change Consents through REST delete and a local-record import
after the partner's grants were cached, and check the next request (a REST update is
test_leak_matrix.py's test_a_revocation_takes_effect_with_the_next_request).
"""
from __future__ import annotations

import json

from sqlalchemy import text

from gateway.adapters.local_files import iter_records
from gateway.local.pipeline import RecordImporter, organizations_first
from gateway.local.translate import translator_for
from gateway.privacy.enforcement import consent_changes
from tests.conftest import OPERATOR_KEY

from .test_demo_partners import consumers_with_care_teams

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def changes(app) -> int | None:
    with app.extensions["gateway"].session_factory() as session:
        return consent_changes(session)


def partner_headers(get_token, partner_id="pcp-cedar"):
    token = get_token(partner_id, scope="system/CareTeam.read")
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def consented_patient(client, organization: str) -> tuple[str, dict]:
    """A consumer with a care team and an active Consent to ``organization`` covering it."""
    teams = consumers_with_care_teams(client)
    consents = client.get(f"/fhir/Consent?actor=Organization/{organization}&status=active"
                          f"&_count=500", headers=OPERATOR).get_json()["entry"]
    for entry in consents:
        consent = entry["resource"]
        if consent["patient"]["reference"] in teams and any(
                c["code"] == "CareTeam" for c in consent["provision"]["class"]):
            return consent["patient"]["reference"], consent
    raise AssertionError("the demo data has no consented consumer with a care team")


def test_consent_writes_move_the_counter_and_other_writes_do_not(app, client):
    before = changes(app)
    patient = client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=OPERATOR)
    assert changes(app) == before
    consent = {"resourceType": "Consent", "status": "active",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "consentscope", "code": "patient-privacy"}]},
               "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
               # ppc-1 (R4): a Consent names a policy or a policyRule.
               "policyRule": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
                   "code": "hipaa-auth"}]},
               "patient": {"reference": f"Patient/{patient.get_json()['id']}"}}
    created = client.post("/fhir/Consent", json=consent, headers=OPERATOR).get_json()
    first = changes(app)
    assert first is not None and first != before
    updated = client.put(f"/fhir/Consent/{created['id']}", json={**created, "status": "inactive"},
                         headers=OPERATOR)
    assert updated.status_code == 200
    second = changes(app)
    assert second not in (before, first)
    assert client.delete(f"/fhir/Consent/{created['id']}", headers=OPERATOR).status_code in (
        200, 204)
    assert changes(app) not in (before, first, second)


def test_the_counter_comes_back_when_its_row_is_gone(app, client):
    with app.extensions["gateway"].engine.begin() as connection:
        connection.execute(text("DELETE FROM change_counter"))
    assert changes(app) is None
    created = client.post("/fhir/Consent", json={
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "policyRule": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
            "code": "hipaa-auth"}]}},
        headers=OPERATOR)
    assert created.status_code == 201, created.get_json()
    assert changes(app) == 1


def test_a_revocation_by_rest_delete_counts_at_the_next_request(client, demo_agency,
                                                                get_token):
    headers = partner_headers(get_token)
    patient, consent = consented_patient(client, demo_agency["pcp-cedar"].organization)
    path = f"/fhir/CareTeam?patient={patient}"
    assert client.get(path, headers=headers).get_json()["total"] >= 1  # grants now cached
    assert client.delete(f"/fhir/Consent/{consent['id']}", headers=OPERATOR).status_code in (
        200, 204)
    assert client.get(path, headers=headers).get_json()["total"] == 0


def test_a_revocation_imported_from_the_local_system_counts_at_the_next_request(
        app, client, config, demo_agency, get_token, tmp_path):
    headers = partner_headers(get_token)
    patient, consent = consented_patient(client, demo_agency["pcp-cedar"].organization)
    path = f"/fhir/CareTeam?patient={patient}"
    assert client.get(path, headers=headers).get_json()["total"] >= 1  # grants now cached

    # The local consent record behind that Consent, revoked (on a past date), imported again.
    local_id = next(i["value"] for i in consent["identifier"])
    records = [json.loads(line) for line in
               (config.fixtures_dir / "agency" / "consents.ndjson").read_text().splitlines()
               if line.strip()]
    record = next(r for r in records if r["id"] == local_id)
    revoked = {**record, "revoked_on": "2026-01-01", "updated_at": "2026-12-01T00:00:00Z"}
    (tmp_path / "consents.ndjson").write_text(json.dumps(revoked) + "\n")
    state = app.extensions["gateway"]
    outcomes = list(RecordImporter(state, translator_for(config)).run(
        organizations_first(lambda: iter_records([tmp_path]))))
    assert [o.status for o in outcomes] == ["accepted"], outcomes

    assert client.get(path, headers=headers).get_json()["total"] == 0

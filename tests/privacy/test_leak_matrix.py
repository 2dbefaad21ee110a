"""The leak matrix: every partner kind x every resource type x every consent state, through
read, search, _include/_revinclude and history, against an oracle written from the rules
(not from the code): zero forbidden disclosures, no permitted one refused.

One consumer per consent state; each has a Consent of that state to every demo partner (for
that partner's own purpose of use) and one resource of each type, some of them labelled as
substance-use-disorder records.
"""
from __future__ import annotations

import pytest

from tests.partners.conftest import partner_file

from .leak_world import (
    OPERATOR,
    PARTNERS,
    PURPOSE,
    SHOWN,
    bearer,
    expected_visible,
)


@pytest.mark.parametrize("partner_id", PARTNERS)
def test_reads_and_history_disclose_exactly_what_the_rules_allow(client, world, get_token,
                                                                 partner_id):
    partner = partner_file(partner_id)
    headers = bearer(get_token, partner_id)
    wrong = []
    for state, resource in world:
        path = f"/fhir/{resource['resourceType']}/{resource['id']}"
        # Hidden is 404 whether or not the resource exists; a type the partner's token can
        # never reach is 403 for every id, so neither answer tells that a resource exists.
        status = 200 if expected_visible(partner, state, resource) else (
            404 if resource["resourceType"] in partner["resource_types"] else 403)
        read = client.get(path, headers=headers)
        history = client.get(f"{path}/_history", headers=headers)
        if read.status_code != status:
            wrong.append(f"read {path}: {read.status_code}, expected {status}")
        if history.status_code != status:
            wrong.append(f"history {path}: {history.status_code}, expected {status}")
    # The same answers for ids that do not exist at all.
    for resource_type in ("CareTeam", "Condition"):
        missing = client.get(f"/fhir/{resource_type}/no-such-id", headers=headers).status_code
        if missing != (404 if resource_type in partner["resource_types"] else 403):
            wrong.append(f"read of a missing {resource_type}: {missing}")
    assert not wrong, f"{partner_id}:\n" + "\n".join(wrong)

    # Every one of those requests (two per resource, two for missing ids) has its AuditEvent,
    # naming the partner's Organization; each disclosed resource is an entity of one of them.
    audit = client.get(f"/fhir/AuditEvent?agent=Organization/{partner['organization']}"
                       f"&_count=1000", headers=OPERATOR).get_json()
    assert audit["total"] == 2 * len(world) + 2
    events = [e["resource"] for e in audit["entry"]]
    assert all(e["purposeOfEvent"][0]["coding"][0]["code"] == PURPOSE[partner_id]
               for e in events)
    entities = {entity["what"]["reference"] for e in events if e["outcome"] == "0"
                for entity in e.get("entity", []) if "what" in entity}
    for state, resource in world:
        if expected_visible(partner, state, resource):
            assert f"{resource['resourceType']}/{resource['id']}" in entities
    refused = [e for e in events if e["outcome"] == "4"]
    assert len(refused) == 2 * sum(1 for s, r in world if not expected_visible(partner, s, r)) + 2


@pytest.mark.parametrize("partner_id", PARTNERS)
def test_searches_count_and_include_only_what_the_rules_allow(client, world, get_token,
                                                              partner_id):
    partner = partner_file(partner_id)
    headers = bearer(get_token, partner_id)
    visible = {(r["resourceType"], r["id"]) for state, r in world
               if expected_visible(partner, state, r)}
    wrong = []
    for resource_type in sorted({r["resourceType"] for _, r in world}):
        response = client.get(f"/fhir/{resource_type}?_count=500", headers=headers)
        if response.status_code == 403:  # the token's scopes do not reach this type
            if any(t == resource_type for t, _ in visible):
                wrong.append(f"search {resource_type}: 403 although some are visible")
            continue
        bundle = response.get_json()
        found = {(resource_type, e["resource"]["id"]) for e in bundle.get("entry", [])}
        want = {key for key in visible if key[0] == resource_type}
        if found != want or bundle["total"] != len(want):
            wrong.append(f"search {resource_type}: got {sorted(found)} (total "
                         f"{bundle['total']}), want {sorted(want)}")
        history = client.get(f"/fhir/{resource_type}/_history?_count=500", headers=headers)
        if history.status_code == 200:
            seen = {(resource_type, e["resource"]["id"])
                    for e in history.get_json().get("entry", []) if "resource" in e}
            if not seen <= want:
                wrong.append(f"type history {resource_type} shows {sorted(seen - want)}")
    # _include and _revinclude add only visible resources, and all the visible ones they reach.
    if ("CareTeam" in SHOWN[partner["type"]]):
        bundle = client.get("/fhir/CareTeam?_include=CareTeam:subject&_count=500",
                            headers=headers).get_json()
        included = {(e["resource"]["resourceType"], e["resource"]["id"])
                    for e in bundle.get("entry", []) if e["search"]["mode"] == "include"}
        teams = [r for s, r in world if r["resourceType"] == "CareTeam"
                 and ("CareTeam", r["id"]) in visible]
        want = {("Patient", t["subject"]["reference"].split("/")[1]) for t in teams} & visible
        if included != want:
            wrong.append(f"_include CareTeam:subject: got {sorted(included)}, want "
                         f"{sorted(want)}")
        bundle = client.get("/fhir/Patient?_revinclude=CareTeam:subject&_count=500",
                            headers=headers).get_json()
        revincluded = {(e["resource"]["resourceType"], e["resource"]["id"])
                       for e in bundle.get("entry", []) if e["search"]["mode"] == "include"}
        want = {("CareTeam", t["id"]) for t in teams
                if ("Patient", t["subject"]["reference"].split("/")[1]) in visible}
        if revincluded != want:
            wrong.append(f"_revinclude CareTeam:subject: got {sorted(revincluded)}, want "
                         f"{sorted(want)}")
        # A chained search through a hidden Patient finds nothing.
        hidden = client.get("/fhir/CareTeam?patient.name=None", headers=headers).get_json()
        if hidden.get("total"):
            wrong.append("chained search reached a consumer without consent")
    assert not wrong, f"{partner_id}:\n" + "\n".join(wrong)


def test_what_is_disclosed_is_trimmed_and_part2_content_carries_the_notice(client, world,
                                                                           get_token):
    school = bearer(get_token, "school-walnut")
    team = client.get("/fhir/CareTeam/careteam-main-active", headers=school).get_json()
    assert "note" not in team  # clinical content is not for a school
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "REDACTED", "display": "redacted"} in team["meta"]["security"]
    patient = client.get("/fhir/Patient/p-active", headers=school).get_json()
    assert "address" not in patient and patient["name"][0]["family"] == "Active"

    pcp = bearer(get_token, "pcp-cedar")
    sud_goal = client.get("/fhir/Goal/goal-sud-part2", headers=pcp).get_json()
    notices = [e for e in sud_goal["meta"].get("extension", [])
               if e["url"].endswith("redisclosure-notice")]
    assert notices and "42 CFR part 2" in notices[0]["valueString"]
    plain = client.get("/fhir/Goal/goal-home-part2", headers=pcp).get_json()
    assert "extension" not in plain.get("meta", {})
    # A plan's reference to an SUD goal is labelled inline: removed without Part 2 consent.
    plan = client.get("/fhir/CarePlan/careplan-main-active", headers=pcp).get_json()
    assert plan["goal"] == [{"reference": "Goal/goal-home-active"}]
    assert any(s["code"] == "REDACTED" for s in plan["meta"]["security"])
    plan = client.get("/fhir/CarePlan/careplan-main-part2", headers=pcp).get_json()
    assert [g["reference"] for g in plan["goal"]] == ["Goal/goal-sud-part2",
                                                       "Goal/goal-home-part2"]
    assert "security" not in plan.get("meta", {})
    # The operator sees the stored resource untouched.
    stored = client.get("/fhir/CareTeam/careteam-main-active", headers=OPERATOR).get_json()
    assert stored["note"] == [{"text": "clinical"}]


def test_a_revocation_takes_effect_with_the_next_request(client, world, get_token):
    headers = bearer(get_token, "pcp-cedar")
    path = "/fhir/CareTeam?patient=Patient/p-active"
    assert client.get(path, headers=headers).get_json()["total"] == 1
    consent_path = "/fhir/Consent/consent-active-pcp-cedar"
    revoked = {**client.get(consent_path, headers=OPERATOR).get_json(), "status": "inactive"}
    assert client.put(consent_path, json=revoked, headers=OPERATOR).status_code == 200
    assert client.get(path, headers=headers).get_json()["total"] == 0
    assert client.get("/fhir/CareTeam/careteam-main-active", headers=headers).status_code == 404


def test_partners_cannot_write_or_reach_hidden_data_through_bundles(client, world, get_token):
    headers = bearer(get_token, "pcp-cedar")
    write = client.put("/fhir/Patient/p-active", json={"resourceType": "Patient",
                                                         "id": "p-active"}, headers=headers)
    assert write.status_code == 403
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "CareTeam/careteam-main-none"}},
        {"request": {"method": "GET", "url": "CareTeam/careteam-main-active"}},
        {"request": {"method": "GET", "url": "Condition?patient=Patient/p-active"}},
        {"request": {"method": "DELETE", "url": "Patient/p-active"}},
    ]}
    answer = client.post("/fhir", json=batch, headers=headers).get_json()
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses[0].startswith("404") and statuses[1].startswith("200")
    assert statuses[2].startswith("403") and statuses[3].startswith("403")
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "CareTeam/careteam-main-active"}},
        {"request": {"method": "DELETE", "url": "Patient/p-active"}}]}
    assert client.post("/fhir", json=transaction, headers=headers).status_code == 403
    assert client.get("/fhir/Patient/p-active", headers=OPERATOR).status_code == 200


@pytest.mark.parametrize("partner_id", PARTNERS)
def test_deliveries_send_exactly_what_the_rules_allow(app, world, partners, partner_id):
    """The delivery engine asks the same decision point what it may send a partner."""
    from gateway.partners.registry import principal_for
    from gateway.privacy.enforcement import AccessPolicy

    partner = partner_file(partner_id)
    state = app.extensions["gateway"]
    wrong = []
    with state.session_factory() as session:
        policy = AccessPolicy(principal_for(partners[partner_id], PURPOSE[partner_id]),
                              session, state.config.fhir_base_url)
        for state_name, resource in world:
            sent = policy.outbound(resource)
            if (sent is not None) != expected_visible(partner, state_name, resource):
                wrong.append(f"delivery of {resource['resourceType']}/{resource['id']}: "
                             f"{'sent' if sent is not None else 'withheld'}")
    assert not wrong, f"{partner_id}:\n" + "\n".join(wrong)


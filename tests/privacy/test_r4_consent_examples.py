"""The R4 specification's Consent examples, pointed at the demo partners, disclose what the R4
rules say through read, search, _include, history and the delivery engine; the ones the gateway
cannot read in full are in the problems list (HTTP and CLI); each disclosure's AuditEvent names
the Consent it relied on; the preview tells an operator the same."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from tests.partners.conftest import partner_file

from .leak_world import DIRECTORY, OPERATOR, PARTNERS, PURPOSE, SHOWN, bearer, consumer_resources
from .r4_examples import (
    AGENCY,
    EXAMPLES,
    PROBLEMS,
    RECIPIENT_PARTNER,
    name_of,
    patient_of,
    permits,
    retargeted,
)

NAMES = [name_of(example) for example in EXAMPLES]


def visible(partner: dict, name: str | None, resource: dict) -> bool:
    """Minimum necessary (as the leak matrix states it), then the example's R4 reading."""
    resource_type = resource["resourceType"]
    if resource_type not in SHOWN[partner["type"]] or \
            resource_type not in partner["resource_types"]:
        return False
    if name is None:
        return True
    if partner["type"] == "school" and resource_type == "Goal" and \
            "tag" not in resource.get("meta", {}):
        return False
    return permits(name, partner["type"], resource)


@pytest.fixture
def r4_world(client, partners):
    recipient = partner_file(RECIPIENT_PARTNER)["organization"]
    directory = [r for r in DIRECTORY if r["resourceType"] != "AuditEvent"] + [
        {"resourceType": "Organization", "id": AGENCY, "name": "The agency"}] + [
        {"resourceType": "Organization", "id": p.organization, "name": p.name}
        for p in partners.values()]
    everything: list[tuple[str | None, dict]] = [(None, r) for r in directory]
    for example in EXAMPLES:
        name = name_of(example)
        for resource in consumer_resources(name):
            if resource["resourceType"] == "Patient":
                resource["id"] = patient_of(name)
            elif "subject" in resource:
                resource["subject"] = {"reference": f"Patient/{patient_of(name)}"}
            elif "for" in resource:
                resource["for"] = {"reference": f"Patient/{patient_of(name)}"}
            elif "patient" in resource:
                resource["patient"] = {"reference": f"Patient/{patient_of(name)}"}
            if resource["resourceType"] == "CarePlan":  # its goals keep their ids
                for goal in resource["goal"]:
                    goal["reference"] = goal["reference"]
            everything.append((name, resource))
        everything.append(("consent", retargeted(example, recipient)))
    for _, resource in sorted(everything, key=lambda item: (
            item[1]["resourceType"] == "CarePlan", item[1]["resourceType"] == "Consent")):
        response = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}",
                              json=resource, headers=OPERATOR)
        assert response.status_code in (200, 201), (resource["id"], response.get_json())
    return [(name, r) for name, r in everything if name != "consent"]


@pytest.mark.parametrize("partner_id", PARTNERS)
def test_reads_history_and_searches_follow_the_r4_reading(client, r4_world, get_token,
                                                          partner_id):
    partner = partner_file(partner_id)
    headers = bearer(get_token, partner_id)
    wrong = []
    want = {(r["resourceType"], r["id"]) for name, r in r4_world if visible(partner, name, r)}
    for name, resource in r4_world:
        path = f"/fhir/{resource['resourceType']}/{resource['id']}"
        expected = 200 if (resource["resourceType"], resource["id"]) in want else (
            404 if resource["resourceType"] in partner["resource_types"] else 403)
        for answer in (client.get(path, headers=headers),
                       client.get(f"{path}/_history", headers=headers)):
            if answer.status_code != expected:
                wrong.append(f"{path} ({name}): {answer.status_code}, expected {expected}")
    for resource_type in sorted({r["resourceType"] for _, r in r4_world}):
        response = client.get(f"/fhir/{resource_type}?_count=500", headers=headers)
        if response.status_code == 403:
            continue
        bundle = response.get_json()
        found = {(resource_type, e["resource"]["id"]) for e in bundle.get("entry", [])}
        expected = {key for key in want if key[0] == resource_type}
        if found != expected or bundle["total"] != len(expected):
            wrong.append(f"search {resource_type}: {sorted(found)} (total {bundle['total']}),"
                         f" expected {sorted(expected)}")
    if "CareTeam" in SHOWN[partner["type"]]:
        bundle = client.get("/fhir/CareTeam?_include=CareTeam:subject&_count=500",
                            headers=headers).get_json()
        included = {(e["resource"]["resourceType"], e["resource"]["id"])
                    for e in bundle.get("entry", []) if e["search"]["mode"] == "include"}
        expected = {key for key in want if key[0] == "Patient" and any(
            ("CareTeam", f"careteam-main-{key[1].removeprefix('p-r4-')}") in want
            for _ in [0])}
        if included != expected:
            wrong.append(f"_include: {sorted(included)}, expected {sorted(expected)}")
    assert not wrong, f"{partner_id}:\n" + "\n".join(wrong)


def test_the_examples_disclose_something_to_someone(r4_world):
    """The oracle is not vacuous: the R4 way of writing a consent works."""
    pcp = partner_file("pcp-cedar")
    hospital = partner_file("hospital-stbrigid")
    assert visible(pcp, "basic", {"resourceType": "CareTeam", "id": "careteam-main-basic"})
    assert visible(hospital, "notThis", {"resourceType": "Task", "id": "task-main-notThis"})
    assert not visible(hospital, "notThis", {"resourceType": "CareTeam", "id": "x"})


@pytest.mark.parametrize("partner_id", PARTNERS)
def test_deliveries_send_what_the_r4_reading_allows(app, r4_world, partners, partner_id):
    from gateway.partners.registry import principal_for
    from gateway.privacy.enforcement import AccessPolicy

    partner = partner_file(partner_id)
    state = app.extensions["gateway"]
    with state.session_factory() as session:
        policy = AccessPolicy(principal_for(partners[partner_id], PURPOSE[partner_id]),
                              session, state.config.fhir_base_url)
        wrong = [f"{r['resourceType']}/{r['id']}" for name, r in r4_world
                 if (policy.outbound(r) is not None) != visible(partner, name, r)]
    assert not wrong, f"{partner_id}: {wrong}"


def test_each_disclosure_names_the_consent_it_relied_on(client, r4_world, get_token):
    headers = bearer(get_token, "pcp-cedar")
    assert client.get("/fhir/CareTeam/careteam-main-basic", headers=headers).status_code == 200
    organization = partner_file("pcp-cedar")["organization"]
    events = client.get(f"/fhir/AuditEvent?agent=Organization/{organization}&_sort=-date"
                        f"&_count=1", headers=OPERATOR).get_json()["entry"]
    entities = events[0]["resource"]["entity"]
    consent = [e for e in entities if e["what"].get("reference", "").startswith("Consent/")]
    assert [e["what"]["reference"] for e in consent] == ["Consent/r4-basic"]
    assert consent[0]["type"]["code"] == "Consent"


def test_consents_the_gateway_cannot_read_are_listed_for_operators(client, r4_world):
    response = client.get("/admin/consents/problems", headers=OPERATOR)
    assert response.status_code == 200
    listed = {p["consent_id"]: p for p in response.get_json()["problems"]}
    assert set(listed) == {f"r4-{name}" for name in PROBLEMS}
    for name, fragments in PROBLEMS.items():
        text = " ".join(listed[f"r4-{name}"]["problems"])
        assert all(fragment in text for fragment in fragments), (name, text)
    assert listed["r4-pkb"]["counts_as"] == "deny: grants nothing"
    # A consent naming an Organization that is not a registered partner.
    stranger = retargeted(EXAMPLES[5], "not-a-partner")  # notOrg, aimed elsewhere
    stranger["id"] = "r4-stranger"
    assert client.put("/fhir/Organization/not-a-partner", json={
        "resourceType": "Organization", "id": "not-a-partner", "name": "Elsewhere"},
        headers=OPERATOR).status_code == 201
    assert client.put("/fhir/Consent/r4-stranger", json=stranger,
                      headers=OPERATOR).status_code == 201
    problems = client.get("/admin/consents/problems", headers=OPERATOR).get_json()["problems"]
    stranger_problem = next(p for p in problems if p["consent_id"] == "r4-stranger")
    assert any("not a registered partner" in text for text in stranger_problem["problems"])
    assert stranger_problem["counts_as"] == "deny: names no registered partner"
    # Partners may not ask.
    assert client.get("/admin/consents/problems").status_code == 401


def test_the_preview_tells_who_sees_what_and_why(client, r4_world):
    response = client.get(f"/admin/consumers/{patient_of('basic')}/disclosure-preview",
                          headers=OPERATOR)
    assert response.status_code == 200
    views = {(v["partner"], v["purpose"]): v for v in response.get_json()["partners"]}
    pcp = views[("pcp-cedar", "TREAT")]
    seen = {item["resource"]: item for item in pcp["sees"]}
    assert seen["CareTeam/careteam-main-basic"]["consents"] == ["Consent/r4-basic"]
    assert "CareTeam/careteam-sud-basic" not in seen  # SUD content: no Part 2 consent
    school = views[("school-walnut", "COC")]
    assert school["sees"] == []
    assert any("needs a consent that names it" in item["why"] for item in school["withheld"])
    only = client.get(f"/admin/consumers/{patient_of('basic')}/disclosure-preview"
                      f"?partner=court-probate", headers=OPERATOR).get_json()
    assert {v["partner"] for v in only["partners"]} == {"court-probate"}
    assert client.get("/admin/consumers/nobody/disclosure-preview",
                      headers=OPERATOR).status_code == 404


def test_the_cli_lists_problems_and_explains(config, monkeypatch, r4_world):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", config.database_url)

    def run_cli(*arguments: str):
        return CliRunner().invoke(cli, list(arguments))

    problems = run_cli("consents", "problems", "--json")
    assert problems.exit_code == 0, problems.output
    listed = [json.loads(line) for line in problems.stdout.splitlines()]
    assert {p["consent_id"] for p in listed} == {f"r4-{name}" for name in PROBLEMS}
    explained = run_cli("consents", "explain", patient_of("basic"), "--partner", "pcp-cedar")
    assert explained.exit_code == 0, explained.output
    assert "sees     CareTeam/careteam-main-basic: consent Consent/r4-basic" in explained.stdout
    missing = run_cli("consents", "explain", "nobody")
    assert missing.exit_code != 0 and "nobody" in missing.output

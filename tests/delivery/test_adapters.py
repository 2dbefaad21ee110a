"""The demo agency's deliveries to each kind of partner: primary care over FHIR, the school and
the court into drop folders, each holding exactly what the partner may receive."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from gateway.partners.registry import PartnerRegistry
from tests.conftest import OPERATOR_KEY

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def visible_to(client, get_token, partner_id: str, resource_type: str) -> set[str]:
    """Patient ids whose ``resource_type`` the partner's own query would return: deliveries
    must go to exactly the consumers the decision point shows the partner."""
    token = get_token(partner_id, scope=f"system/{resource_type}.read").get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    patients = set()
    for patient_id in having(client, resource_type):
        found = client.get(f"/fhir/{resource_type}?patient=Patient/{patient_id}",
                           headers=headers).get_json()
        if found["total"]:
            patients.add(patient_id)
    return patients


def having(client, resource_type: str) -> set[str]:
    bundle = client.get(f"/fhir/{resource_type}?_count=1000", headers=OPERATOR).get_json()
    return {e["resource"]["subject"]["reference"].split("/")[1] for e in bundle["entry"]}


def test_each_kind_receives_its_consented_consumers_in_its_form(app, client, config,
                                                                demo_agency, receiver,
                                                                make_worker, get_token):
    state = app.extensions["gateway"]
    with state.session_factory() as session, session.begin():
        registry = PartnerRegistry(session)
        pcp = registry.get("pcp-cedar")
        registry.put(replace(pcp, endpoints={"fhir_base": receiver.base_url}))
    summary = make_worker(batch_size=100).run(once=True)
    assert summary.counts.get("sent", 0) > 0 and "dead" not in summary.counts

    # Primary care: a plan bundle for every consumer consented to it, and for no one else.
    expected = visible_to(client, get_token, "pcp-cedar", "CarePlan") | visible_to(
        client, get_token, "pcp-cedar", "CareTeam")
    delivered = {resource["subject"]["reference"].split("/")[1]
                 for (type_, _), resource in receiver.resources.items()
                 if type_ in ("CarePlan", "CareTeam")}
    assert expected and delivered == expected
    for (type_, _), resource in receiver.resources.items():
        assert type_ in {"Patient", "CarePlan", "CareTeam", "Goal", "ServiceRequest",
                         "Practitioner", "PractitionerRole", "Organization", "RelatedPerson"}
        if type_ != "Patient":
            continue
        systems = {i["system"] for i in resource.get("identifier", [])}
        assert not any("school" in s or "court" in s or "stbrigid" in s for s in systems)

    # The school: JSON and CSV files per consented student, care team and tagged goals only.
    inbox = config.var_dir / "partners" / "school-walnut" / "inbox"
    documents = sorted(inbox.glob("*.json"))
    school = visible_to(client, get_token, "school-walnut", "CareTeam") | visible_to(
        client, get_token, "school-walnut", "Goal")
    students: set[str] = set()
    for path in documents:
        bundle = json.loads(path.read_text())
        types = {e["resource"]["resourceType"] for e in bundle["entry"]}
        assert types <= {"Patient", "CareTeam", "Goal", "Practitioner", "PractitionerRole",
                         "RelatedPerson", "Organization"}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] in ("CareTeam", "Goal"):
                students.add(resource["subject"]["reference"].split("/")[1])
            if resource["resourceType"] == "Patient":
                assert set(resource) <= {"resourceType", "id", "meta", "identifier", "active",
                                         "name", "birthDate"}
            if resource["resourceType"] == "Goal":
                assert {"system": "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-tag",
                        "code": "school-relevant"} in [
                    {"system": t["system"], "code": t["code"]}
                    for t in resource["meta"]["tag"]]
        members = path.with_name(path.stem + "-care-team.csv")
        rows = list(csv.DictReader(io.StringIO(members.read_text())))
        assert rows and all(row["member"] for row in rows)
    assert school and students == school
    assert not list(inbox.glob(".*.tmp"))  # nothing half-written left behind

    # The court: a compliance summary document per consented consumer with a plan.
    court_inbox = config.var_dir / "partners" / "court-probate" / "inbox"
    court = visible_to(client, get_token, "court-probate", "CarePlan") | visible_to(
        client, get_token, "court-probate", "CareTeam")
    assert court
    summaries = [json.loads(p.read_text()) for p in court_inbox.glob("*.json")]
    assert {s["entry"][0]["resource"]["subject"]["reference"].split("/")[1]
            for s in summaries} == court
    for document in summaries:
        assert document["type"] == "document"
        composition = document["entry"][0]["resource"]
        assert [s["title"] for s in composition["section"]] == [
            "Plan status", "Services, last 30 days", "Next plan review"]
        assert "scheduled: " in composition["section"][1]["text"]["div"]
        # The demo's court consents share the care team, services and attendance, not the
        # plan: no plan status or review date, but the count of scheduled services.
        assert composition["section"][0]["text"]["div"].endswith(">not shared</div>")
        assert "scheduled: not shared" not in composition["section"][1]["text"]["div"]
        types = {e["resource"]["resourceType"] for e in document["entry"][1:]}
        assert types <= {"Patient", "CarePlan", "CareTeam"}
        for entry in document["entry"][1:]:
            if entry["resource"]["resourceType"] == "CarePlan":
                assert not {"goal", "activity", "note", "extension"} & set(entry["resource"])


def test_a_school_with_a_fhir_endpoint_gets_the_team_and_tagged_goals_as_fhir(
        app, receiver, make_worker):
    from .conftest import consent, consumer_records, put, register

    register(app, {"id": "school-fhir", "type": "school", "name": "District FHIR",
                   "organization": "org-school-fhir", "purposes": ["COC"],
                   "endpoints": {"fhir_base": receiver.base_url},
                   "resource_types": ["Patient", "CareTeam", "Goal", "Practitioner"]})
    records = consumer_records("p-student")
    for resource in records:
        put(app, resource)
    tag = {"system": "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-tag",
           "code": "school-relevant"}
    put(app, {"resourceType": "Goal", "id": "goal-school", "lifecycleStatus": "active",
              "meta": {"tag": [tag]}, "description": {"text": "Go to class every day"},
              "subject": {"reference": "Patient/p-student"}, "note": [{"text": "clinical"}]})
    put(app, consent("p-student", "org-school-fhir", purpose="COC"))
    assert make_worker().run(once=True).counts == {"sent": 1}
    # The untagged goal (goal-p-student) and the plan stay home.
    assert set(receiver.resources) == {("Patient", "p-student"), ("CareTeam", "team-p-student"),
                                       ("Goal", "goal-school")}
    goal = receiver.resources[("Goal", "goal-school")]
    assert "note" not in goal  # minimum necessary: a school sees no clinical notes
    assert any(s.get("code") == "REDACTED" for s in goal["meta"]["security"])

"""Getting local records in: `gateway import` and `POST /local/records`, end to end."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from gateway.cli import cli
from gateway.db.models import ResourceVersionRow
from tests.conftest import OPERATOR_KEY

STAMP = "2026-03-01T09:00:00Z"
ORGANIZATION = {"type": "organization", "id": "ORG-T", "updated_at": STAMP,
                "name": "Test Community Mental Health", "kind": "agency"}
STAFF = {"type": "staff", "id": "S-T1", "updated_at": STAMP,
         "name": {"family": "Okafor", "given": ["Adaeze"]}, "roles": ["case-manager"],
         "organization": "ORG-T"}
CONSUMER = {"type": "consumer", "id": "C-T1", "updated_at": STAMP,
            "name": {"family": "Martínez", "given": ["Elena"]}, "birth_date": "1988-04-12",
            "gender": "female", "identifiers": {"agency_number": "C-T1"},
            "application_date": "2026-01-05"}
ASSIGNMENT = {"type": "assignment", "id": "A-T1", "updated_at": STAMP, "consumer": "C-T1",
              "role": "case-manager", "member": {"staff": "S-T1"}, "start": "2026-01-15",
              "chosen_by": "consumer"}


def run_import(config, *paths, rejects: Path | None = None):
    env = {"GATEWAY_DATABASE_URL": config.database_url}
    args = ["import", *map(str, paths)] + (["--rejects", str(rejects)] if rejects else [])
    return CliRunner().invoke(cli, args, env=env)


def versions(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(ResourceVersionRow)) or 0


def write_ndjson(path: Path, *records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def test_the_demo_agency_imports_cleanly_and_reimports_unchanged(app, config, session_factory,
                                                                 tmp_path):
    first = run_import(config, "fixtures/agency", rejects=tmp_path / "rejects.ndjson")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("accepted ")
    accepted = int(first.stdout.split()[1].rstrip(","))
    assert accepted >= 100
    assert "rejected 0" in first.stdout
    assert not (tmp_path / "rejects.ndjson").exists()
    stored_versions = versions(session_factory)

    again = run_import(config, "fixtures/agency")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"accepted 0, unchanged {accepted}, rejected 0"
    assert versions(session_factory) == stored_versions  # nothing new was written


def test_a_bad_record_never_blocks_the_good_ones(app, client, auth, config, tmp_path):
    bad_schema = {**CONSUMER, "id": "C-T2", "birth_date": "1988-13-40"}
    bad_code = {**ASSIGNMENT, "id": "A-T2", "role": "no-such-role"}
    source = write_ndjson(tmp_path / "records.ndjson", ORGANIZATION, STAFF, CONSUMER,
                          bad_schema, ASSIGNMENT, bad_code)
    (tmp_path / "broken.ndjson").write_text("{not json\n")
    rejects = tmp_path / "rejects.ndjson"
    result = run_import(config, tmp_path / "records.ndjson", tmp_path / "broken.ndjson",
                        rejects=rejects)
    assert result.exit_code == 1
    assert result.stdout.startswith("accepted 4, unchanged 0, rejected 3")
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    by_id = {line["id"]: line for line in lines}
    assert by_id["C-T2"]["reasons"][0]["path"] == "birth_date"
    assert by_id["C-T2"]["record"] == bad_schema
    assert any("role" in reason["path"] for reason in by_id["A-T2"]["reasons"])
    assert by_id[None]["source"].endswith("broken.ndjson:1")
    assert source.exists()
    patients = client.get("/fhir/Patient?identifier=C-T1", headers=auth).get_json()
    assert patients["total"] == 1
    assert client.get("/fhir/Patient?identifier=C-T2", headers=auth).get_json()["total"] == 0
    teams = client.get("/fhir/CareTeam", headers=auth).get_json()
    assert teams["total"] == 1


def test_a_changed_record_makes_a_new_version(app, client, auth, config, tmp_path):
    write_ndjson(tmp_path / "a.ndjson", ORGANIZATION, CONSUMER)
    assert run_import(config, tmp_path / "a.ndjson").exit_code == 0
    renamed = {**CONSUMER, "updated_at": "2026-04-01T09:00:00Z",
               "name": {"family": "Martínez-Ruiz", "given": ["Elena"]}}
    write_ndjson(tmp_path / "b.ndjson", renamed)
    result = run_import(config, tmp_path / "b.ndjson")
    assert result.stdout.strip() == "accepted 1, unchanged 0, rejected 0"
    patient = client.get("/fhir/Patient?identifier=C-T1", headers=auth).get_json()
    resource = patient["entry"][0]["resource"]
    assert resource["name"][0]["family"] == "Martínez-Ruiz"
    assert resource["meta"]["versionId"] == "2"


def test_post_local_records_reports_each_outcome(app, client):
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    body = [ORGANIZATION, STAFF, {**CONSUMER, "birth_date": "soon"}, CONSUMER]
    response = client.post("/local/records", json=body, headers=headers)
    assert response.status_code == 200
    result = response.get_json()
    assert result["summary"] == {"accepted": 3, "unchanged": 0, "rejected": 1}
    assert [o["status"] for o in result["outcomes"]] == ["accepted", "accepted", "rejected",
                                                         "accepted"]
    assert result["outcomes"][2]["reasons"][0]["path"] == "birth_date"
    assert any(r.startswith("Patient/") for r in result["outcomes"][3]["resources"])
    again = client.post("/local/records", json=CONSUMER, headers=headers).get_json()
    assert again["summary"] == {"accepted": 0, "unchanged": 1, "rejected": 0}


def test_post_local_records_takes_ndjson_and_refuses_bad_input(app, client):
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    ndjson = json.dumps(ORGANIZATION) + "\n\n{oops\n"
    response = client.post("/local/records", data=ndjson,
                           headers={**headers, "Content-Type": "application/x-ndjson"})
    outcomes = response.get_json()["outcomes"]
    assert [o["status"] for o in outcomes] == ["accepted", "rejected"]
    assert outcomes[1]["source"] == "request:3"
    assert client.post("/local/records", data="{", headers={
        **headers, "Content-Type": "application/json"}).status_code == 400
    assert client.post("/local/records", data="x", headers={
        **headers, "Content-Type": "text/csv"}).status_code == 415
    assert client.post("/local/records", json=[]).status_code == 401


def test_workflows_run_refreshes_due_tasks(app, client, auth, config):
    assert run_import(config, "fixtures/agency").exit_code == 0
    env = {"GATEWAY_DATABASE_URL": config.database_url}
    result = CliRunner().invoke(cli, ["workflows", "run"], env=env)
    assert result.exit_code == 0, result.output
    consumers, tasks, changed, flagged = (int(word) for word in result.stdout.split()
                                          if word.isdigit())
    assert consumers >= 40 and tasks >= consumers
    assert changed == 0  # the import already wrote today's Tasks
    assert flagged == 0  # no hospital referrals in the demo agency
    review = client.get("/fhir/Task?code=plan-review&_count=1", headers=auth).get_json()
    assert review["total"] >= 1
    task = review["entry"][0]["resource"]
    assert task["restriction"]["period"]["end"]
    assert task["businessStatus"]["text"] in ("due", "overdue", "on-time", "late")


def test_a_chunk_rebuilds_each_consumers_care_team_once(app, client, auth):
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    second = {**ASSIGNMENT, "id": "A-T3", "role": "therapist", "chosen_by": "consumer"}
    body = [ORGANIZATION, STAFF, CONSUMER, ASSIGNMENT, second]
    result = client.post("/local/records", json=body, headers=headers).get_json()
    assert result["summary"] == {"accepted": 5, "unchanged": 0, "rejected": 0}
    # Both assignments name the CareTeam they changed, built once from both of them.
    for outcome in result["outcomes"][3:]:
        assert any(r.startswith("CareTeam/") for r in outcome["resources"])
    team = client.get("/fhir/CareTeam", headers=auth).get_json()["entry"][0]["resource"]
    assert team["meta"]["versionId"] == "1"
    assert len(team["participant"]) == 2


def test_a_failed_rebuild_is_pinned_on_its_record_in_a_chunk(app, client):
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    bad = {**ASSIGNMENT, "id": "A-T9", "role": "no-such-role"}
    body = [ORGANIZATION, STAFF, CONSUMER, ASSIGNMENT, bad,
            {**CONSUMER, "id": "C-T5", "identifiers": {"agency_number": "C-T5"}}]
    result = client.post("/local/records", json=body, headers=headers).get_json()
    assert [o["status"] for o in result["outcomes"]] == [
        "accepted", "accepted", "accepted", "accepted", "rejected", "accepted"]
    assert any("role" in r["path"] for r in result["outcomes"][4]["reasons"])
    assert any(r.startswith("CareTeam/") for r in result["outcomes"][3]["resources"])


def test_a_record_twice_in_one_chunk_is_applied_in_order(app, client, auth):
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    renamed = {**CONSUMER, "name": {"family": "Martínez-Ruiz", "given": ["Elena"]}}
    body = [ORGANIZATION, STAFF, CONSUMER, renamed]
    result = client.post("/local/records", json=body, headers=headers).get_json()
    assert result["summary"] == {"accepted": 4, "unchanged": 0, "rejected": 0}
    patient = client.get("/fhir/Patient?identifier=C-T1", headers=auth).get_json()
    stored = patient["entry"][0]["resource"]
    assert stored["name"][0]["family"] == "Martínez-Ruiz"
    assert stored["meta"]["versionId"] == "2"


def test_a_record_that_cannot_be_mapped_is_rejected_alone_in_a_chunk(app, client, auth):
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    unmappable = {**STAFF, "id": "S-T9", "roles": ["no-such-role"]}
    body = [ORGANIZATION, STAFF, unmappable, CONSUMER, ASSIGNMENT]
    result = client.post("/local/records", json=body, headers=headers).get_json()
    assert [o["status"] for o in result["outcomes"]] == [
        "accepted", "accepted", "rejected", "accepted", "accepted"]
    assert result["outcomes"][2]["reasons"][0]["path"].startswith("roles")
    practitioners = client.get("/fhir/Practitioner", headers=auth).get_json()
    assert practitioners["total"] == 1

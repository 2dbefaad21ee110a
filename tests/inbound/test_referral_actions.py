"""The referral loop walked by an operator, over HTTP (``POST /admin/referrals/{id}/{action}``)
and with the CLI (``gateway referrals accept|...|complete ID``): completion writes Task.output
(the follow-up Encounter and the FUH 7- and 30-day windows), and the hospital that made the
referral sees the status, the reason and the output (BSeR feedback)."""
from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from tests.inbound.conftest import davinci_example
from tests.inbound.test_closed_loop import hospital_endpoint  # noqa: F401 - the fixture
from tests.inbound.test_process_message import process, referral_tasks

OUTPUT = "http://fhir-care-gateway.example/fhir/CodeSystem/referral-output"
# The Da Vinci example's discharge: 2018-10-23, so FUH due 2018-10-30 and 2018-11-22.
DISCHARGED = "2018-10-23"


@pytest.fixture
def referral(client, auth, demo_agency, hospital_headers) -> dict[str, Any]:
    assert process(client, davinci_example(), hospital_headers).status_code == 200
    [task] = referral_tasks(client, auth)
    return task


def act(client, auth, task_id: str, action: str, **body: Any):
    return client.post(f"/admin/referrals/{task_id}/{action}", json=body, headers=auth)


def done(response) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def outputs(task: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for output in task["output"]:
        [code] = [c["code"] for c in output["type"]["coding"] if c["system"] == OUTPUT]
        found[code] = output.get("valueReference", output.get("valueBoolean"))
    return found


def test_the_loop_over_http_with_a_hold_and_a_visit_entered_by_date(client, auth, referral):
    task_id = referral["id"]
    assert done(act(client, auth, task_id, "accept"))["status"] == "accepted"
    started = done(act(client, auth, task_id, "start"))
    assert started["status"] == "in-progress" and "start" in started["executionPeriod"]
    refused = act(client, auth, task_id, "hold")
    assert refused.status_code == 422
    assert refused.get_json()["issue"][0]["expression"] == ["Task.statusReason"]
    held = done(act(client, auth, task_id, "hold", reason="Consumer in respite care"))
    assert (held["status"], held["statusReason"]) == ("on-hold",
                                                     {"text": "Consumer in respite care"})
    resumed = done(act(client, auth, task_id, "resume"))
    assert resumed["status"] == "in-progress" and "statusReason" not in resumed

    completed = done(act(client, auth, task_id, "complete", encounterDate="2018-10-27"))

    assert completed["status"] == "completed" and "end" in completed["executionPeriod"]
    found = outputs(completed)
    assert found["fuh-7-day"] is True and found["fuh-30-day"] is True
    visit = client.get(f"/fhir/{found['follow-up-encounter']['reference']}",
                       headers=auth).get_json()
    assert (visit["status"], visit["period"]["start"]) == ("finished", "2018-10-27")
    assert visit["subject"] == referral["for"]
    assert visit["basedOn"] == [referral["focus"]]


def test_completion_finds_the_follow_up_in_the_local_record(client, auth, referral):
    patient = referral["for"]["reference"]
    for encounter_id, day, status in (("same-day", DISCHARGED, "finished"),
                                      ("planned", "2018-10-25", "planned"),
                                      ("day-12", "2018-11-04", "finished"),
                                      ("day-20", "2018-11-12", "finished")):
        put = client.put(f"/fhir/Encounter/{encounter_id}", headers=auth, json={
            "resourceType": "Encounter", "id": encounter_id, "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": patient}, "period": {"start": day}})
        assert put.status_code == 201, put.get_json()
    done(act(client, auth, referral["id"], "accept"))

    completed = done(act(client, auth, referral["id"], "complete"))

    found = outputs(completed)
    # Not the day of discharge (FUH does not count it), not a planned visit: day 12.
    assert found["follow-up-encounter"] == {"reference": "Encounter/day-12",
                                            "display": "Follow-up visit on 2018-11-04"}
    assert found["fuh-7-day"] is False and found["fuh-30-day"] is True


def test_completion_without_a_follow_up_is_refused(client, auth, referral):
    done(act(client, auth, referral["id"], "accept"))
    before = client.get(f"/fhir/Task/{referral['id']}", headers=auth).get_json()

    refused = act(client, auth, referral["id"], "complete")

    assert refused.status_code == 422
    assert "no finished follow-up Encounter" in refused.get_json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Task/{referral['id']}", headers=auth).get_json() == before


def test_a_refused_step_and_bad_requests(client, auth, referral, hospital_headers):
    refused = act(client, auth, referral["id"], "resume")
    assert refused.status_code == 422 and "nothing to resume" in \
        refused.get_json()["issue"][0]["diagnostics"]
    assert act(client, auth, referral["id"], "start").status_code == 422  # not accepted yet
    assert act(client, auth, referral["id"], "teleport").status_code == 404
    assert act(client, auth, "no-such-task", "accept").status_code == 404
    assert act(client, auth, referral["id"], "accept", encounterDate="soon").status_code == 400
    assert act(client, hospital_headers, referral["id"], "accept").status_code == 403
    assert client.post(f"/admin/referrals/{referral['id']}/accept").status_code == 401


def test_an_operator_marks_a_referral_entered_in_error(client, auth, referral):
    done(act(client, auth, referral["id"], "accept"))
    assert act(client, auth, referral["id"], "entered-in-error").status_code == 422
    task = done(act(client, auth, referral["id"], "entered-in-error",
                    reason="Sent for the wrong patient"))
    assert task["status"] == "entered-in-error"


def test_the_hospital_sees_status_reason_and_output(client, auth, referral, hospital_headers,
                                                    hospital_endpoint, make_worker):  # noqa: F811
    done(act(client, auth, referral["id"], "accept"))
    done(act(client, auth, referral["id"], "complete", encounterDate="2018-11-10",
             reason="Seen by the intake clinician"))

    make_worker().run(once=True)

    reported = hospital_endpoint.resources[("Task", referral["id"])]
    assert reported["status"] == "completed"
    assert reported["statusReason"] == {"text": "Seen by the intake clinician"}
    found = outputs(reported)
    assert found["fuh-7-day"] is False and found["fuh-30-day"] is True
    assert found["follow-up-encounter"]["display"] == "Follow-up visit on 2018-11-10"
    # Still only the referral's status: no consumer, no clinical inputs.
    assert not {"input", "for", "description", "focus", "encounter"} & set(reported)
    # BSeR identifiers: ours (FILL) and the hospital's encounter (PLAC).
    assert {i["type"]["coding"][0]["code"] for i in reported["identifier"]} == {"FILL", "PLAC"}
    # And the same when the hospital reads it here.
    read = client.get(f"/fhir/Task/{referral['id']}", headers=hospital_headers).get_json()
    assert outputs(read) == found and "for" not in read


def test_the_loop_walked_with_the_cli(config, client, auth, referral):
    env = {"GATEWAY_DATABASE_URL": config.database_url, "GATEWAY_VAR_DIR": str(config.var_dir)}

    def gateway(*args: str):
        return CliRunner().invoke(cli, ["referrals", *args], env=env)

    task_id = referral["id"]
    accepted = gateway("accept", task_id)
    assert accepted.exit_code == 0, accepted.output
    assert f"referral Task/{task_id} is accepted" in accepted.output
    assert gateway("start", task_id).exit_code == 0
    no_reason = gateway("hold", task_id)
    assert no_reason.exit_code == 1 and "statusReason" in no_reason.output
    assert "Traceback" not in no_reason.output
    assert gateway("hold", task_id, "--reason", "In respite care").exit_code == 0
    assert gateway("resume", task_id).exit_code == 0
    bad_date = gateway("complete", task_id, "--encounter-date", "next week")
    assert bad_date.exit_code == 2

    completed = gateway("complete", task_id, "--encounter-date", "2018-10-29")

    assert completed.exit_code == 0, completed.output
    assert "is completed" in completed.output and "within 7 days" in completed.output
    task = client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()
    assert task["status"] == "completed" and outputs(task)["fuh-7-day"] is True
    again = gateway("cancel", task_id, "--reason", "too late")
    assert again.exit_code == 1 and "final status" in again.output
    help_text = CliRunner().invoke(cli, ["referrals", "--help"], env=env).output
    for action in ("accept", "reject", "start", "hold", "resume", "complete", "cancel",
                   "fail", "entered-in-error", "list", "flag-overdue"):
        assert action in help_text


def test_a_local_referral_without_fuh_deadlines_completes_without_windows(client, auth):
    operator_records = [
        {"type": "organization", "id": "ORG-T", "updated_at": "2026-11-01T09:00:00Z",
         "name": "Test Community Mental Health", "kind": "agency"},
        {"type": "consumer", "id": "C-R1", "updated_at": "2026-11-01T09:00:00Z",
         "name": {"family": "Reyes", "given": ["Ana"]}, "birth_date": "1990-02-03",
         "gender": "female", "identifiers": {"agency_number": "C-R1"},
         "application_date": "2026-10-05"},
        {"type": "referral", "id": "R-T1", "updated_at": "2026-11-20T09:00:00Z",
         "consumer": "C-R1", "direction": "incoming", "reason": "Self-referral",
         "received_on": "2026-11-20", "status": "pending"}]
    imported = client.post("/local/records", json=operator_records, headers=auth).get_json()
    [task_ref] = [r for r in imported["outcomes"][2]["resources"] if r.startswith("Task/")]
    task_id = task_ref.partition("/")[2]
    done(act(client, auth, task_id, "accept"))

    completed = done(act(client, auth, task_id, "complete", encounterDate="2026-11-20"))

    assert set(outputs(completed)) == {"follow-up-encounter"}
    assert json.dumps(completed).count("fuh-") == 0

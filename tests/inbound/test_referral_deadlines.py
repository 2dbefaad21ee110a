"""Open discharge referrals against their HEDIS FUH deadlines: listed most urgent first (in
Python, over HTTP for operators, on the command line) and flagged as overdue on the Task."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.auth import SYSTEM
from gateway.care import followup
from gateway.cli import cli
from gateway.mappings.codes import TASK_TYPE_SYSTEM
from gateway.workflows import referral_deadlines
from gateway.workflows.referral_deadlines import flag_overdue, open_referrals
from tests.inbound.test_referral_states import (
    PATIENT,
    REASON,
    given_parties,
    put,
    referral_task,
    walk,
)

TODAY = datetime.now(UTC).date()  # the day the gateway counts from (UTC, as the workflows do)

# id -> (days since discharge, the statuses it is written through)
OPEN = {"late-both-5": (35, ["requested", "received"]),
        "late-both-1": (31, ["requested"]),
        "late-7-20": (10, ["requested", "received", "accepted"]),
        "late-7-22": (8, ["requested", "received", "accepted", "in-progress"]),
        "due-today": (7, ["received"]),
        "fresh": (1, ["requested"])}
MOST_URGENT_FIRST = ["late-both-5", "late-both-1", "late-7-20", "late-7-22", "due-today",
                     "fresh"]
OVERDUE = MOST_URGENT_FIRST[:4]


def discharge_referral(task_id: str, status: str, days_ago: int, **overrides: Any
                       ) -> dict[str, Any]:
    due = followup.due_after(TODAY - timedelta(days=days_ago))
    return referral_task(task_id, status, extension=followup.extensions(due),
                         businessStatus={"text": "new referral"},
                         restriction={"period": {"start": due.discharged_on.isoformat(),
                                                 "end": due.within_30_days.isoformat()}},
                         **overrides)


@pytest.fixture
def referrals(client, auth) -> None:
    """Open discharge referrals at every distance from their deadlines, and Tasks that must
    not be listed: closed referrals, a referral without FUH deadlines, another kind of Task."""
    given_parties(client, auth)
    for task_id, (days_ago, statuses) in OPEN.items():
        for status in statuses:
            response = put(client, auth, discharge_referral(task_id, status, days_ago))
            assert response.status_code in (200, 201), response.get_json()
    for task_id, statuses in (("closed-completed", ["requested", "received", "accepted",
                                                    "in-progress", "completed"]),
                              ("closed-cancelled", ["requested", "cancelled"])):
        for status in statuses:
            put(client, auth, discharge_referral(task_id, status, 20, statusReason=REASON))
        assert client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()["status"] == \
            statuses[-1]
    walk(client, auth, "local-referral", "requested")  # imported kind: no FUH extensions
    review = {"coding": [{"system": TASK_TYPE_SYSTEM, "code": "plan-review"}]}
    assert put(client, auth, discharge_referral("plan-review", "requested", 40,
                                                code=review)).status_code == 201


def ids(found) -> list[str]:
    return [item.task_id for item in found]


def version_of(client, auth, task_id: str) -> str:
    return client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()["meta"]["versionId"]


# -- listing -----------------------------------------------------------------------------------

def test_open_referrals_are_listed_most_urgent_first(app, referrals):
    found = open_referrals(app.extensions["gateway"], TODAY)
    assert ids(found) == MOST_URGENT_FIRST
    by_id = {item.task_id: item for item in found}
    both = by_id["late-both-5"]
    assert both.discharged_on == TODAY - timedelta(days=35)
    assert (both.due_7_day, both.due_30_day) == (TODAY - timedelta(days=28),
                                                 TODAY - timedelta(days=5))
    assert (both.next_deadline, both.days_left) == (both.due_30_day, -5)
    assert both.overdue == ("7-day", "30-day")
    assert (both.patient, both.status, both.business_status) == (
        f"Patient/{PATIENT}", "received", "new referral")
    assert (by_id["late-7-20"].overdue, by_id["late-7-20"].days_left) == (("7-day",), 20)
    assert by_id["late-7-20"].status == "accepted"
    assert by_id["late-7-22"].status == "in-progress"
    # The day of the deadline is still in time.
    assert (by_id["due-today"].overdue, by_id["due-today"].days_left) == ((), 0)
    assert (by_id["fresh"].next_deadline, by_id["fresh"].days_left) == (
        TODAY + timedelta(days=6), 6)


def test_only_the_overdue_ones_when_asked(app, referrals):
    found = open_referrals(app.extensions["gateway"], TODAY, overdue_only=True)
    assert ids(found) == OVERDUE
    assert all(item.overdue for item in found)
    later = open_referrals(app.extensions["gateway"], TODAY + timedelta(days=30),
                           overdue_only=True)
    assert {item.task_id for item in later} == set(MOST_URGENT_FIRST)
    assert all(item.overdue == ("7-day", "30-day") for item in later)


def test_the_search_is_read_page_by_page(app, referrals, monkeypatch):
    monkeypatch.setattr(referral_deadlines, "_PAGE", 2)
    assert ids(open_referrals(app.extensions["gateway"], TODAY)) == MOST_URGENT_FIRST


def test_a_partial_deadline_date_is_left_out_not_fatal(app, client, auth, referrals):
    task = discharge_referral("partial", "requested", 3)
    task["extension"][0]["valueDate"] = "2026-12"
    assert put(client, auth, task).status_code == 201
    assert ids(open_referrals(app.extensions["gateway"], TODAY)) == MOST_URGENT_FIRST


# -- flagging ----------------------------------------------------------------------------------

def test_overdue_referrals_are_flagged_once(app, client, auth, referrals):
    state = app.extensions["gateway"]
    versions = {task_id: version_of(client, auth, task_id)
                for task_id in [*MOST_URGENT_FIRST, "closed-completed", "plan-review"]}
    assert flag_overdue(state, TODAY) == 4
    for task_id in MOST_URGENT_FIRST:
        task = client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()
        if task_id in OVERDUE:
            assert int(task["meta"]["versionId"]) == int(versions[task_id]) + 1
            assert task["status"] == OPEN[task_id][1][-1]  # the status is left alone
        else:
            assert task["meta"]["versionId"] == versions[task_id]
    text = {item.task_id: item.business_status for item in open_referrals(state, TODAY)}
    assert text == {"late-both-5": "30-day follow-up overdue",
                    "late-both-1": "30-day follow-up overdue",
                    "late-7-20": "7-day follow-up overdue",
                    "late-7-22": "7-day follow-up overdue",
                    "due-today": "new referral", "fresh": "new referral"}
    flagged_task = client.get("/fhir/Task/late-7-20", headers=auth).get_json()
    assert flagged_task["lastModified"] <= flagged_task["meta"]["lastUpdated"]
    assert "lastModified" not in client.get("/fhir/Task/fresh", headers=auth).get_json()
    flagged = flagged_task["businessStatus"]
    assert flagged["coding"][0] == {
        "system": "http://fhir-care-gateway.example/fhir/CodeSystem/referral-business-status",
        "code": "fuh-7-day-overdue", "display": "7-day follow-up overdue"}
    for task_id in ("closed-completed", "plan-review"):
        assert version_of(client, auth, task_id) == versions[task_id]

    # Idempotent: nothing changed, nothing written.
    after_first = {task_id: version_of(client, auth, task_id) for task_id in MOST_URGENT_FIRST}
    assert flag_overdue(state, TODAY) == 0
    assert {t: version_of(client, auth, t) for t in MOST_URGENT_FIRST} == after_first

    # Days later the 7-day flags turn into 30-day ones, and the rest become overdue.
    assert flag_overdue(state, TODAY + timedelta(days=23)) == 4
    late = client.get("/fhir/Task/late-7-22", headers=auth).get_json()["businessStatus"]
    assert late["text"] == "30-day follow-up overdue"
    assert client.get("/fhir/Task/fresh", headers=auth).get_json()["businessStatus"][
        "text"] == "7-day follow-up overdue"


def test_a_referral_changed_since_it_was_read_is_left_for_the_next_run(app, client, auth,
                                                                     referrals, monkeypatch):
    state = app.extensions["gateway"]
    with state.reading(SYSTEM) as repository:
        read_before = referral_deadlines.open_referral_tasks(repository)
    # An operator moves one on between the read and the flagging.
    assert put(client, auth, discharge_referral("late-both-1", "received", 31)).status_code == 200
    monkeypatch.setattr(referral_deadlines, "open_referral_tasks", lambda _: read_before)
    assert flag_overdue(state, TODAY) == 3
    task = client.get("/fhir/Task/late-both-1", headers=auth).get_json()
    assert (task["status"], task["businessStatus"]["text"]) == ("received", "new referral")
    monkeypatch.undo()
    assert flag_overdue(state, TODAY) == 1


# -- the operators' API ------------------------------------------------------------------------

def test_operators_get_the_list_over_http(client, auth, referrals):
    body = client.get("/admin/referrals", headers=auth).get_json()
    assert body["today"] == TODAY.isoformat()
    assert body["total"] == 6
    assert [r["task"] for r in body["referrals"]] == [f"Task/{t}" for t in MOST_URGENT_FIRST]
    first = body["referrals"][0]
    assert first == {"task": "Task/late-both-5", "patient": f"Patient/{PATIENT}",
                     "status": "received", "businessStatus": "new referral",
                     "dischargedOn": (TODAY - timedelta(days=35)).isoformat(),
                     "due7Day": (TODAY - timedelta(days=28)).isoformat(),
                     "due30Day": (TODAY - timedelta(days=5)).isoformat(),
                     "nextDeadline": (TODAY - timedelta(days=5)).isoformat(),
                     "daysLeft": -5, "overdue": ["7-day", "30-day"]}
    overdue = client.get("/admin/referrals?overdue=true&_count=3", headers=auth).get_json()
    assert overdue["total"] == 4
    assert [r["task"] for r in overdue["referrals"]] == [f"Task/{t}" for t in OVERDUE[:3]]
    assert client.get("/admin/referrals?overdue=maybe", headers=auth).status_code == 400
    assert client.get("/admin/referrals?_count=many", headers=auth).status_code == 400


def test_only_operators_see_the_list(client, referrals, get_token):
    assert client.get("/admin/referrals").status_code == 401
    token = get_token("hospital-stbrigid", scope="system/Task.read").get_json()
    partner = {"Authorization": f"Bearer {token['access_token']}"}
    refused = client.get("/admin/referrals", headers=partner)
    assert refused.status_code == 403
    assert refused.get_json()["issue"][0]["code"] == "forbidden"


# -- the command line --------------------------------------------------------------------------

def run(config, *args: str):
    return CliRunner().invoke(cli, ["referrals", *args],
                              env={"GATEWAY_DATABASE_URL": config.database_url})


def test_gateway_referrals_list(config, referrals):
    as_json = run(config, "list", "--json")
    assert as_json.exit_code == 0, as_json.output
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [line["task"] for line in lines] == [f"Task/{t}" for t in MOST_URGENT_FIRST]
    assert lines[2]["daysLeft"] == 20 and lines[2]["overdue"] == ["7-day"]

    table = run(config, "list", "--overdue")
    assert table.exit_code == 0, table.output
    rows = [line for line in table.stdout.splitlines() if line.strip()]
    assert rows[0].split()[:3] == ["Task", "Patient", "Status"]
    assert [row.split()[0] for row in rows[1:]] == OVERDUE
    assert rows[1].split()[1:3] == [f"Patient/{PATIENT}", "received"]
    assert "-5" in rows[1].split()
    assert f"4 open referrals past a deadline on {TODAY.isoformat()}" in table.stderr


def test_gateway_referrals_flag_overdue(client, auth, config, referrals):
    first = run(config, "flag-overdue")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "flagged 4 overdue referrals"
    assert client.get("/fhir/Task/late-both-1", headers=auth).get_json()["businessStatus"][
        "text"] == "30-day follow-up overdue"
    again = run(config, "flag-overdue")
    assert again.stdout.strip() == "flagged 0 overdue referrals"


@pytest.mark.parametrize("command", [[], ["list"], ["flag-overdue"]])
def test_gateway_referrals_has_help_and_usage_errors(command):
    assert CliRunner().invoke(cli, ["referrals", *command, "--help"]).exit_code == 0
    assert CliRunner().invoke(cli, ["referrals", *command, "--nonsense"]).exit_code == 2


def test_gateway_referrals_reports_an_unusable_database_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["referrals", "list"], env={
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert result.exit_code == 1
    assert result.stderr.startswith("gateway: error: ")
    assert len(result.stderr.strip().splitlines()) == 1

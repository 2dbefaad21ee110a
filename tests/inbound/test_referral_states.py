"""The closed loop of a referral Task, enforced on every write by operators and partners:
requested -> received -> accepted | rejected, accepted -> in-progress -> completed, and
cancelled or failed (with a reason) from any open status. The import of local referral
records (the case-management system owns its referrals) is not held to it."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import SYSTEM
from gateway.mappings.codes import PROFILE_TASK, TASK_REFERRAL, TASK_TYPE_SYSTEM
from gateway.workflows.referral_states import ALLOWED, check_transition, is_referral
from tests.conftest import OPERATOR_KEY

PATIENT = "p-referred"
LOCAL_ACCESS = "local-access"
SERVICE_REQUEST = "sr-follow-up"
REASON = {"text": "Moved out of the service area"}


def referral_task(task_id: str, status: str = "requested", **overrides: Any) -> dict[str, Any]:
    """A referral Task as the discharge workflow makes them (cmh-task, code referral)."""
    return {"resourceType": "Task", "id": task_id, "meta": {"profile": [PROFILE_TASK]},
            "status": status, "intent": "order", "code": {"coding": [dict(TASK_REFERRAL)]},
            "focus": {"reference": f"ServiceRequest/{SERVICE_REQUEST}"},
            "for": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2026-11-20",
            "owner": {"reference": f"Organization/{LOCAL_ACCESS}"}, **overrides}


def given_parties(client, auth) -> None:
    """The consumer, the Local Access unit and the ServiceRequest referral Tasks point at."""
    for resource in (
            {"resourceType": "Patient", "id": PATIENT, "name": [{"family": "Reyes"}]},
            {"resourceType": "Organization", "id": LOCAL_ACCESS, "name": "Local Access"},
            {"resourceType": "ServiceRequest", "id": SERVICE_REQUEST, "status": "active",
             "intent": "order", "subject": {"reference": f"Patient/{PATIENT}"}}):
        response = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}",
                              json=resource, headers=auth)
        assert response.status_code == 201, response.get_json()


@pytest.fixture
def parties(client, auth) -> None:
    given_parties(client, auth)


def put(client, auth, task: dict[str, Any]):
    return client.put(f"/fhir/Task/{task['id']}", json=task, headers=auth)


def walk(client, auth, task_id: str, *statuses: str, **overrides: Any) -> None:
    """Write the Task through ``statuses`` in turn, each write accepted."""
    for status in statuses:
        response = put(client, auth, referral_task(task_id, status, **overrides))
        assert response.status_code in (200, 201), (status, response.get_json())


def stored(client, auth, task_id: str) -> dict[str, Any]:
    return client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()


def refusal(response) -> dict[str, Any]:
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    [issue] = body["issue"]
    return issue


# -- allowed -----------------------------------------------------------------------------------

def test_a_referral_walks_the_whole_loop_one_step_at_a_time(client, auth, parties):
    walk(client, auth, "t1", "requested", "received", "accepted", "in-progress")
    # The same status with other changes is an ordinary update.
    note = {"note": [{"text": "First appointment on Thursday"}]}
    assert put(client, auth, referral_task("t1", "in-progress", **note)).status_code == 200
    assert put(client, auth, referral_task("t1", "completed", **note)).status_code == 200
    task = stored(client, auth, "t1")
    assert (task["status"], task["meta"]["versionId"]) == ("completed", "6")


def test_a_received_referral_may_be_rejected_with_a_reason(client, auth, parties):
    walk(client, auth, "t2", "requested", "received")
    response = put(client, auth, referral_task("t2", "rejected", statusReason=REASON))
    assert response.status_code == 200, response.get_json()
    assert stored(client, auth, "t2")["statusReason"] == REASON


@pytest.mark.parametrize("path", [["requested"], ["requested", "received"],
                                  ["requested", "received", "accepted"],
                                  ["requested", "received", "accepted", "in-progress"],
                                  ["draft"]])
@pytest.mark.parametrize("closing", ["cancelled", "failed"])
def test_any_open_referral_may_be_cancelled_or_failed_with_a_reason(client, auth, parties, path,
                                                                     closing):
    walk(client, auth, "t3", *path)
    response = put(client, auth, referral_task("t3", closing, statusReason=REASON))
    assert response.status_code == 200, response.get_json()
    assert stored(client, auth, "t3")["status"] == closing


@pytest.mark.parametrize("status", ["draft", "requested", "received"])
def test_a_new_referral_starts_as_draft_requested_or_received(client, auth, parties, status):
    posted = client.post("/fhir/Task", json={k: v for k, v in referral_task("x", status).items()
                                             if k != "id"}, headers=auth)
    assert posted.status_code == 201, posted.get_json()
    assert put(client, auth, referral_task("t4", status)).status_code == 201


# -- refused -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "to", "allowed"), [
    (["requested"], "completed", "received, cancelled or failed"),
    (["requested"], "accepted", "received, cancelled or failed"),
    (["requested", "received"], "in-progress", "accepted, rejected, cancelled or failed"),
    (["requested", "received", "accepted"], "requested", "in-progress, cancelled or failed"),
    (["requested", "received", "accepted", "in-progress"], "on-hold",
     "completed, cancelled or failed"),
])
def test_a_skipped_or_backward_step_is_refused_and_nothing_is_written(client, auth, parties,
                                                                      path, to, allowed):
    walk(client, auth, "t5", *path)
    before = stored(client, auth, "t5")
    issue = refusal(put(client, auth, referral_task("t5", to, statusReason=REASON)))
    assert issue["code"] == "business-rule"
    assert issue["expression"] == ["Task.status"]
    assert f"from '{path[-1]}' to '{to}'" in issue["diagnostics"]
    assert f"may go to {allowed}" in issue["diagnostics"]
    assert stored(client, auth, "t5") == before


FINAL_PATHS = {"completed": ["requested", "received", "accepted", "in-progress", "completed"],
               "rejected": ["requested", "received", "rejected"],
               "cancelled": ["requested", "cancelled"],
               "failed": ["requested", "received", "accepted", "failed"]}


@pytest.mark.parametrize(("final", "to"), [
    (final, to) for final in FINAL_PATHS
    for to in ("requested", "in-progress", "completed", "cancelled", "failed") if to != final])
def test_a_final_referral_never_changes_status(client, auth, parties, final, to):
    walk(client, auth, "t6", *FINAL_PATHS[final], statusReason=REASON)
    before = stored(client, auth, "t6")
    issue = refusal(put(client, auth, referral_task("t6", to, statusReason=REASON)))
    assert issue["expression"] == ["Task.status"]
    assert f"is {final}, a final status; it cannot change to '{to}'" in issue["diagnostics"]
    assert stored(client, auth, "t6") == before


@pytest.mark.parametrize(("path", "to"), [(["requested", "received"], "rejected"),
                                          (["requested"], "cancelled"),
                                          (["requested", "received", "accepted"], "failed")])
def test_rejecting_cancelling_or_failing_needs_a_status_reason(client, auth, parties, path, to):
    walk(client, auth, "t7", *path)
    before = stored(client, auth, "t7")
    issue = refusal(put(client, auth, referral_task("t7", to)))
    assert issue["code"] == "required"
    assert issue["expression"] == ["Task.statusReason"]
    assert stored(client, auth, "t7") == before
    # An empty reason is no reason.
    refusal(put(client, auth, referral_task("t7", to, statusReason={"coding": []})))


@pytest.mark.parametrize("status", ["accepted", "in-progress", "completed"])
def test_a_new_referral_cannot_start_further_along(client, auth, parties, status):
    issue = refusal(put(client, auth, referral_task("t8", status)))
    assert issue["expression"] == ["Task.status"]
    assert "starts as draft, requested or received" in issue["diagnostics"]
    assert client.get("/fhir/Task/t8", headers=auth).status_code == 404
    posted = client.post("/fhir/Task", json={k: v for k, v in referral_task("x", status).items()
                                             if k != "id"}, headers=auth)
    refusal(posted)


def test_a_referral_cannot_leave_the_loop_by_changing_its_code(client, auth, parties):
    walk(client, auth, "t9", "requested")
    review = {"coding": [{"system": TASK_TYPE_SYSTEM, "code": "plan-review"}]}
    issue = refusal(put(client, auth, referral_task("t9", "completed", code=review)))
    assert issue["expression"] == ["Task.code"]
    assert stored(client, auth, "t9")["status"] == "requested"


def test_a_deleted_referral_comes_back_as_a_new_one(client, auth, parties):
    walk(client, auth, "t10", "requested", "received", "accepted")
    assert client.delete("/fhir/Task/t10", headers=auth).status_code == 204
    refusal(put(client, auth, referral_task("t10", "in-progress")))
    assert put(client, auth, referral_task("t10", "requested")).status_code == 201


def test_other_tasks_are_not_held_to_the_loop(client, auth, parties):
    review = {"coding": [{"system": TASK_TYPE_SYSTEM, "code": "plan-review"}]}
    walk(client, auth, "t11", "requested", "completed", "requested", code=review)
    plain = {"resourceType": "Task", "id": "t12", "status": "completed", "intent": "order",
             "for": {"reference": f"Patient/{PATIENT}"}}
    assert put(client, auth, plain).status_code == 201
    assert put(client, auth, {**plain, "status": "in-progress"}).status_code == 200


def test_a_transaction_with_a_refused_step_writes_nothing(client, auth, parties):
    walk(client, auth, "t13", "requested")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "PUT", "url": "Patient/p-other"},
         "resource": {"resourceType": "Patient", "id": "p-other"}},
        {"request": {"method": "PUT", "url": "Task/t13"},
         "resource": referral_task("t13", "completed")}]}
    response = client.post("/fhir", json=bundle, headers=auth)
    issue = refusal(response)
    assert issue["expression"] == ["Bundle.entry[1].resource.status"]
    assert client.get("/fhir/Patient/p-other", headers=auth).status_code == 404
    assert stored(client, auth, "t13")["status"] == "requested"
    bundle["entry"][1]["resource"] = referral_task("t13", "received")
    assert client.post("/fhir", json=bundle, headers=auth).status_code == 200
    assert stored(client, auth, "t13")["status"] == "received"


def test_a_partner_is_held_to_the_loop_too(client, parties, get_token):
    answer = get_token("court-probate", scope="system/Task.write").get_json()
    court = {"Authorization": f"Bearer {answer['access_token']}"}
    task = {k: v for k, v in referral_task("x", "completed").items() if k != "id"}
    issue = refusal(client.post("/fhir/Task", json=task, headers=court))
    assert issue["expression"] == ["Task.status"]


# -- the case-management system's own referrals ------------------------------------------------

AGENCY = {"type": "organization", "id": "ORG-T", "updated_at": "2026-11-01T09:00:00Z",
          "name": "Test Community Mental Health", "kind": "agency"}
CONSUMER = {"type": "consumer", "id": "C-R1", "updated_at": "2026-11-01T09:00:00Z",
            "name": {"family": "Reyes", "given": ["Ana"]}, "birth_date": "1990-02-03",
            "gender": "female", "identifiers": {"agency_number": "C-R1"},
            "application_date": "2026-10-05"}
LOCAL_REFERRAL = {"type": "referral", "id": "R-T1", "updated_at": "2026-11-20T09:00:00Z",
                  "consumer": "C-R1", "direction": "incoming",
                  "reason": "Discharged after a psychiatric admission", "received_on": "2026-11-20",
                  "status": "pending"}


def test_an_imported_local_referral_may_jump_states(client, auth):
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    first = client.post("/local/records", json=[AGENCY, CONSUMER, LOCAL_REFERRAL],
                        headers=operator).get_json()
    assert first["summary"]["accepted"] == 3, first
    [task_ref] = [r for r in first["outcomes"][2]["resources"] if r.startswith("Task/")]
    task = client.get(f"/fhir/{task_ref}", headers=auth).get_json()
    assert is_referral(task) and task["status"] == "requested"
    # The same jump over the FHIR API is refused...
    issue = refusal(client.put(f"/fhir/{task_ref}", json={**task, "status": "completed"},
                               headers=auth))
    assert "from 'requested' to 'completed'" in issue["diagnostics"]
    # ...but the case-management system says what happened to its own referral (two versions
    # of the record in one batch are stored one after the other, through Repository.update).
    accepted = {**LOCAL_REFERRAL, "updated_at": "2026-11-24T09:00:00Z", "status": "accepted"}
    completed = {**LOCAL_REFERRAL, "updated_at": "2026-11-28T09:00:00Z", "status": "completed",
                 "status_reason": "Seen on 2026-11-26"}
    second = client.post("/local/records", json=[accepted, completed], headers=operator)
    assert second.get_json()["summary"]["accepted"] == 2, second.get_json()
    task = client.get(f"/fhir/{task_ref}", headers=auth).get_json()
    assert (task["status"], task["meta"]["versionId"]) == ("completed", "3")


def test_the_gateways_own_workflows_are_trusted(app, client, auth, parties):
    walk(client, auth, "t14", "requested")
    with app.extensions["gateway"].writing(SYSTEM) as repository:
        repository.update("Task", "t14", referral_task("t14", "in-progress"))
    assert stored(client, auth, "t14")["status"] == "in-progress"


# -- the rules themselves ----------------------------------------------------------------------

def test_the_loop_as_a_table():
    assert ALLOWED["requested"] == {"received", "cancelled", "failed"}
    assert ALLOWED["received"] == {"accepted", "rejected", "cancelled", "failed"}
    assert ALLOWED["accepted"] == {"in-progress", "cancelled", "failed"}
    assert ALLOWED["in-progress"] == {"completed", "cancelled", "failed"}
    for final in ("completed", "rejected", "cancelled", "failed"):
        assert ALLOWED[final] == frozenset()
    with pytest.raises(TypeError):
        ALLOWED["completed"] = frozenset({"requested"})  # type: ignore[index]


def test_check_transition_leaves_other_tasks_and_unknown_statuses_to_others():
    review = {"resourceType": "Task", "status": "completed",
              "code": {"coding": [{"system": TASK_TYPE_SYSTEM, "code": "plan-review"}]}}
    check_transition({**review, "status": "requested"}, review)
    check_transition(None, referral_task("t", "bogus"))  # validation reports a bad status
    assert not is_referral(None) and not is_referral(review)
    assert not is_referral({"resourceType": "ServiceRequest", "code": referral_task("t")["code"]})

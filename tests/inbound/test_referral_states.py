"""The closed loop of a referral Task, enforced on every write by operators and partners: the
Gravity SDOHCC / BSeR referral Task states (requested -> accepted | rejected | cancelled,
received optional, accepted -> in-progress | on-hold | completed | failed | cancelled, on-hold
and back, entered-in-error by operators), with a statusReason text where the IG asks for one.
The import of local referral records (the case-management system owns its referrals) is not
held to it."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import SYSTEM
from gateway.fhir.errors import FhirError
from gateway.mappings.codes import PROFILE_TASK, TASK_REFERRAL, TASK_TYPE_SYSTEM
from gateway.workflows.referral_states import (
    ALLOWED,
    allowed_after,
    check_transition,
    is_referral,
)
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


# -- the table: every transition, allowed or refused ------------------------------------------

# The SDOHCC referral Task state diagram (Task For Referral Management, "Status Management"),
# written out independently of the module under test: what may follow each status, for the
# agency's operators (entered-in-error follows every status, for operators only).
IG_TABLE: dict[str, set[str]] = {
    "draft": {"requested"},
    "requested": {"received", "accepted", "rejected", "cancelled"},
    "received": {"accepted", "rejected", "cancelled"},
    "accepted": {"in-progress", "on-hold", "completed", "failed", "cancelled"},
    "in-progress": {"on-hold", "completed", "failed", "cancelled"},
    "on-hold": {"in-progress", "completed", "failed", "cancelled"},
    "completed": set(), "rejected": set(), "cancelled": set(), "failed": set(),
    "entered-in-error": set(),
}
STATUSES = list(IG_TABLE)
# How a Task gets to each status, one allowed step at a time.
PATH_TO = {"draft": ["draft"], "requested": ["requested"],
           "received": ["requested", "received"], "accepted": ["requested", "accepted"],
           "in-progress": ["requested", "accepted", "in-progress"],
           "on-hold": ["requested", "accepted", "on-hold"],
           "completed": ["requested", "accepted", "in-progress", "completed"],
           "rejected": ["requested", "rejected"], "cancelled": ["requested", "cancelled"],
           "failed": ["requested", "accepted", "in-progress", "failed"],
           "entered-in-error": ["requested", "entered-in-error"]}
NEED_A_REASON = {"rejected", "cancelled", "on-hold", "failed", "entered-in-error"}


def allowed_by_the_ig(before: str, to: str) -> bool:
    return to in IG_TABLE[before] or (to == "entered-in-error" and before != to)


def reason_for(status: str) -> dict[str, Any]:
    return {"statusReason": REASON} if status in NEED_A_REASON else {}


def walk_to(client, auth, task_id: str, status: str) -> None:
    for step in PATH_TO[status]:
        response = put(client, auth, referral_task(task_id, step, **reason_for(step)))
        assert response.status_code in (200, 201), (step, response.get_json())


@pytest.mark.parametrize(("before", "to"), [(b, t) for b in STATUSES for t in STATUSES
                                            if b != t])
def test_every_transition_of_the_ig_table(client, auth, parties, before, to):
    """Each pair of statuses over the FHIR API, as an operator: allowed ones are stored,
    refused ones are a 422 naming the transition, and write nothing."""
    walk_to(client, auth, "t", before)
    previous = stored(client, auth, "t")
    response = put(client, auth, referral_task("t", to, **reason_for(to)))
    if allowed_by_the_ig(before, to):
        assert response.status_code == 200, response.get_json()
        assert stored(client, auth, "t")["status"] == to
        return
    issue = refusal(response)
    assert issue["code"] == "business-rule"
    assert issue["expression"] == ["Task.status"]
    if IG_TABLE[before]:
        assert f"from '{before}' to '{to}'" in issue["diagnostics"]
    else:
        assert f"is {before}, a final status; it cannot change to '{to}'" in \
            issue["diagnostics"]
    assert stored(client, auth, "t") == previous


@pytest.mark.parametrize(("before", "to"), [(b, t) for b in STATUSES for t in STATUSES])
def test_check_transition_follows_the_ig_table(before, to):
    previous = referral_task("t", before, **reason_for(before))
    proposed = referral_task("t", to, **reason_for(to))
    if before == to or allowed_by_the_ig(before, to):
        check_transition(previous, proposed)
    else:
        with pytest.raises(FhirError) as refused:
            check_transition(previous, proposed)
        assert refused.value.status == 422
    # A partner never marks a referral entered-in-error; everything else is the same for it.
    if to == "entered-in-error" and before != to:
        with pytest.raises(FhirError) as refused:
            check_transition(previous, proposed, operator=False)
        assert refused.value.status == 403


def test_a_referral_walks_the_whole_loop_with_a_hold(client, auth, parties):
    walk(client, auth, "t1", "requested", "received", "accepted", "in-progress")
    # The same status with other changes is an ordinary update.
    note = {"note": [{"text": "First appointment on Thursday"}]}
    assert put(client, auth, referral_task("t1", "in-progress", **note)).status_code == 200
    held = put(client, auth, referral_task("t1", "on-hold", statusReason=REASON, **note))
    assert held.status_code == 200, held.get_json()
    assert put(client, auth, referral_task("t1", "in-progress", **note)).status_code == 200
    assert put(client, auth, referral_task("t1", "completed", **note)).status_code == 200
    task = stored(client, auth, "t1")
    assert (task["status"], task["meta"]["versionId"]) == ("completed", "8")


def test_requested_may_be_accepted_directly(client, auth, parties):
    walk(client, auth, "t2", "requested", "accepted", "completed")
    assert stored(client, auth, "t2")["status"] == "completed"


@pytest.mark.parametrize(("path", "to"), [(["requested", "received"], "rejected"),
                                          (["requested"], "cancelled"),
                                          (["requested", "accepted"], "on-hold"),
                                          (["requested", "accepted"], "failed"),
                                          (["requested"], "entered-in-error")])
def test_these_statuses_need_a_status_reason_text(client, auth, parties, path, to):
    walk(client, auth, "t7", *path)
    before = stored(client, auth, "t7")
    issue = refusal(put(client, auth, referral_task("t7", to)))
    assert issue["code"] == "required"
    assert issue["expression"] == ["Task.statusReason"]
    assert stored(client, auth, "t7") == before
    # An empty reason is no reason, and SDOHCC asks for statusReason.text.
    refusal(put(client, auth, referral_task("t7", to, statusReason={"coding": []})))
    refusal(put(client, auth, referral_task("t7", to, statusReason={
        "coding": [{"system": "http://example.org", "code": "moved"}]})))
    assert put(client, auth, referral_task("t7", to, statusReason=REASON)).status_code == 200


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
    for status, following in IG_TABLE.items():
        assert ALLOWED[status] == following, status
        assert allowed_after(status) == following | (
            {"entered-in-error"} if status != "entered-in-error" else set())
        assert allowed_after(status, operator=False) == following
    with pytest.raises(TypeError):
        ALLOWED["completed"] = frozenset({"requested"})  # type: ignore[index]


def test_check_transition_leaves_other_tasks_and_unknown_statuses_to_others():
    review = {"resourceType": "Task", "status": "completed",
              "code": {"coding": [{"system": TASK_TYPE_SYSTEM, "code": "plan-review"}]}}
    check_transition({**review, "status": "requested"}, review)
    check_transition(None, referral_task("t", "bogus"))  # validation reports a bad status
    assert not is_referral(None) and not is_referral(review)
    assert not is_referral({"resourceType": "ServiceRequest", "code": referral_task("t")["code"]})

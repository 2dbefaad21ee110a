"""The referral inbox and a referral's page: a Da Vinci discharge posted by a hospital is
worked from the console, through the referral state machine, with If-Match semantics."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gateway.console.referral_actions import LABELS, WITH_REASON, actions_for
from gateway.fhir.errors import FhirError
from gateway.workflows import referral_states
from tests.conftest import OPERATOR_KEY
from tests.console.conftest import hidden
from tests.inbound.conftest import davinci_example


@pytest.fixture
def referral(client, demo_agency, hospital_headers) -> str:  # noqa: F811 - fixtures
    answer = client.post("/fhir/$process-message", json=davinci_example(),
                         headers=hospital_headers)
    assert answer.status_code == 200, answer.get_json()
    page_tasks = client.get("/admin/referrals",
                            headers={"Authorization": f"Bearer {OPERATOR_KEY}"}).get_json()
    [found] = page_tasks["referrals"]
    return found["task"].rpartition("/")[2]


def status_of(client, auth, task_id: str) -> str:
    return client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()["status"]


def act(console, task_id: str, to: str, page: str | None = None, **fields: str):
    page = page or console.get(f"/console/referrals/{task_id}").get_data(as_text=True)
    return console.post(f"/console/referrals/{task_id}/status", data={
        "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"),
        "to": to, **fields})


def buttons(page: str) -> list[str]:
    return re.findall(r'<button type="submit" class="(?:primary|danger)">([^<]+)</button>', page)


def test_buttons_follow_the_state_machines_allowed_mapping():
    for status, following in referral_states.ALLOWED.items():
        assert {a.to for a in actions_for(status)} == set(following)
    assert [a.label for a in actions_for("completed")] == []
    assert LABELS["accepted"] == "Accept" and LABELS["completed"] == "Complete"


def test_a_discharge_is_in_the_inbox_and_is_worked_to_completion(
        client, auth, referral, signed_in):
    console = signed_in("carl")
    inbox = console.get("/console/referrals").get_data(as_text=True)
    assert f"/console/referrals/{referral}" in inbox
    page = console.get(f"/console/referrals/{referral}").get_data(as_text=True)
    assert "Deadlines" in page and "7-day follow-up" in page and "History of its status" in page
    # Whatever the state machine allows from here on, the console offers exactly that.
    for target in ("received", "accepted", "in-progress"):
        status = status_of(client, auth, referral)
        if "completed" in referral_states.ALLOWED.get(status, ()):
            break
        if target not in referral_states.ALLOWED.get(status, ()):
            continue
        moved = act(console, referral, target)
        assert moved.status_code == 303, moved.get_data(as_text=True)
        assert status_of(client, auth, referral) == target
    page = console.get(f"/console/referrals/{referral}").get_data(as_text=True)
    assert "Complete" in buttons(page)
    missing = act(console, referral, "completed", page)
    assert missing.status_code == 400
    assert 'id="visit-completed-error"' in missing.get_data(as_text=True)
    today = datetime.now(UTC).date().isoformat()
    done = act(console, referral, "completed", page, visit_date=today)
    assert done.status_code == 303
    task = client.get(f"/fhir/Task/{referral}", headers=auth).get_json()
    assert task["status"] == "completed" and task["executionPeriod"]["end"] == today
    final = console.get(done.headers["Location"]).get_data(as_text=True)
    assert "The referral is now completed." in final and buttons(final) == ["Sign out"] or \
        "Nothing more can be done" in final


def test_reject_needs_a_reason_next_to_its_field(client, auth, referral, signed_in):
    console = signed_in("ines")
    status = status_of(client, auth, referral)
    if "rejected" not in referral_states.ALLOWED.get(status, ()):
        act(console, referral, "received")
    refused = act(console, referral, "rejected")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'id="reason-rejected-error"' in body
    assert status_of(client, auth, referral) != "rejected"
    rejected = act(console, referral, "rejected", reason="Not in our service area")
    assert rejected.status_code == 303, rejected.get_data(as_text=True)
    assert status_of(client, auth, referral) == "rejected"


def test_a_second_operator_acting_on_the_same_referral_changes_nothing(
        client, auth, referral, signed_in):
    first, second = signed_in("carl"), signed_in("ines")
    seen_by_second = second.get(f"/console/referrals/{referral}").get_data(as_text=True)
    target = sorted(referral_states.ALLOWED[status_of(client, auth, referral)]
                    - WITH_REASON)[0]
    assert act(first, referral, target).status_code == 303
    before = client.get(f"/fhir/Task/{referral}", headers=auth).get_json()
    stale = act(second, referral, "cancelled", seen_by_second, reason="duplicate")
    assert stale.status_code == 409
    assert "Someone else changed this referral" in stale.get_data(as_text=True)
    assert client.get(f"/fhir/Task/{referral}", headers=auth).get_json() == before


def test_a_change_the_state_machine_forbids_is_refused_on_the_page(
        client, auth, referral, signed_in):
    console = signed_in("carl")
    status = status_of(client, auth, referral)
    forbidden = next(s for s in ("completed", "in-progress", "accepted")
                     if s not in referral_states.ALLOWED.get(status, ()))
    refused = act(console, referral, forbidden, visit_date="2020-01-01")
    assert refused.status_code == 409
    assert "Nothing was changed" in refused.get_data(as_text=True)
    assert status_of(client, auth, referral) == status


def test_the_privacy_officer_sees_referrals_without_buttons(referral, signed_in):
    page = signed_in("petra").get(f"/console/referrals/{referral}").get_data(as_text=True)
    assert "can see referrals but not change them" in page
    petra = signed_in("petra")
    home = petra.get("/console/home").get_data(as_text=True)
    refused = petra.post(f"/console/referrals/{referral}/status", data={
        "csrf_token": hidden(home, "csrf_token"), "version": "1", "to": "cancelled",
        "reason": "x"})
    assert refused.status_code == 403


def test_the_inbox_filters_and_empty_states(referral, signed_in):
    console = signed_in("carl")
    none = console.get("/console/referrals?status=completed&urgency=overdue").get_data(as_text=True)
    assert "No referral matches these filters." in none
    odd = console.get("/console/referrals?status=bogus").get_data(as_text=True)
    assert "There is no status" in odd and f"/console/referrals/{referral}" in odd
    home = console.get("/console/home").get_data(as_text=True)
    assert "Referrals past an FUH deadline" in home


def test_an_unknown_referral_is_a_page_saying_so(signed_in, operators):
    answer = signed_in("carl").get("/console/referrals/no-such-task")
    assert answer.status_code == 404 and "There is no referral here" in answer.get_data(
        as_text=True)
    assert signed_in("carl").get("/console/nowhere").status_code == 404


def test_a_refusal_by_the_write_path_is_shown_and_changes_nothing(
        app, client, auth, referral, signed_in):
    def refuse(_repository, resource_type, _previous, _resource):
        if resource_type == "Task":
            raise FhirError(422, "business-rule", "the machine says no")

    hooks = app.extensions["gateway"].hooks.before_write
    hooks.append(refuse)
    try:
        console = signed_in("carl")
        before = client.get(f"/fhir/Task/{referral}", headers=auth).get_json()
        target = sorted(referral_states.ALLOWED[before["status"]]
                        - WITH_REASON)[0]
        refused = act(console, referral, target)
        assert refused.status_code == 422
        assert "the machine says no" in refused.get_data(as_text=True)
        assert client.get(f"/fhir/Task/{referral}", headers=auth).get_json() == before
    finally:
        hooks.remove(refuse)

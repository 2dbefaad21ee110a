"""Assigning a referral to a case manager from its page: the Task's owner becomes the
Practitioner, with If-Match on the version shown; a stale form or a name not on the list is
refused on the page and changes nothing."""
from __future__ import annotations

import re

from tests.console.conftest import hidden
from tests.console.test_referrals import referral  # noqa: F401 - the fixture

OPTION = re.compile(r'<option value="([0-9a-f-]{36})"[^>]*>([^<]+)</option>')


def owner_of(client, auth, task_id: str) -> dict:
    return client.get(f"/fhir/Task/{task_id}", headers=auth).get_json()["owner"]


def test_a_referral_is_assigned_to_a_case_manager(client, auth, referral, signed_in):  # noqa: F811
    console = signed_in("ines")
    page = console.get(f"/console/referrals/{referral}").get_data(as_text=True)
    managers = dict(OPTION.findall(page))
    assert "Adaeze Okafor" in managers.values()
    assert "Samuel Kwame Osei" not in managers.values()  # a psychiatrist, not a CSM/SC
    chosen = next(k for k, v in managers.items() if v == "Adaeze Okafor")
    answer = console.post(f"/console/referrals/{referral}/owner", data={
        "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"),
        "owner": chosen})
    assert answer.status_code == 303
    assert owner_of(client, auth, referral) == {"reference": f"Practitioner/{chosen}",
                                                "display": "Adaeze Okafor"}
    shown = console.get(answer.headers["Location"]).get_data(as_text=True)
    assert "The referral is assigned." in shown

    # The same form again: the referral changed meanwhile, so nothing happens.
    other = next(k for k, v in managers.items() if v != "Adaeze Okafor")
    stale = console.post(f"/console/referrals/{referral}/owner", data={
        "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"),
        "owner": other})
    assert stale.status_code == 409
    assert "Someone else changed this referral" in stale.get_data(as_text=True)
    assert owner_of(client, auth, referral)["reference"] == f"Practitioner/{chosen}"


def test_a_name_not_on_the_list_is_refused_next_to_the_field(
        client, auth, referral, signed_in):  # noqa: F811
    console = signed_in("carl")
    page = console.get(f"/console/referrals/{referral}").get_data(as_text=True)
    before = owner_of(client, auth, referral)
    for owner in ("", "not-a-practitioner"):
        answer = console.post(f"/console/referrals/{referral}/owner", data={
            "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"),
            "owner": owner})
        assert answer.status_code == 400
        body = answer.get_data(as_text=True)
        assert 'id="owner-error"' in body and "Choose a case manager" in body
    assert owner_of(client, auth, referral) == before


def test_the_privacy_officer_cannot_assign(client, auth, referral, signed_in):  # noqa: F811
    officer = signed_in("petra")
    page = officer.get(f"/console/referrals/{referral}").get_data(as_text=True)
    assert ">Assign</button>" not in page
    answer = officer.post(f"/console/referrals/{referral}/owner", data={
        "csrf_token": hidden(page, "csrf_token"), "version": "1", "owner": "x"})
    assert answer.status_code == 403

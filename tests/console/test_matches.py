"""The match review pages: the person beside each candidate, the score field by field, and
"Link" / "New consumer" deciding through gateway/workflows/match_review.py."""
from __future__ import annotations

import re

import pytest

from gateway.console.match_data import explain
from tests.conftest import OPERATOR_KEY
from tests.console.conftest import hidden
from tests.inbound.conftest import variant


@pytest.fixture
def review(client, demo_agency, hospital_headers) -> int:  # noqa: F811 - fixtures
    probe = {"name": [{"family": "Martinez", "given": ["Elena"]}], "birthDate": "1988-04-12",
             "identifier": []}
    bundle = variant("elena-console", patient=probe)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            for name in ("address", "telecom", "gender"):
                entry["resource"].pop(name, None)
    answer = client.post("/fhir/$process-message", json=bundle, headers=hospital_headers)
    assert answer.status_code == 200
    reviews = client.get("/admin/matches", headers={
        "Authorization": f"Bearer {OPERATOR_KEY}"}).get_json()["reviews"]
    return reviews[0]["id"]


def test_each_field_is_explained_with_its_weight():
    assert explain(["family name", "birth date differs"], "family name") == ("agrees", 25)
    assert explain(["given name (initial)"], "given name") == ("partly agrees (initial)", 10)
    assert explain(["birth date differs"], "birth date") == ("differs", -30)
    assert explain([], "phone") == ("not compared (missing on one side)", 0)


def test_a_review_is_shown_field_by_field_and_linked(client, auth, review, signed_in):
    console = signed_in("ines")
    listed = console.get("/console/matches").get_data(as_text=True)
    assert f"/console/matches/{review}" in listed
    page = console.get(f"/console/matches/{review}").get_data(as_text=True)
    assert "Martinez" in page and "birth date" in page and "agrees" in page
    assert ">Link</button>" in page and ">New consumer</button>" in page
    patient_id = re.search(r'name="patient_id" value="([^"]+)"', page).group(1)
    linked = console.post(f"/console/matches/{review}/link", data={
        "csrf_token": hidden(page, "csrf_token"), "patient_id": patient_id})
    assert linked.status_code == 303
    after = console.get(linked.headers["Location"]).get_data(as_text=True)
    assert "Linked" in after and "its referral" in after and ">Link</button>" not in after
    again = console.post(f"/console/matches/{review}/new",
                         data={"csrf_token": hidden(page, "csrf_token")})
    assert again.status_code == 409 and "already decided" in again.get_data(as_text=True)


def test_a_case_manager_sees_reviews_but_cannot_decide(review, signed_in):
    console = signed_in("carl")
    page = console.get(f"/console/matches/{review}").get_data(as_text=True)
    assert "can see match reviews but not decide them" in page and ">Link</button>" not in page
    refused = console.post(f"/console/matches/{review}/new",
                           data={"csrf_token": hidden(page, "csrf_token")})
    assert refused.status_code == 403


def test_no_reviews_is_an_empty_state(signed_in):
    page = signed_in("ines").get("/console/matches").get_data(as_text=True)
    assert "No match reviews waiting" in page
    assert signed_in("ines").get("/console/matches/999").status_code == 404

"""Odd input to the new console pages is answered with a page saying what is wrong (or
ignored where it is only a page number), never with a server error."""
from __future__ import annotations

import pytest

from tests.console.conftest import hidden

ODD_PATHS = [
    "/console/consumers/not%20an%20id", "/console/consumers/%00",
    "/console/consumers/" + "a" * 300, "/console/consumers/x/disclosures.csv",
    "/console/consumers/x/disclosures/print", "/console/consumers?page=-3",
    "/console/consumers?q=%25%25%25", "/console/consumers?q=a,b$c|d",
    "/console/deliveries?page=999999999999", "/console/deliveries?status=%00",
    "/console/imports/rejects/%2e%2e", "/console/imports/rejects/.hidden.ndjson",
    "/console/audit?patient=%00", "/console/audit?entity=!!!",
    "/console/audit?agent=Organization/", "/console/audit?since=2026-01-01T00:00",
    "/console/audit?page=0", "/console/partners?done=registered&id=%3Cscript%3E",
    "/console/referrals/x/owner", "/console/referrals/%00", "/console/referrals/a%20b",
    "/console/imports/rejects/a%00.ndjson", "/console/consumers/%00/disclosures",
]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_input_is_never_a_server_error(demo_agency, signed_in, path):
    answer = signed_in("ada").get(path)
    assert answer.status_code < 500, (path, answer.status_code)
    assert "<script>" not in answer.get_data(as_text=True)


@pytest.mark.parametrize(("query", "field"), [("entity=!!!", "entity"),
                                              ("agent=Organization/", "agent"),
                                              ("patient=x%20y", "patient")])
def test_a_reference_the_search_refuses_is_shown_next_to_its_field(
        demo_agency, signed_in, query, field):
    answer = signed_in("petra").get(f"/console/audit?{query}")
    assert answer.status_code == 400
    body = answer.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">The search could not be run' in body


@pytest.mark.parametrize("field", ["name", "id", "hl7_facility", "jwks"])
def test_a_control_character_in_a_partner_field_is_refused_next_to_it(
        app, operators, signed_in, field):
    console = signed_in("ada")
    page = console.get("/console/partners").get_data(as_text=True)
    fields = {"id": "clinic-x", "type": "physical-health", "name": "Clinic X"}
    fields[field] = "bad\x00value"
    answer = console.post("/console/partners", data={
        "csrf_token": hidden(page, "csrf_token"), **fields})
    assert answer.status_code == 400
    assert f'<p class="field-error" id="{field}-error">Remove the control characters' in \
        answer.get_data(as_text=True)


def test_a_control_character_in_a_partner_id_of_the_path_names_nothing(
        app, operators, signed_in):
    console = signed_in("ada")
    page = console.get("/console/partners").get_data(as_text=True)
    answer = console.post("/console/partners/a%00b/enabled", data={
        "csrf_token": hidden(page, "csrf_token"), "enabled": "no"})
    assert answer.status_code == 404

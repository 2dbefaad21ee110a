"""Partners in the console: the list, registering one with the CLI's settings (each problem
next to its field, nothing stored), disabling and enabling; only an administrator changes."""
from __future__ import annotations

import re

from gateway.partners.registry import PartnerRegistry
from tests.console.conftest import hidden


def registered(app, partner_id: str):
    with app.extensions["gateway"].session_factory() as session:
        return PartnerRegistry(session).get(partner_id)


def register(console, **fields: str):
    page = console.get("/console/partners").get_data(as_text=True)
    return console.post("/console/partners", data={
        "csrf_token": hidden(page, "csrf_token"), **fields})


def test_the_list_and_its_empty_state(app, operators, partners, signed_in):
    page = signed_in("petra").get("/console/partners").get_data(as_text=True)
    for partner in partners.values():
        assert partner.name in page
    assert "Register a partner" not in page and ">Disable</button>" not in page


def test_no_partners_yet(app, operators, signed_in):
    page = signed_in("ada").get("/console/partners").get_data(as_text=True)
    assert "No partner is registered yet" in page


def test_register_a_partner_with_its_organization(app, client, auth, operators, signed_in):
    console = signed_in("ada")
    answer = register(console, id="clinic-maple", type="physical-health",
                      name="Maple Clinic", fhir_base="https://fhir.maple.example/r4",
                      purposes="TREAT", mllp_sources="", jwks="")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    partner = registered(app, "clinic-maple")
    assert partner is not None and partner.endpoints["fhir_base"] == \
        "https://fhir.maple.example/r4" and partner.purposes == ("TREAT",)
    organization = client.get(f"/fhir/Organization/{partner.organization}", headers=auth)
    assert organization.status_code == 200
    assert organization.get_json()["name"] == "Maple Clinic"
    listed = console.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Partner clinic-maple is registered." in listed
    again = register(console, id="clinic-maple", type="physical-health", name="Other")
    assert again.status_code == 400
    assert 'id="id-error"' in again.get_data(as_text=True)
    assert registered(app, "clinic-maple").name == "Maple Clinic"


def test_each_problem_is_next_to_its_field_and_nothing_is_stored(app, operators, signed_in):
    console = signed_in("ada")
    empty = register(console, id="", type="", name="")
    assert empty.status_code == 400
    body = empty.get_data(as_text=True)
    for name in ("id", "type", "name"):
        assert f'id="{name}-error"' in body and f'aria-describedby="{name}-error"' in body
    for fields, field, words in (
            ({"mllp_sources": "10.0.0.0/99"}, "mllp_sources", "is not an address or CIDR"),
            ({"hl7_timezone": "Mars/Olympus"}, "hl7_timezone", "is not an IANA time zone"),
            ({"fhir_base": "http://fhir.example"}, "fhir_base", "Must be an https:// URL"),
            ({"jwks": "{not json"}, "jwks", "This is not JSON"),
            ({"auth": "bearer"}, "token", "needs token"),
            ({"resource_types": "Banana"}, "resource_types", "Banana")):
        answer = register(console, id="hosp-x", type="hospital", name="X", **fields)
        assert answer.status_code == 400, fields
        found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>',
                          answer.get_data(as_text=True))
        assert found and words in found.group(1), (fields, found and found.group(1))
        assert registered(app, "hosp-x") is None


def test_disable_and_enable(app, operators, partners, signed_in):
    console = signed_in("ada")
    page = console.get("/console/partners").get_data(as_text=True)
    token = hidden(page, "csrf_token")
    off = console.post("/console/partners/school-walnut/enabled",
                       data={"csrf_token": token, "enabled": "no"})
    assert off.status_code == 303 and registered(app, "school-walnut").enabled is False
    assert "its access tokens no longer work" in console.get(off.headers["Location"]).get_data(
        as_text=True)
    on = console.post("/console/partners/school-walnut/enabled",
                      data={"csrf_token": token, "enabled": "yes"})
    assert on.status_code == 303 and registered(app, "school-walnut").enabled is True
    assert console.post("/console/partners/nobody/enabled",
                        data={"csrf_token": token, "enabled": "no"}).status_code == 404
    assert console.post("/console/partners/school-walnut/enabled",
                        data={"csrf_token": token, "enabled": "maybe"}).status_code == 400


def test_only_an_administrator_changes_partners(app, operators, partners, signed_in):
    officer = signed_in("petra")
    token = hidden(officer.get("/console/partners").get_data(as_text=True), "csrf_token")
    assert officer.post("/console/partners/school-walnut/enabled",
                        data={"csrf_token": token, "enabled": "no"}).status_code == 403
    assert registered(app, "school-walnut").enabled is True
    assert officer.post("/console/partners", data={
        "csrf_token": token, "id": "x", "type": "school", "name": "X"}).status_code == 403
    assert signed_in("carl").get("/console/partners").status_code == 403
    admin = signed_in("ada")
    assert admin.post("/console/partners/school-walnut/enabled",
                      data={"enabled": "no"}).status_code == 403  # no CSRF token
    assert registered(app, "school-walnut").enabled is True

"""The demo: each partner kind gets a token with its fixture key and sees the care teams of
the consumers who consented to it, and nothing of the others."""
from __future__ import annotations

import pytest

from tests.conftest import OPERATOR_KEY

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def consumers_with_care_teams(client) -> set[str]:
    bundle = client.get("/fhir/CareTeam?_count=500", headers=OPERATOR).get_json()
    return {e["resource"]["subject"]["reference"] for e in bundle["entry"]}


@pytest.mark.parametrize("partner_id", ["pcp-cedar", "hospital-stbrigid", "school-walnut",
                                        "court-probate"])
def test_each_demo_partner_sees_its_consented_consumers_only(client, demo_agency, get_token,
                                                             partner_id):
    partner = demo_agency[partner_id]
    token = get_token(partner_id, scope="system/CareTeam.read system/Patient.read")
    assert token.status_code == 200, token.get_json()
    headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}

    # The operator's view: whose consents to this partner are active and cover CareTeams.
    consents = client.get(f"/fhir/Consent?actor=Organization/{partner.organization}"
                          f"&status=active&_count=500", headers=OPERATOR).get_json()
    consented = {e["resource"]["patient"]["reference"] for e in consents.get("entry", [])
                 if any(c["code"] == "CareTeam" for c in e["resource"]["provision"]["class"])}
    teams = consumers_with_care_teams(client)
    shown = sorted(consented & teams)
    assert shown, f"the demo data gives {partner_id} no consented consumer with a care team"
    for patient in shown:
        found = client.get(f"/fhir/CareTeam?patient={patient}", headers=headers).get_json()
        assert found["total"] >= 1, patient
    others = sorted(teams - consented)
    assert others
    for patient in others:
        found = client.get(f"/fhir/CareTeam?patient={patient}", headers=headers).get_json()
        assert found["total"] == 0, f"{partner_id} sees {patient}'s care team"

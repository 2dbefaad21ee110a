"""The privacy officer's pages of a consumer: what each partner would see now (the decision
point's preview), and the accounting of disclosures (a partner's read through the FHIR API
is listed with the partner, the records and the Consent), as a page, a printable page and
CSV; refused to a case manager."""
from __future__ import annotations

import csv
import io
import re

import pytest

from gateway.mappings.ids import fhir_id

ELENA = fhir_id("consumer", "C-1001")
PAGES = (f"/console/consumers/{ELENA}/disclosures",
         f"/console/consumers/{ELENA}/disclosures/print",
         f"/console/consumers/{ELENA}/disclosures.csv")


@pytest.fixture
def clinic_read(client, demo_agency, get_token) -> list[str]:
    """The primary care clinic reads Elena's care team through the FHIR API; the ids read."""
    token = get_token("pcp-cedar", scope="system/CareTeam.read").get_json()["access_token"]
    answer = client.get(f"/fhir/CareTeam?patient={ELENA}",
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    ids = [e["resource"]["id"] for e in answer.get_json().get("entry", [])
           if e["resource"]["resourceType"] == "CareTeam"]
    assert ids
    return ids


def test_a_partners_read_is_in_the_accounting(clinic_read, signed_in):
    page = signed_in("petra").get(PAGES[0]).get_data(as_text=True)
    assert "1 disclosure," in page
    assert "Cedar Street Family Health" in page and "pcp-cedar" in page
    assert "search: CareTeam 1" in page and f"CareTeam/{clinic_read[0]}" in page
    assert "Consent/" in page  # the consent the read relied on


def test_the_accounting_as_csv(clinic_read, signed_in):
    answer = signed_in("ada").get(PAGES[2])
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert 'filename="disclosures-C-1001.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) == 1
    [row] = rows
    assert row["partner"] == "pcp-cedar" and row["what"] == "search"
    assert f"CareTeam/{clinic_read[0]}" in row["records"].split()
    assert row["consents"].startswith("Consent/")
    assert row["audit event"] and row["when"].endswith("UTC")


def test_the_printable_accounting(clinic_read, signed_in):
    page = signed_in("petra").get(PAGES[1]).get_data(as_text=True)
    assert "Accounting of disclosures" in page and "Elena Rosa Martínez" in page
    assert "pcp-cedar" in page and "Prepared" in page and "by petra" in page
    assert 'aria-label="Main"' not in page  # no navigation on paper


def test_what_each_partner_would_see_comes_from_the_decision_point(demo_agency, signed_in):
    page = signed_in("petra").get(PAGES[0]).get_data(as_text=True)
    for partner in ("pcp-cedar", "school-walnut", "court-probate", "hospital-stbrigid"):
        assert f"<h3>{partner} " in page
    assert "No disclosures: no partner has read" in page  # nothing was read yet


def test_a_refused_read_is_not_a_disclosure(client, demo_agency, get_token, signed_in):
    # The school has no consent for Elena: the search answers nothing; the accounting
    # stays empty (the refusal is in the audit trail, but nothing was disclosed).
    token = get_token("school-walnut", scope="system/CareTeam.read").get_json()["access_token"]
    answer = client.get(f"/fhir/CareTeam?patient={ELENA}",
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert not answer.get_json().get("entry")
    page = signed_in("petra").get(PAGES[0]).get_data(as_text=True)
    assert "No disclosures" in page


@pytest.mark.parametrize("name", ["carl", "ines"])
def test_case_managers_and_intake_are_refused(demo_agency, signed_in, name):
    console = signed_in(name)
    for path in PAGES:
        answer = console.get(path)
        assert answer.status_code == 403, path
        assert "Your role does not allow this page" in answer.get_data(as_text=True)


def test_an_unknown_consumer(demo_agency, signed_in):
    answer = signed_in("petra").get(f"/console/consumers/{fhir_id('consumer', 'C-9999')}"
                                    f"/disclosures.csv")
    assert answer.status_code == 404


def test_times_are_in_the_agencys_time_zone(app, config, clinic_read, signed_in):
    state = app.extensions["gateway"]
    state.config = config.with_overrides(agency_timezone="America/Detroit")
    rows = list(csv.DictReader(io.StringIO(signed_in("petra").get(PAGES[2]).get_data(
        as_text=True))))
    assert rows[0]["when"].endswith(("EST", "EDT"))
    page = signed_in("petra").get(PAGES[0]).get_data(as_text=True)
    assert "Times in America/Detroit." in page
    assert re.search(r" E[SD]T</td>", page)

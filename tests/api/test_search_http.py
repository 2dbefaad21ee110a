"""FHIR search end to end, through HTTP: write a small caseload, then search it.

The data set is ``tests/api/community.py`` (its docstring has the consumers at a glance). Every
resource is written with PUT (create-on-update: 201, so it passed the validator) under a readable
id, and every assertion names the exact ids a search must return: as a set where the order is
not defined, as a list where ``_sort`` (or paging over a sort) defines it.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.api.builders import AGENCY
from tests.api.community import (
    CARE,
    HOSPITAL_MRN,
    ICD10,
    LOINC,
    MEDICAID,
    NPI,
    PEOPLE,
    SERVICES,
    SNOMED,
    STAFF,
    TASK_TYPE,
)

FHIR_JSON = "application/fhir+json"
BASE = "http://testserver/fhir"
ALL_PATIENTS = {"elena", "marcus", "luis", "aisha", "jordan"}


# --- helpers ---------------------------------------------------------------------------------

def put(client, auth, resource: dict[str, Any], expected_status: int | None = 201
        ) -> dict[str, Any]:
    """PUT ``resource``; ``expected_status`` None accepts 200 or 201."""
    response = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource,
                          headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code in ((200, 201) if expected_status is None
                                    else (expected_status,)), response.get_json()
    return response.get_json()


def post(client, auth, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource,
                           headers={**auth, "Content-Type": FHIR_JSON})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def delete(client, auth, reference: str) -> None:
    assert client.delete(f"/fhir/{reference}", headers=auth).status_code == 204


def search(client, auth, query: str, **headers: str) -> dict[str, Any]:
    """GET /fhir/{query}: a 200 searchset Bundle."""
    response = client.get(f"/fhir/{query}", headers={**auth, **headers})
    assert response.status_code == 200, response.get_json()
    bundle = response.get_json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    return bundle


def entries(bundle: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def matches(bundle: dict[str, Any]) -> list[str]:
    """Ids of the match entries, in order; each fullUrl names its resource."""
    found = []
    for entry in entries(bundle, "match"):
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
        found.append(resource["id"])
    assert len(found) == len(set(found)), f"a resource matched twice: {found}"
    return found


def included(bundle: dict[str, Any]) -> set[str]:
    """``Type/id`` of the include entries (none twice, none also a match)."""
    refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in entries(bundle, "include")]
    matched = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
               for e in entries(bundle, "match")}
    assert len(refs) == len(set(refs)) and not matched & set(refs), refs
    return set(refs)


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def follow(client, auth, url: str) -> dict[str, Any]:
    """GET a link the server sent (its path and query, through the test client)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver"
    response = client.get(f"{parts.path}?{parts.query}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def found(client, auth, query: str) -> list[str]:
    """The ids a one-page search matches; its total agrees and there is no next page."""
    bundle = search(client, auth, query)
    ids = matches(bundle)
    assert bundle["total"] == len(ids), query
    assert "next" not in links(bundle), query
    return ids


def expect(client, auth, cases: dict[str, set[str] | list[str]]) -> None:
    """Each query finds exactly its expected ids (a list: also in that order)."""
    wrong = {}
    for query, expected in cases.items():
        ids = found(client, auth, query)
        actual = ids if isinstance(expected, list) else set(ids)
        if actual != expected:
            wrong[query] = {"expected": expected, "got": actual}
    assert wrong == {}


def rejected(client, auth, query: str, **headers: str) -> list[dict[str, Any]]:
    """The issues of a search answered 400 with an OperationOutcome."""
    response = client.get(f"/fhir/{query}", headers={**auth, **headers})
    assert response.status_code == 400, (query, response.get_json())
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]


def expressions(issues: list[dict[str, Any]]) -> list[list[str]]:
    return [issue.get("expression") for issue in issues]


# --- the data set ----------------------------------------------------------------------------

@pytest.fixture
def people(client, auth) -> None:
    """Organizations, staff and the five consumers."""
    for resource in PEOPLE:
        put(client, auth, resource)


# The statuses a referral Task passes through on its way to a later one.
LATER = {"in-progress": ["requested", "received", "accepted"],
         "completed": ["requested", "received", "accepted", "in-progress"]}


@pytest.fixture
def care(people, client, auth) -> None:
    """Care teams, plans, goals, referrals, consents, encounters and conditions around them."""
    for resource in CARE:
        if resource["resourceType"] == "Task" and resource["status"] in LATER:
            # A referral Task goes through its closed loop (gateway/workflows/referral_states.py).
            for step in LATER[resource["status"]]:
                put(client, auth, {**resource, "status": step}, expected_status=None)
        put(client, auth, resource, expected_status=None)


# --- _id, identifier, tokens -----------------------------------------------------------------

def test_id_and_identifier_in_every_token_form(client, auth, people):
    expect(client, auth, {
        "Patient?_id=elena": {"elena"},
        "Patient?_id=elena,luis": {"elena", "luis"},
        "Patient?_id:not=elena": ALL_PATIENTS - {"elena"},
        "Patient?_id=nobody": set(),
        f"Patient?identifier={AGENCY}|C-1001": {"elena"},
        # The value alone: any system (Marcus's hospital MRN happens to be C-1001 too).
        "Patient?identifier=C-1001": {"elena", "marcus"},
        f"Patient?identifier={HOSPITAL_MRN}|C-1001": {"marcus"},
        f"Patient?identifier={MEDICAID}|": {"elena", "luis"},
        # |value: only identifiers without a system.
        "Patient?identifier=|SCH-7781": {"jordan"},
        "Patient?identifier=|C-1001": set(),
        f"Patient?identifier={AGENCY}|C-1001,{AGENCY}|C-1003": {"elena", "luis"},
        f"Practitioner?identifier={STAFF}|S-042": {"nguyen"},
        f"Organization?identifier={NPI}|1861497006": {"lansing-general"},
    })


def test_token_status_category_and_code_forms(client, auth, care):
    expect(client, auth, {
        f"CareTeam?category={LOINC}|LA28865-6": {"ct-elena", "ct-marcus"},
        "CareTeam?category=LA28865-6": {"ct-elena", "ct-marcus", "ct-aisha"},
        "CareTeam?category=|LA28865-6": {"ct-aisha"},  # the legacy coding without a system
        f"CareTeam?category={LOINC}|": {"ct-elena", "ct-marcus", "ct-luis"},
        "CareTeam?status=active": {"ct-elena", "ct-marcus"},
        "CareTeam?status=proposed,inactive": {"ct-luis", "ct-aisha"},
        "Task?status=requested,in-progress": {"task-housing", "task-discharge"},
        f"Task?code={TASK_TYPE}|referral": {"task-housing", "task-discharge", "task-psych"},
        "Goal?lifecycle-status=active": {"goal-elena-housing", "goal-marcus-work"},
        f"Condition?code={SNOMED}|35489007": {"cond-elena"},
        "Condition?code=F33.1": {"cond-luis"},
        f"Condition?code={ICD10}|": {"cond-elena", "cond-luis"},
        "Condition?code=35489007,F33.1": {"cond-elena", "cond-luis"},
        f"Condition?code={ICD10}|F33.1": {"cond-luis"},
        f"Condition?code={SNOMED}|F33.1": set(),
        f"ServiceRequest?code={SERVICES}|peer-support": {"sr-peer"},
        "ServiceRequest?code=housing-support,psychiatric-evaluation": {"sr-housing", "sr-psych"},
        "ServiceRequest?status=completed": {"sr-psych"},
        "Patient?active=false": {"aisha"},
        "Patient?gender=male": {"marcus", "luis"},
    })


def test_not_modifier_also_matches_resources_without_the_value(client, auth, care):
    expect(client, auth, {
        "CareTeam?status:not=active": {"ct-luis", "ct-aisha"},
        f"CareTeam?category:not={LOINC}|LA28865-6": {"ct-luis", "ct-aisha"},
        f"Condition?code:not={SNOMED}|35489007": {"cond-marcus", "cond-luis"},
        "Patient?gender:not=male": {"elena", "aisha", "jordan"},
        # Jordan has no agency identifier at all, so he is "not C-1001" too.
        f"Patient?identifier:not={AGENCY}|C-1001": ALL_PATIENTS - {"elena"},
    })


def test_missing_modifier_on_every_parameter_type(client, auth, care):
    expect(client, auth, {
        "CareTeam?identifier:missing=true": {"ct-aisha"},                      # token
        "CareTeam?identifier:missing=false": {"ct-elena", "ct-marcus", "ct-luis"},
        "CareTeam?encounter:missing=false": {"ct-luis"},                       # reference
        "CarePlan?care-team:missing=true": {"cp-elena-2025"},
        "Patient?birthdate:missing=true": {"jordan"},                          # date
        "Patient?birthdate:missing=false": ALL_PATIENTS - {"jordan"},
        "Patient?address-city:missing=false": {"elena", "marcus"},            # string
        "Patient?address-city:missing=true": {"luis", "aisha", "jordan"},
    })


# --- references ------------------------------------------------------------------------------

def test_patient_and_subject_accept_type_id_bare_id_type_modifier_and_url(client, auth, care):
    expect(client, auth, {
        "CareTeam?patient=Patient/elena": {"ct-elena"},
        "CareTeam?patient=elena": {"ct-elena"},
        f"CareTeam?patient={BASE}/Patient/elena": {"ct-elena"},
        "CareTeam?subject=Patient/elena": {"ct-elena"},
        "CareTeam?subject=elena": {"ct-elena"},
        "CareTeam?subject:Patient=elena": {"ct-elena"},
        "CareTeam?patient=Patient/elena,Patient/luis": {"ct-elena", "ct-luis"},
        "CareTeam?patient=Patient/nobody": set(),
        "CarePlan?patient=elena": {"cp-elena-2026", "cp-elena-2025"},
        "CarePlan?subject:Patient=marcus": {"cp-marcus-2025"},
        "Task?patient=Patient/luis": {"task-discharge"},
        "Task?subject=Patient/luis": {"task-discharge"},
        "Goal?patient=marcus": {"goal-marcus-work"},
        "Condition?subject=Patient/marcus": {"cond-marcus"},
        "Encounter?patient=luis": {"enc-luis-inpatient"},
        "ServiceRequest?subject:Patient=elena": {"sr-housing"},
        "Consent?patient=Patient/elena": {"consent-elena-pcp", "consent-elena-hospital"},
    })


def test_participant_actor_owner_requester_and_focus(client, auth, care):
    expect(client, auth, {
        "CareTeam?participant=Practitioner/okafor": {"ct-elena", "ct-marcus"},
        "CareTeam?participant=Organization/riverbend": {"ct-elena"},
        "CareTeam?participant=Organization/okafor": set(),  # the type is part of the match
        "CareTeam?participant:Practitioner=nguyen": {"ct-elena", "ct-luis"},
        "CareTeam?participant=Practitioner/smith,Organization/lansing-general":
            {"ct-marcus", "ct-aisha", "ct-luis"},
        "Consent?actor=Organization/lansing-general":
            {"consent-elena-hospital", "consent-marcus-hospital"},
        "Consent?actor=Practitioner/okafor": {"consent-marcus-okafor"},
        "Consent?actor=capital-family-med": {"consent-elena-pcp"},
        "Task?owner=Organization/riverbend": {"task-discharge"},
        "Task?owner:Practitioner=smith": {"task-housing"},
        "Task?requester=Practitioner/okafor": {"task-housing", "task-psych"},
        "Task?requester:Organization=lansing-general": {"task-discharge"},
        "Task?focus=ServiceRequest/sr-housing": {"task-housing"},
        "Task?focus:CarePlan=cp-marcus-2025": {"task-psych"},
        "Task?focus=ServiceRequest/sr-housing,ServiceRequest/sr-peer":
            {"task-housing", "task-discharge"},
        "ServiceRequest?requester=Practitioner/okafor": {"sr-housing", "sr-psych"},
        "CarePlan?care-team=CareTeam/ct-marcus": {"cp-marcus-2025"},
        "Encounter?service-provider=Organization/lansing-general": {"enc-luis-inpatient"},
    })


def test_chained_parameters(client, auth, care):
    expect(client, auth, {
        f"CareTeam?patient.identifier={AGENCY}|C-1001": {"ct-elena"},
        "CareTeam?patient.identifier=C-1001": {"ct-elena", "ct-marcus"},
        f"CareTeam?patient.identifier={AGENCY}|C-9999": set(),
        "CareTeam?subject:Patient.name=martinez": {"ct-elena", "ct-luis"},
        "CareTeam?subject:Patient.name:exact=Martinez": {"ct-luis"},
        "CareTeam?subject:Patient.name=martinez&status=active": {"ct-elena"},
        "Task?patient.birthdate=lt1980": {"task-psych"},
        "Consent?actor:Organization.name=lansing":
            {"consent-elena-hospital", "consent-marcus-hospital"},
        "CarePlan?care-team.participant=Practitioner/okafor": {"cp-elena-2026", "cp-marcus-2025"},
    })


# --- dates -----------------------------------------------------------------------------------

def test_birthdate_prefixes_and_precision(client, auth, people):
    # marcus 1975-11-30, elena 1988-04-12, aisha 1988-09-03, luis 2001-06-05, jordan: none.
    expect(client, auth, {
        "Patient?birthdate=1988": {"elena", "aisha"},
        "Patient?birthdate=1988-04": {"elena"},
        "Patient?birthdate=1988-04-12": {"elena"},
        "Patient?birthdate=eq1988-04-12": {"elena"},
        "Patient?birthdate=1988-05": set(),
        "Patient?birthdate=ne1988-04-12": {"marcus", "aisha", "luis"},  # not jordan: no value
        "Patient?birthdate=ne1988": {"marcus", "luis"},
        "Patient?birthdate=gt1988-04-12": {"aisha", "luis"},
        "Patient?birthdate=lt1988-04-12": {"marcus"},
        "Patient?birthdate=ge1988-04-12": {"elena", "aisha", "luis"},
        "Patient?birthdate=le1988-04-12": {"elena", "marcus"},
        "Patient?birthdate=gt1988": {"luis"},
        "Patient?birthdate=ge1988": {"elena", "aisha", "luis"},
        "Patient?birthdate=sa1988": {"luis"},
        "Patient?birthdate=eb1988": {"marcus"},
        # ap: within 10% of the distance from now (several years for these dates).
        "Patient?birthdate=ap1988-06": {"elena", "aisha"},
        "Patient?birthdate=ap2001-06": {"luis"},
    })


def test_period_dates_of_care_teams_and_plans(client, auth, care):
    # Care teams: aisha 2024-01-01..2024-06-30, marcus 2025-03-01..2025-12-31,
    # elena 2026-01-15.., luis 2026-03-10.. (open-ended).
    expect(client, auth, {
        "CareTeam?date=2025": {"ct-marcus"},
        "CareTeam?date=2024-01": set(),  # eq: the search range must contain the whole period
        "CareTeam?date=ge2026-01-01": {"ct-elena", "ct-luis"},
        "CareTeam?date=gt2026-02": {"ct-elena", "ct-luis"},
        "CareTeam?date=lt2025-01-01": {"ct-aisha"},
        "CareTeam?date=le2025-12-31": {"ct-marcus", "ct-aisha"},
        "CareTeam?date=sa2025-12-31": {"ct-elena", "ct-luis"},
        "CareTeam?date=eb2025-01-01": {"ct-aisha"},
        "CareTeam?date=eb2026-02-01": {"ct-marcus", "ct-aisha"},
        # ap: overlapping the widened range is enough; only the open-ended teams reach 2100.
        "CareTeam?date=ap2100": {"ct-elena", "ct-luis"},
        "CareTeam?date=ne2025": {"ct-elena", "ct-luis", "ct-aisha"},
        # Plans: elena 2026-02-01..2027-01-31 and 2025-02-01..2026-01-31, marcus 2025.
        "CarePlan?date=2025": {"cp-marcus-2025"},
        "CarePlan?date=ge2026-01-01": {"cp-elena-2026", "cp-elena-2025"},
        "CarePlan?date=sa2025-12-31": {"cp-elena-2026"},
        "CarePlan?date=lt2025-03-01": {"cp-elena-2025"},
        "CarePlan?patient=elena&date=le2025-12-31": {"cp-elena-2025"},
        "Consent?period=sa2025-12-31": {"consent-elena-pcp"},
        "Goal?start-date=lt2026": {"goal-marcus-work"},
    })


def test_encounter_and_task_dates_with_times_and_zones(client, auth, care):
    # Encounters: elena 2026-02-03 14:00-15:00Z; luis 2026-03-01T18:00Z..2026-03-09T12:00Z.
    # Tasks authored: housing 2026-02-03T09:00-05:00 (14:00Z), discharge 2026-03-09T14:30Z,
    # psych 2025-04-01; periods: housing 2026-02-03.., discharge 03-09..03-16, psych 2025.
    expect(client, auth, {
        "Encounter?date=2026-02-03": {"enc-elena-visit"},
        "Encounter?date=2026-03": {"enc-luis-inpatient"},
        "Encounter?date=2026": {"enc-elena-visit", "enc-luis-inpatient"},
        "Encounter?date=ge2026-03-05": {"enc-luis-inpatient"},
        "Encounter?date=lt2026-02-03T14:30:00Z": {"enc-elena-visit"},
        "Task?authored-on=2026-03-09": {"task-discharge"},
        "Task?authored-on=2026-02-03": {"task-housing"},
        "Task?authored-on=2026-02-03T14:00:00Z": {"task-housing"},
        "Task?authored-on=2026-02-03T16:00:00%2B02:00": {"task-housing"},  # %2B is "+"
        "Task?authored-on=lt2026": {"task-psych"},
        "Task?authored-on=ge2026-02": {"task-housing", "task-discharge"},
        "Task?period=ge2026-03-10": {"task-housing", "task-discharge"},
        "Task?period=2026-03": {"task-discharge"},
        "Task?period=eb2026-01-01": {"task-psych"},
        "Task?period=eb2026-03-10": {"task-psych"},  # not housing: it started before, still open
        "ServiceRequest?authored=2026": {"sr-housing", "sr-peer"},
    })


def test_last_updated_prefixes(client, auth):
    created = []
    for name in ("North Clinic", "Center Clinic", "South Clinic"):
        created.append(post(client, auth, {"resourceType": "Organization", "name": name}))
        time.sleep(0.005)  # meta.lastUpdated has millisecond precision
    first, middle, last = (org["id"] for org in created)
    at = created[1]["meta"]["lastUpdated"]
    expect(client, auth, {
        f"Organization?_lastUpdated={at}": {middle},
        f"Organization?_lastUpdated=eq{at}": {middle},
        f"Organization?_lastUpdated=ne{at}": {first, last},
        f"Organization?_lastUpdated=gt{at}": {last},
        f"Organization?_lastUpdated=lt{at}": {first},
        f"Organization?_lastUpdated=ge{at}": {middle, last},
        f"Organization?_lastUpdated=le{at}": {first, middle},
        "Organization?_lastUpdated=gt2020-01-01": {first, middle, last},
        "Organization?_lastUpdated=lt2020": set(),
        f"Organization?_lastUpdated=ge{at}&_lastUpdated=le{at}": {middle},
    })


# --- strings ---------------------------------------------------------------------------------

def test_string_starts_with_ignoring_case_and_accents(client, auth, people):
    expect(client, auth, {
        "Patient?family=martinez": {"elena", "luis"},   # finds Martínez and Martinez
        "Patient?family=MARTÍNEZ": {"elena", "luis"},
        "Patient?family=Martí": {"elena", "luis"},
        "Patient?family=martin": {"elena", "luis"},     # not Bennett-Martin: starts-with
        "Patient?given=rosa": {"elena"},                # a second given name
        "Patient?name=mar": {"elena", "luis", "marcus"},  # name covers family and given
        "Patient?name=martinez,johnson": {"elena", "luis", "marcus"},
        "Patient?name=zzz": set(),
        "Practitioner?name=nguyen": {"nguyen"},         # Nguyễn
        "Practitioner?given=ADAEZE": {"okafor"},
        "Organization?name=lansing": {"lansing-general"},
        "Patient?address-city=lansing": {"elena"},
        "Patient?address=lansing": {"elena"},   # each part from its start: not East Lansing
        "Patient?address=12%20elm": {"elena"},  # a line of the address ("12 Elm St")
    })


def test_string_exact_and_contains(client, auth, people):
    expect(client, auth, {
        "Patient?family:exact=Martínez": {"elena"},
        "Patient?family:exact=Martinez": {"luis"},
        "Patient?family:exact=martínez": set(),        # case-sensitive
        "Patient?family:exact=Martí": set(),           # the whole value
        "Practitioner?family:exact=Nguyễn": {"nguyen"},
        "Patient?family:contains=artin": {"elena", "luis", "aisha"},
        "Patient?family:contains=MARTIN": {"elena", "luis", "aisha"},
        "Patient?name:contains=ore": set(),
        "Organization?name:contains=family": {"capital-family-med"},
        "Patient?address:contains=lansing": {"elena", "marcus"},
    })


# --- AND / OR --------------------------------------------------------------------------------

def test_commas_or_and_repeated_parameters_and(client, auth, care):
    expect(client, auth, {
        "Patient?birthdate=1975,2001": {"marcus", "luis"},
        "Patient?birthdate=ge1980&birthdate=lt1990": {"elena", "aisha"},
        "Patient?family=martinez&given=luis": {"luis"},
        "Patient?_id=elena,luis,marcus&gender=male": {"luis", "marcus"},
        "CareTeam?participant=Practitioner/okafor,Practitioner/nguyen":
            {"ct-elena", "ct-marcus", "ct-luis"},
        "CareTeam?participant=Practitioner/okafor&participant=Practitioner/nguyen": {"ct-elena"},
        "Task?status=requested,in-progress&requester=Practitioner/okafor": {"task-housing"},
        "Consent?actor=Organization/lansing-general&status=active": {"consent-marcus-hospital"},
    })


# --- _include / _revinclude ------------------------------------------------------------------

def test_include_care_team_participants_and_subject(client, auth, care):
    bundle = search(client, auth, "CareTeam?_id=ct-elena&_include=CareTeam:participant")
    assert matches(bundle) == ["ct-elena"]
    assert bundle["total"] == 1
    assert included(bundle) == {"Practitioner/okafor", "Practitioner/nguyen",
                                "Organization/riverbend"}
    assert all(e["fullUrl"] == f"{BASE}/{e['resource']['resourceType']}/{e['resource']['id']}"
               for e in bundle["entry"])
    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes == ["match", "include", "include", "include"]

    only_staff = search(client, auth,
                        "CareTeam?_id=ct-elena&_include=CareTeam:participant:Practitioner")
    assert included(only_staff) == {"Practitioner/okafor", "Practitioner/nguyen"}

    # Nguyễn is on both teams and comes back once; includes never count in the total.
    both = search(client, auth, "CareTeam?patient=elena,luis&_include=CareTeam:subject"
                                "&_include=CareTeam:participant")
    assert set(matches(both)) == {"ct-elena", "ct-luis"}
    assert both["total"] == 2
    assert included(both) == {"Patient/elena", "Patient/luis", "Practitioner/okafor",
                              "Practitioner/nguyen", "Organization/riverbend",
                              "Organization/lansing-general"}


def test_include_plan_care_team_iterate_and_task_references(client, auth, care):
    plans = search(client, auth, "CarePlan?patient=elena&_include=CarePlan:care-team")
    assert set(matches(plans)) == {"cp-elena-2026", "cp-elena-2025"}
    assert plans["total"] == 2
    assert included(plans) == {"CareTeam/ct-elena"}

    iterated = search(client, auth, "CarePlan?_id=cp-marcus-2025&_include=CarePlan:care-team"
                                    "&_include:iterate=CareTeam:participant")
    assert included(iterated) == {"CareTeam/ct-marcus", "Practitioner/smith",
                                  "Practitioner/okafor"}

    referral = search(client, auth, "Task?_id=task-discharge&_include=Task:owner"
                                    "&_include=Task:requester&_include=Task:focus")
    assert matches(referral) == ["task-discharge"]
    assert included(referral) == {"Organization/riverbend", "Organization/lansing-general",
                                  "ServiceRequest/sr-peer"}


def test_revinclude(client, auth, care):
    one = search(client, auth, "Patient?_id=elena&_revinclude=CareTeam:patient")
    assert matches(one) == ["elena"]
    assert included(one) == {"CareTeam/ct-elena"}
    assert one["total"] == 1

    two = search(client, auth, "Patient?family=martinez&_revinclude=CareTeam:patient"
                               "&_revinclude=CarePlan:patient")
    assert set(matches(two)) == {"elena", "luis"}
    assert two["total"] == 2 and len(two["entry"]) == 6
    assert included(two) == {"CareTeam/ct-elena", "CareTeam/ct-luis",
                             "CarePlan/cp-elena-2026", "CarePlan/cp-elena-2025"}

    staff = search(client, auth, "Practitioner?_id=okafor&_revinclude=CareTeam:participant"
                                 "&_revinclude=Task:requester")
    assert included(staff) == {"CareTeam/ct-elena", "CareTeam/ct-marcus",
                               "Task/task-housing", "Task/task-psych"}

    hospital = search(client, auth, "Organization?_id=lansing-general&_revinclude=Consent:actor")
    assert included(hospital) == {"Consent/consent-elena-hospital",
                                  "Consent/consent-marcus-hospital"}


def test_includes_follow_the_page_not_the_whole_result(client, auth, care):
    bundle = search(client, auth,
                    "Patient?_sort=birthdate&_count=2&_revinclude=CareTeam:patient")
    assert matches(bundle) == ["marcus", "elena"]
    assert bundle["total"] == 5
    assert included(bundle) == {"CareTeam/ct-marcus", "CareTeam/ct-elena"}
    second = follow(client, auth, links(bundle)["next"])
    assert matches(second) == ["aisha", "luis"]
    assert included(second) == {"CareTeam/ct-aisha", "CareTeam/ct-luis"}


# --- paging, sorting, totals, summaries ------------------------------------------------------

def test_paging_links_work_when_followed(client, auth, people):
    first = search(client, auth, "Patient?birthdate=ge1980&_sort=birthdate&_count=1")
    assert "previous" not in links(first)
    for relation in ("self", "next"):
        url = links(first)[relation]
        assert url.startswith(f"{BASE}/Patient?")
        assert "birthdate=ge1980" in url and "_sort=birthdate" in url and "_count=1" in url

    pages, bundle = [first], first
    while "next" in links(bundle) and len(pages) < 10:
        bundle = follow(client, auth, links(bundle)["next"])
        pages.append(bundle)
    assert [matches(page) for page in pages] == [["elena"], ["aisha"], ["luis"]]
    assert [page["total"] for page in pages] == [3, 3, 3]

    back = [matches(bundle)]
    while "previous" in links(bundle) and len(back) < 10:
        bundle = follow(client, auth, links(bundle)["previous"])
        back.append(matches(bundle))
    assert back == [["luis"], ["aisha"], ["elena"]]

    middle = pages[1]
    assert matches(follow(client, auth, links(middle)["self"])) == ["aisha"]


def test_offset_and_count_zero(client, auth, people):
    page = search(client, auth, "Patient?_sort=birthdate&_count=2&_offset=3")
    assert matches(page) == ["luis", "jordan"]
    assert page["total"] == 5
    assert "next" not in links(page)
    assert "_offset=3" in links(page)["self"]
    assert matches(follow(client, auth, links(page)["previous"])) == ["elena", "aisha"]

    beyond = search(client, auth, "Patient?_offset=10")
    assert "entry" not in beyond and beyond["total"] == 5

    nothing = search(client, auth, "Patient?_count=0")
    assert "entry" not in nothing and nothing["total"] == 5
    assert "next" not in links(nothing)
    assert search(client, auth, "Patient?family=martinez&_count=0")["total"] == 2


def test_sort_by_dates_strings_and_several_keys(client, auth, care):
    expect(client, auth, {
        "Patient?_sort=birthdate": ["marcus", "elena", "aisha", "luis", "jordan"],
        # Missing values sort last either way.
        "Patient?_sort=-birthdate": ["luis", "aisha", "elena", "marcus", "jordan"],
        # bennett-martin, johnson, martinez (luis 2001, then elena 1988), reyes.
        "Patient?_sort=family,-birthdate": ["aisha", "marcus", "luis", "elena", "jordan"],
        "Patient?family=martinez&_sort=birthdate": ["elena", "luis"],
        "CarePlan?_sort=-date": ["cp-elena-2026", "cp-marcus-2025", "cp-elena-2025"],
        "CareTeam?_sort=date": ["ct-aisha", "ct-marcus", "ct-elena", "ct-luis"],
        "Encounter?_sort=-date": ["enc-luis-inpatient", "enc-elena-visit"],
        "Task?_sort=-authored-on": ["task-discharge", "task-housing", "task-psych"],
    })


def test_sort_by_last_updated(client, auth):
    ids = []
    for family in ("Adams", "Baker", "Clark"):
        ids.append(post(client, auth, {"resourceType": "Practitioner",
                                       "name": [{"family": family}]})["id"])
        time.sleep(0.005)
    adams, baker, clark = ids
    put(client, auth, {"resourceType": "Practitioner", "id": adams,
                       "name": [{"family": "Adams", "given": ["Ruth"]}]}, expected_status=200)
    # The update made Adams the most recently changed.
    expect(client, auth, {
        "Practitioner?_sort=_lastUpdated": [baker, clark, adams],
        "Practitioner?_sort=-_lastUpdated": [adams, clark, baker],
    })
    newest = search(client, auth, "Practitioner?_sort=-_lastUpdated&_count=1")
    assert matches(newest) == [adams] and newest["total"] == 3


def test_total_modes_and_summary_count(client, auth, people):
    no_total = search(client, auth, "Patient?_total=none&_count=2&_sort=birthdate")
    assert "total" not in no_total
    assert matches(no_total) == ["marcus", "elena"]
    assert "next" in links(no_total)

    accurate = search(client, auth, "Patient?_total=accurate&_count=1")
    assert accurate["total"] == 5 and len(matches(accurate)) == 1

    count = search(client, auth, "Patient?_summary=count")
    assert count["total"] == 5 and "entry" not in count
    martinez = search(client, auth, "Patient?family=martinez&_summary=count")
    assert martinez["total"] == 2 and "entry" not in martinez


def test_elements_returns_only_those_elements_marked_subsetted(client, auth, people):
    bundle = search(client, auth, "Patient?_id=elena,luis&_elements=name,birthDate")
    assert {e["resource"]["id"] for e in bundle["entry"]} == {"elena", "luis"}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert set(resource) == {"resourceType", "id", "meta", "name", "birthDate"}
        assert resource["meta"]["versionId"] == "1"
        assert [tag["code"] for tag in resource["meta"]["tag"]] == ["SUBSETTED"]
    elena = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "elena")
    assert elena["birthDate"] == "1988-04-12"
    assert elena["name"][0]["family"] == "Martínez"
    assert "_elements=name%2CbirthDate" in links(bundle)["self"]

    stored = client.get("/fhir/Patient/elena", headers=auth).get_json()
    assert "identifier" in stored and "tag" not in stored["meta"]


# --- errors ----------------------------------------------------------------------------------

def test_unknown_parameter_is_an_error_naming_it(client, auth, people):
    issues = rejected(client, auth, "Patient?nickname=Ellie&family=martinez")
    assert expressions(issues) == [["nickname"]]
    assert issues[0]["severity"] == "error" and issues[0]["code"] == "not-supported"

    both = rejected(client, auth, "Patient?nickname=Ellie&birthdate=yesterday")
    assert expressions(both) == [["nickname"], ["birthdate"]]


def test_lenient_handling_ignores_unknown_parameters_and_says_so(client, auth, people):
    bundle = search(client, auth, "Patient?nickname=Ellie&family=martinez",
                    Prefer="handling=lenient")
    assert set(matches(bundle)) == {"elena", "luis"}
    assert bundle["total"] == 2
    [outcome] = entries(bundle, "outcome")
    assert outcome["resource"]["resourceType"] == "OperationOutcome"
    assert expressions(outcome["resource"]["issue"]) == [["nickname"]]
    assert outcome["resource"]["issue"][0]["severity"] == "warning"
    assert "nickname" not in links(bundle)["self"]
    # Lenient never excuses a bad value.
    assert expressions(rejected(client, auth, "Patient?birthdate=1988-13",
                                Prefer="handling=lenient")) == [["birthdate"]]


@pytest.mark.parametrize(("query", "parameter"), [
    ("Patient?birthdate=1988-13-01", "birthdate"),
    ("Patient?birthdate=around1988", "birthdate"),
    ("Patient?_lastUpdated=yesterday", "_lastUpdated"),
    ("Patient?family:sounds-like=martinez", "family:sounds-like"),
    ("Patient?gender:exact=female", "gender:exact"),
    ("Patient?birthdate:not=1988", "birthdate:not"),
    ("CareTeam?patient:Practitioner=okafor", "patient:Practitioner"),
    ("CareTeam?patient=Practitioner/okafor", "patient"),
    ("CareTeam?category:missing=maybe", "category:missing"),
    ("CareTeam?_include=CareTeam:member", "_include"),
    ("CareTeam?_include=Patient:organization", "_include"),
    ("CareTeam?_include=CareTeam:patient:Practitioner", "_include"),
    ("Patient?_revinclude=CareTeam:nonsense", "_revinclude"),
    ("Patient?_sort=organization", "_sort"),
    ("Patient?_sort=nickname", "_sort"),
    ("Patient?_count=many", "_count"),
    ("Patient?_total=exact", "_total"),
    ("Patient?_elements=favoriteColor", "_elements"),
])
def test_bad_search_is_rejected_naming_the_parameter(client, auth, query, parameter):
    assert expressions(rejected(client, auth, query)) == [[parameter]]


# --- writes change what matches --------------------------------------------------------------

def test_deleted_resources_never_match_nor_are_included(client, auth, care):
    for reference in ("Patient/luis", "CareTeam/ct-marcus", "Practitioner/nguyen"):
        delete(client, auth, reference)
    expect(client, auth, {
        "Patient?family=martinez": {"elena"},
        "Patient?_id=luis": set(),
        f"Patient?identifier={AGENCY}|C-1003": set(),
        "Patient?birthdate=2001": set(),
        "CareTeam?participant=Practitioner/okafor": {"ct-elena"},
        "CareTeam?status=active": {"ct-elena"},
        "CareTeam?subject:Patient.name=martinez": {"ct-elena"},  # chains skip deleted targets
        "Practitioner?name=nguyen": set(),
    })
    assert search(client, auth, "Patient?_summary=count")["total"] == 4
    team = search(client, auth, "CareTeam?_id=ct-elena&_include=CareTeam:participant")
    assert included(team) == {"Practitioner/okafor", "Organization/riverbend"}
    person = search(client, auth, "Patient?_id=marcus&_revinclude=CareTeam:patient")
    assert matches(person) == ["marcus"] and included(person) == set()

    # Writing it again brings it back, indexed anew.
    luis = next(r for r in PEOPLE if r["id"] == "luis")
    put(client, auth, luis)
    assert set(found(client, auth, "Patient?family=martinez")) == {"elena", "luis"}


def test_updated_resources_match_on_their_new_values_only(client, auth, care):
    luis = next(r for r in PEOPLE if r["id"] == "luis")
    renamed = {**luis, "name": [{"use": "official", "family": "Ortega", "given": ["Luis"]}],
               "identifier": [{"system": AGENCY, "value": "C-2003"}], "birthDate": "2001-07-05"}
    assert put(client, auth, renamed, expected_status=200)["meta"]["versionId"] == "2"

    team = next(r for r in CARE if r["id"] == "ct-elena")
    smith_instead = [p for p in team["participant"]
                     if p["member"]["reference"] != "Practitioner/nguyen"]
    smith_instead.append({**smith_instead[0], "member": {"reference": "Practitioner/smith"}})
    put(client, auth, {**team, "participant": smith_instead}, expected_status=200)

    referral = next(r for r in CARE if r["id"] == "task-discharge")
    put(client, auth, {**referral, "status": "received"}, expected_status=200)
    put(client, auth, {**referral, "status": "accepted",
                       "owner": {"reference": "Practitioner/okafor"}}, expected_status=200)

    expect(client, auth, {
        "Patient?family=martinez": {"elena"},
        "Patient?family=ortega": {"luis"},
        f"Patient?identifier={AGENCY}|C-1003": set(),
        f"Patient?identifier={AGENCY}|C-2003": {"luis"},
        f"Patient?identifier={MEDICAID}|": {"elena"},
        "Patient?birthdate=2001-06": set(),
        "Patient?birthdate=2001-07": {"luis"},
        "CareTeam?subject:Patient.name=ortega": {"ct-luis"},
        "CareTeam?participant=Practitioner/nguyen": {"ct-luis"},
        "CareTeam?participant=Practitioner/smith": {"ct-elena", "ct-marcus", "ct-aisha"},
        "Task?status=requested": set(),
        "Task?status=accepted": {"task-discharge"},
        "Task?owner=Organization/riverbend": set(),
        "Task?owner=Practitioner/okafor": {"task-discharge"},
    })
    bundle = search(client, auth, "CareTeam?_id=ct-elena&_include=CareTeam:participant")
    assert included(bundle) == {"Practitioner/okafor", "Practitioner/smith",
                                "Organization/riverbend"}


def test_updates_of_server_assigned_resources_reindex_them(client, auth):
    created = post(client, auth, {"resourceType": "Patient", "name": [{"family": "Whitfield"}],
                                  "identifier": [{"system": AGENCY, "value": "C-3001"}]})
    put(client, auth, {**created, "name": [{"family": "Whitford"}]}, expected_status=200)
    expect(client, auth, {
        "Patient?family=whitfield": set(),
        "Patient?family=whitford": {created["id"]},
        f"Patient?identifier={AGENCY}|C-3001": {created["id"]},
    })


# --- POST _search ----------------------------------------------------------------------------

def post_search(client, auth, resource_type: str, pairs: list[tuple[str, str]],
                query: str = "") -> dict[str, Any]:
    response = client.post(f"/fhir/{resource_type}/_search{query}", data=urlencode(pairs),
                           content_type="application/x-www-form-urlencoded", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize(("resource_type", "pairs"), [
    ("Patient", [("family", "martinez"), ("_sort", "-birthdate")]),
    ("Patient", [("birthdate", "ge1980"), ("birthdate", "lt1990"), ("_sort", "birthdate")]),
    ("CareTeam", [("patient.identifier", f"{AGENCY}|C-1001"),
                  ("_include", "CareTeam:participant")]),
    ("Task", [("requester", "Practitioner/okafor,Organization/lansing-general"),
              ("_sort", "authored-on")]),
])
def test_post_search_form_gives_the_same_results_as_get(client, auth, care, resource_type,
                                                         pairs):
    by_get = search(client, auth, f"{resource_type}?{urlencode(pairs)}")
    by_post = post_search(client, auth, resource_type, pairs)
    assert matches(by_post) == matches(by_get) and matches(by_get)
    assert included(by_post) == included(by_get)
    assert by_post["total"] == by_get["total"]
    assert links(by_post)["self"] == links(by_get)["self"]
    # The self link of a POST search is a GET that finds the same.
    assert matches(follow(client, auth, links(by_post)["self"])) == matches(by_get)


def test_post_search_combines_url_and_form_and_wants_a_form(client, auth, people):
    bundle = post_search(client, auth, "Patient", [("given", "luis")], "?family=martinez")
    assert matches(bundle) == ["luis"]
    wrong = client.post("/fhir/Patient/_search", json={"family": "martinez"}, headers=auth)
    assert wrong.status_code == 415
    assert wrong.get_json()["resourceType"] == "OperationOutcome"

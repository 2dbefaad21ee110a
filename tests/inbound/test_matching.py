"""Patient matching: the scoring (pure), candidates from the database, and ``Patient/$match``.

The partner fixtures (``demo_agency``, ``get_token``) come from tests/inbound/conftest.py."""
from __future__ import annotations

import pytest

from gateway.auth import SYSTEM, Principal
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.mappings.ids import fhir_id
from gateway.workflows import patient_matching
from gateway.workflows.patient_matching import (
    CERTAIN,
    REVIEW,
    Candidate,
    candidate_queries,
    find_candidates,
    grade,
    score,
    sole_certain,
    trusted_systems,
)

AGENCY = "https://fhir-care-gateway.example/agency-id/consumer"
MEDICAID = DEFAULT_MEDICAID_SYSTEM
HOSPITAL_MRN = "https://fhir-care-gateway.example/partner/hospital-stbrigid/mrn"
OTHER_MRN = "https://other-hospital.example/mrn"
SSN = "http://hl7.org/fhir/sid/us-ssn"
TRUSTED = frozenset({AGENCY, MEDICAID, HOSPITAL_MRN})
FHIR_JSON = "application/fhir+json"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def person(family="Martínez", given=("Elena", "Rosa"), birth="1988-04-12", gender="female",
           phone="517-555-0142", line="12 Elm St", postal="48912", identifiers=(), **extra):
    """A Patient; None leaves an element out."""
    patient = {"resourceType": "Patient"}
    if identifiers:
        patient["identifier"] = [{"system": s, "value": v} for s, v in identifiers]
    if family or given:
        name = {}
        if family:
            name["family"] = family
        if given:
            name["given"] = list(given)
        patient["name"] = [name]
    if phone:
        patient["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
    if gender:
        patient["gender"] = gender
    if birth:
        patient["birthDate"] = birth
    if line or postal:
        address = {"city": "Lansing", "state": "MI"}
        if line:
            address["line"] = [line]
        if postal:
            address["postalCode"] = postal
        patient["address"] = [address]
    return {**patient, **extra}


STORED = person(identifiers=[(AGENCY, "C-1001"), (MEDICAID, "0014382291")])


def demographics_only(**changes):
    return person(**{"line": None, "postal": None, "phone": None, **changes})


# -- score: identifiers ------------------------------------------------------------------------

def test_a_trusted_identifier_is_certain_even_without_demographics():
    probe = {"resourceType": "Patient", "identifier": [{"system": MEDICAID,
                                                        "value": "0014382291"}]}
    value, reasons = score(probe, STORED, trusted_systems=TRUSTED)
    assert value == 1.0 and grade(value) == "certain"
    assert reasons == (f"identifier {MEDICAID}|0014382291",)


def test_untrusted_identifiers_count_for_nothing():
    stored = {**STORED, "identifier": [*STORED["identifier"], {"system": SSN, "value": "1"},
                                       {"system": OTHER_MRN, "value": "M-9"}]}
    probe = {"resourceType": "Patient", "identifier": [{"system": SSN, "value": "1"},
                                                       {"system": OTHER_MRN, "value": "M-9"}]}
    assert score(probe, stored, trusted_systems=TRUSTED) == (0.0, ())
    # An SSN stays untrusted even when a caller lists its system.
    assert score(probe, stored, trusted_systems={SSN}) == (0.0, ())
    assert score(probe, stored, trusted_systems={OTHER_MRN})[0] == 1.0


def test_an_identifier_with_contradicting_demographics_goes_to_review():
    probe = person(family="Okafor", birth="2015-01-30", identifiers=[(AGENCY, "C-1001")])
    value, reasons = score(probe, STORED, trusted_systems=TRUSTED)
    assert value == REVIEW and grade(value) == "possible"
    assert reasons[:2] == (f"identifier {AGENCY}|C-1001",
                           "identifier matches but demographics differ")
    assert {"family name differs", "birth date differs"} <= set(reasons)
    # One difference alone (a married name) does not undo a trusted identifier.
    married = person(family="Okafor", identifiers=[(AGENCY, "C-1001")])
    assert score(married, STORED, trusted_systems=TRUSTED)[0] == 1.0


def test_a_trusted_system_with_another_value_counts_against():
    probe = person(identifiers=[(MEDICAID, "9999999999")])
    value, reasons = score(probe, STORED, trusted_systems=TRUSTED)
    assert value == 0.8 and grade(value) == "probable"
    assert f"identifier {MEDICAID} differs" in reasons


# -- score: demographics -------------------------------------------------------------------------

def test_full_demographics_with_a_phone_or_an_address_are_certain():
    value, reasons = score(demographics_only(phone="(517) 555-0142"), STORED,
                           trusted_systems=TRUSTED)
    assert value == 1.0 and grade(value) == "certain"
    assert reasons == ("family name", "given name", "birth date", "gender", "phone")
    by_address = demographics_only(line="12 ELM ST.")
    assert score(by_address, STORED, trusted_systems=TRUSTED)[0] == CERTAIN


def test_name_and_birth_date_alone_are_probable_not_certain():
    value, reasons = score(demographics_only(gender=None), STORED, trusted_systems=TRUSTED)
    assert value == 0.75 and grade(value) == "probable"
    assert reasons == ("family name", "given name", "birth date")
    # With only a postal code besides, still for a person to decide.
    assert grade(score(demographics_only(postal="48912"), STORED,
                       trusted_systems=TRUSTED)[0]) == "probable"


def test_twins_are_never_certain():
    maya = person(family="Johnson", given=("Maya",), birth="2010-06-01")
    mia = person(family="Johnson", given=("Mia",), birth="2010-06-01")
    value, reasons = score(maya, mia, trusted_systems=TRUSTED)
    assert value < CERTAIN
    assert "given name differs" in reasons
    assert score(maya, maya, trusted_systems=TRUSTED)[0] == 1.0


def test_a_transposed_or_mistyped_birth_date_gets_partial_credit():
    transposed = demographics_only(birth="1988-12-04")
    value, reasons = score(transposed, STORED, trusted_systems=TRUSTED)
    assert value == 0.65 and grade(value) == "possible"
    assert "birth date (day and month transposed)" in reasons
    one_digit = score(demographics_only(birth="1988-04-13"), STORED, trusted_systems=TRUSTED)
    assert one_digit[0] == 0.65 and "birth date (one digit off)" in one_digit[1]
    swapped = score(demographics_only(birth="1898-04-12"), STORED, trusted_systems=TRUSTED)
    assert "birth date (two digits swapped)" in swapped[1]
    # Even with a phone besides, a birth date typo is reviewed, never linked.
    assert score(person(birth="1988-12-04"), STORED, trusted_systems=TRUSTED)[0] < CERTAIN
    wrong = score(demographics_only(birth="1979-10-30"), STORED, trusted_systems=TRUSTED)
    assert wrong[0] < REVIEW and "birth date differs" in wrong[1]


def test_names_are_compared_without_case_accents_or_punctuation():
    shouting = demographics_only(family="MARTINEZ", given=("elena",), phone="517.555.0142")
    assert score(shouting, STORED, trusted_systems=TRUSTED)[0] == 1.0
    hyphens = {**STORED, "name": [{"family": "Bennett-Martin", "given": ["Aisha"]}]}
    spaced = demographics_only(family="bennett martin", given=("AISHA",), phone="5175550142")
    assert score(spaced, hyphens, trusted_systems=TRUSTED)[0] == 1.0


def test_partial_names_never_link_on_their_own():
    initial = person(given=("E",))
    value, reasons = score(initial, STORED, trusted_systems=TRUSTED)
    assert "given name (initial)" in reasons
    assert REVIEW <= value < CERTAIN
    typo = person(family="Martinex")
    value, reasons = score(typo, STORED, trusted_systems=TRUSTED)
    assert "family name (one letter off)" in reasons and value < CERTAIN
    compound = person(family="Martínez-Lopez")
    assert "family name (part of a compound name)" in score(
        compound, STORED, trusted_systems=TRUSTED)[1]


def test_another_person_scores_below_review():
    neighbour = person(family="Okafor", given=("Grace",), birth="1988-04-12")
    value, reasons = score(neighbour, STORED, trusted_systems=TRUSTED)
    assert value < REVIEW and grade(value) is None
    assert {"family name differs", "given name differs", "address line"} <= set(reasons)
    assert score({"resourceType": "Patient"}, STORED, trusted_systems=TRUSTED) == (0.0, ())


def test_an_inactive_record_says_so():
    value, reasons = score(person(), {**STORED, "active": False}, trusted_systems=TRUSTED)
    assert value == 1.0 and reasons[-1] == "inactive record"


def test_grades():
    assert [grade(v) for v in (1.0, 0.95, 0.94, 0.75, 0.74, 0.6, 0.59)] == [
        "certain", "certain", "probable", "probable", "possible", "possible", None]


def test_only_a_sole_certain_candidate_is_the_match():
    def candidate(patient_id, grade_code):
        return Candidate(patient_id, {}, 1.0 if grade_code == "certain" else 0.8, grade_code, ())

    assert sole_certain([candidate("a", "certain"), candidate("b", "probable")]).patient_id == "a"
    assert sole_certain([candidate("a", "certain"), candidate("b", "certain")]) is None
    assert sole_certain([candidate("b", "probable")]) is None and sole_certain([]) is None


# -- trusted systems and queries ---------------------------------------------------------------

def test_trusted_systems_follow_what_the_requester_is_shown():
    hospital = Principal(kind="partner", name="h", partner_kind="hospital",
                         identifier_systems=frozenset({HOSPITAL_MRN}))
    school = Principal(kind="partner", name="s", partner_kind="school",
                       identifier_systems=frozenset({"https://school.example/id"}))
    assert {AGENCY, MEDICAID, HOSPITAL_MRN} <= trusted_systems(hospital)
    assert OTHER_MRN not in trusted_systems(hospital, [OTHER_MRN])
    # A school is never shown the Medicaid id, so cannot match on it.
    assert MEDICAID not in trusted_systems(school)
    assert "https://school.example/id" in trusted_systems(school)
    operator = trusted_systems(SYSTEM, [HOSPITAL_MRN, SSN])
    assert {AGENCY, MEDICAID, HOSPITAL_MRN} <= operator and SSN not in operator


def test_candidate_queries_use_the_index_and_escape_values():
    probe = person(family="O'Brien-Smith", given=("Elena",), birth="1988-04-12",
                   identifiers=[(AGENCY, "C,1"), (OTHER_MRN, "M-9")])
    queries = candidate_queries(probe, TRUSTED)
    assert queries == [
        [("identifier", f"{AGENCY}|C\\,1")],
        [("birthdate", "1988-04-12,1988-12-04")],
        [("family", "brien,o'brien-smith,obriensmith,smith"), ("given", "e")],
    ]
    assert candidate_queries({"resourceType": "Patient", "birthDate": "1988"}, TRUSTED) == []


# -- candidates from the database (SQLite and PostgreSQL) ----------------------------------------

@pytest.fixture
def caseload(client, auth):
    """Patients created over the API, by name."""
    people = {
        "elena": STORED,
        "elena-inactive": person(given=("Elena",), phone=None, line=None, active=False),
        "elena-deleted": person(),
        "luis": person(family="Martinez", given=("Luis",), birth="2001-06-05",
                       phone="517-555-0999", gender="male", line="9 Oak Ave", postal="48910"),
        "maya": person(family="Johnson", given=("Maya",), birth="2010-06-01",
                       phone="517-555-0190", line="1418 Abbot Rd", postal="48823"),
        "mia": person(family="Johnson", given=("Mia",), birth="2010-06-01",
                      phone="517-555-0190", line="1418 Abbot Rd", postal="48823"),
        "grace": person(family="Okafor", given=("Grace",), birth="1961-02-14", phone=None,
                        line="3 Pine St", postal="48906"),
    }
    ids = {}
    for label, patient in people.items():
        response = client.post("/fhir/Patient", json=patient, headers=auth)
        assert response.status_code == 201, response.get_json()
        ids[label] = response.get_json()["id"]
    assert client.delete(f"/fhir/Patient/{ids['elena-deleted']}", headers=auth).status_code \
        == 204
    return ids


def test_candidates_are_found_scored_and_ordered(app, caseload):
    state = app.extensions["gateway"]
    probe = person(birth="1988-12-04", identifiers=[(OTHER_MRN, "M-9")])
    with state.reading(SYSTEM) as repository:
        found = find_candidates(repository, probe, trusted_systems=TRUSTED)
    by_id = {c.patient_id: c for c in found}
    # The deleted duplicate is never a candidate; the inactive one is, and says so.
    assert set(by_id) == {caseload["elena"], caseload["elena-inactive"]}
    assert [c.patient_id for c in found] == [caseload["elena"], caseload["elena-inactive"]]
    assert found[0].grade == "probable" and found[0].score == 0.9
    assert "birth date (day and month transposed)" in found[0].reasons
    assert "inactive record" in by_id[caseload["elena-inactive"]].reasons
    assert found[0].patient["id"] == caseload["elena"]


def test_an_identifier_finds_a_consumer_whatever_the_demographics(app, caseload):
    state = app.extensions["gateway"]
    probe = {"resourceType": "Patient", "identifier": [{"system": AGENCY, "value": "C-1001"}],
             "name": [{"family": "Nobody"}]}
    with state.reading(SYSTEM) as repository:
        found = find_candidates(repository, probe, trusted_systems=TRUSTED)
    assert [(c.patient_id, c.grade) for c in found] == [(caseload["elena"], "certain")]
    with state.reading(SYSTEM) as repository:
        untrusted = find_candidates(repository, probe, trusted_systems={MEDICAID})
    assert untrusted == []


def test_twins_are_both_candidates_and_only_one_is_certain(app, caseload):
    state = app.extensions["gateway"]
    probe = person(family="Johnson", given=("Maya",), birth="2010-06-01", phone="5175550190",
                   line="1418 Abbot Rd", postal="48823")
    with state.reading(SYSTEM) as repository:
        found = find_candidates(repository, probe, trusted_systems=TRUSTED, limit=5)
    assert [(c.patient_id, c.grade) for c in found] == [
        (caseload["maya"], "certain"), (caseload["mia"], "probable")]


def test_only_patients_the_index_finds_are_scored(app, caseload, monkeypatch):
    scored = []
    real_score = patient_matching.score

    def spy(probe, candidate, **kwargs):
        scored.append(candidate["id"])
        return real_score(probe, candidate, **kwargs)

    monkeypatch.setattr(patient_matching, "score", spy)
    state = app.extensions["gateway"]
    probe = person(family="Johnson", given=("Maya",), birth="2010-06-01")
    with state.reading(SYSTEM) as repository:
        find_candidates(repository, probe, trusted_systems=TRUSTED)
    assert sorted(scored) == sorted([caseload["maya"], caseload["mia"]])


# -- Patient/$match over HTTP ------------------------------------------------------------------

def parameters(patient=None, **values):
    parameter = [] if patient is None else [{"name": "resource", "resource": patient}]
    for name, value in values.items():
        kind = "valueBoolean" if isinstance(value, bool) else "valueInteger"
        parameter.append({"name": name, kind: value})
    return {"resourceType": "Parameters", "parameter": parameter}


def match(client, headers, body, resource_type="Patient"):
    return client.post(f"/fhir/{resource_type}/$match", json=body,
                       headers={**headers, "Content-Type": FHIR_JSON})


def matches(bundle):
    return [(e["resource"]["id"], e["search"]["score"], e["search"]["extension"][0]["valueCode"])
            for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_operators_get_graded_scored_matches_best_first(app, client, auth, caseload):
    probe = person(family="Johnson", given=("Maya",), birth="2010-06-01", phone="5175550190",
                   line="1418 Abbot Rd", postal="48823")
    response = match(client, auth, parameters(probe))
    assert response.status_code == 200
    bundle = response.get_json()
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert matches(bundle) == [(caseload["maya"], 1.0, "certain"),
                               (caseload["mia"], 0.8, "probable")]
    entry = bundle["entry"][0]
    assert entry["search"]["extension"][0]["url"] == MATCH_GRADE
    assert entry["fullUrl"] == f"http://testserver/fhir/Patient/{caseload['maya']}"
    notes = bundle["entry"][-1]
    assert notes["search"]["mode"] == "outcome"
    assert "given name differs" in notes["resource"]["issue"][1]["diagnostics"]
    # What the server answers is valid R4.
    validator = app.extensions["gateway"].validator
    assert not validator.has_errors(validator.validate(bundle, expected_type="Bundle"))


def test_only_certain_matches_and_count(client, auth, caseload):
    probe = person(family="Johnson", given=("Maya",), birth="2010-06-01", phone="5175550190")
    certain = match(client, auth, parameters(probe, onlyCertainMatches=True)).get_json()
    assert matches(certain) == [(caseload["maya"], 1.0, "certain")]
    first = match(client, auth, parameters(probe, count=1)).get_json()
    assert [m[0] for m in matches(first)] == [caseload["maya"]] and first["total"] == 1
    nothing = match(client, auth, parameters(person(family="Okafor", given=("Grace",),
                                                    birth="1961-02-15", phone=None,
                                                    line=None, postal=None),
                                             onlyCertainMatches=True)).get_json()
    assert nothing["total"] == 0 and "entry" not in nothing


def test_two_certain_matches_are_no_certain_match(client, auth, caseload):
    # A duplicate of Maya: two records certain for the same person is for a person to sort out.
    duplicate = person(family="Johnson", given=("Maya",), birth="2010-06-01",
                       phone="517-555-0190")
    assert client.post("/fhir/Patient", json=duplicate, headers=auth).status_code == 201
    probe = person(family="Johnson", given=("Maya",), birth="2010-06-01", phone="5175550190")
    all_of_them = match(client, auth, parameters(probe)).get_json()
    assert [m[2] for m in matches(all_of_them)] == ["certain", "certain", "possible"]
    only = match(client, auth, parameters(probe, onlyCertainMatches=True)).get_json()
    assert only["total"] == 0 and matches(only) == []
    assert only["entry"][0]["resource"]["issue"][0]["code"] == "multiple-matches"


@pytest.mark.parametrize(("body", "status", "expression"), [
    (person(), 400, "Parameters"),
    (parameters(), 400, "Parameters.parameter"),
    (parameters({"resourceType": "Practitioner"}), 400, "Parameters.parameter[0].resource"),
    (parameters(person(birth="1988-13-45")), 400, "Parameters.parameter[0].resource.birthDate"),
    (parameters(person(), count=0), 400, "Parameters.parameter[1].valueInteger"),
    ({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": person()}, {"name": "count", "valueString": "5"}]},
     400, "Parameters.parameter[1].valueInteger"),
    (parameters(person(), onlySingleMatch=True), 400, "Parameters.parameter[1].name"),
    ({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": person()}, {"name": "resource", "resource": person()}]},
     400, "Parameters.parameter[1]"),
])
def test_malformed_requests_are_400_outcomes_naming_the_parameter(client, auth, body, status,
                                                                  expression):
    response = match(client, auth, body)
    assert response.status_code == status
    answer = response.get_json()
    assert answer["resourceType"] == "OperationOutcome"
    assert expression in answer["issue"][0]["expression"]


def test_match_is_a_patient_operation(client, auth):
    response = match(client, auth, parameters(person()), resource_type="CarePlan")
    assert response.status_code == 400
    assert "$match is defined on Patient" in response.get_json()["issue"][0]["diagnostics"]


def test_the_capability_statement_declares_match_on_patient(client):
    statement = client.get("/fhir/metadata").get_json()
    operations = {r["type"]: [o["name"] for o in r["operation"]]
                  for r in statement["rest"][0]["resource"]}
    assert operations["Patient"] == ["validate", "match"]
    assert operations["CarePlan"] == ["validate"]


def test_the_request_is_audited_with_only_what_it_returned(client, auth, caseload):
    probe = person(family="Johnson", given=("Maya",), birth="2010-06-01")
    bundle = match(client, auth, parameters(probe, count=1)).get_json()
    assert [m[0] for m in matches(bundle)] == [caseload["maya"]]
    events = client.get("/fhir/AuditEvent?subtype=operation&_count=50",
                        headers=auth).get_json()
    assert events["total"] == 1
    event = events["entry"][0]["resource"]
    assert event["action"] == "E" and event["outcome"] == "0"
    named = {e["what"]["reference"] for e in event.get("entity", []) if "what" in e}
    # Mia was read to be scored but not returned: no disclosure of her.
    assert f"Patient/{caseload['maya']}" in named
    assert f"Patient/{caseload['mia']}" not in named


# -- partners ------------------------------------------------------------------------------------

ELENA = fhir_id("consumer", "C-1001")       # consents to St. Brigid
TYLER = fhir_id("consumer", "C-1002")       # no consent to St. Brigid


def partner_headers(get_token, partner_id, scope="system/Patient.read"):
    answer = get_token(partner_id, scope=scope).get_json()
    return {"Authorization": f"Bearer {answer['access_token']}"}


def test_a_partner_finds_only_consumers_it_may_see_in_its_form(client, auth, demo_agency,
                                                               get_token):
    hospital = partner_headers(get_token, "hospital-stbrigid")
    elena = person(phone="517-555-0142", line="12 Elm St", postal="48912")
    tyler = person(family="Johnson", given=("Tyler",), birth="2011-09-30", gender="male",
                   phone=None, line="1418 Abbot Rd", postal="48823")
    # The operator finds both.
    assert [m[0] for m in matches(match(client, auth, parameters(tyler)).get_json())] == [TYLER]
    found = match(client, hospital, parameters(elena)).get_json()
    assert [(m[0], m[2]) for m in matches(found)] == [(ELENA, "certain")]
    shown = found["entry"][0]["resource"]
    # In the hospital's form (minimum necessary): no extensions, no languages, only the
    # identifiers it is shown.
    assert "extension" not in shown and "communication" not in shown
    assert {i["system"] for i in shown["identifier"]} <= trusted_systems(
        Principal(kind="partner", name="h", partner_kind="hospital",
                  identifier_systems=frozenset({HOSPITAL_MRN})))
    # No consent to St. Brigid: an empty answer, the same as no such consumer.
    nobody = match(client, hospital, parameters(tyler))
    assert nobody.status_code == 200
    assert nobody.get_json()["total"] == 0 and "entry" not in nobody.get_json()


def test_a_partner_matches_by_its_own_mrn_only_through_the_crosswalk(client, auth, demo_agency,
                                                                      get_token):
    stored = client.get(f"/fhir/Patient/{ELENA}", headers=auth).get_json()
    stored["identifier"].append({"system": HOSPITAL_MRN, "value": "SB-778"})
    assert client.put(f"/fhir/Patient/{ELENA}", json=stored, headers=auth).status_code == 200
    by_mrn = {"resourceType": "Patient", "identifier": [{"system": HOSPITAL_MRN,
                                                         "value": "SB-778"}]}
    hospital = partner_headers(get_token, "hospital-stbrigid")
    assert matches(match(client, hospital, parameters(by_mrn)).get_json()) == [
        (ELENA, 1.0, "certain")]
    # Another partner's MRN proves nothing to the primary-care clinic, which sees no such
    # identifier (and finds nobody by it).
    clinic = partner_headers(get_token, "pcp-cedar")
    assert matches(match(client, clinic, parameters(by_mrn)).get_json()) == []


def test_a_partner_needs_patient_search_permission(client, demo_agency, get_token):
    care_teams_only = partner_headers(get_token, "hospital-stbrigid", "system/CareTeam.read")
    response = match(client, care_teams_only, parameters(person()))
    assert response.status_code == 403
    assert response.get_json()["issue"][0]["code"] == "forbidden"


# -- learning a hospital's identifiers -----------------------------------------------------------

def test_identifiers_are_learned_onto_the_version_matching_read_or_else_the_current_one(
        app, client, auth, caseload):
    """``learn_identifiers`` writes onto the Patient matching read, in the same transaction; if
    another writer changed the Patient since, the learning is made again on the current version
    and that writer's change is kept (no lost update)."""
    from gateway.partners.registry import Partner
    from gateway.workflows.referrals import learn_identifiers

    state = app.extensions["gateway"]
    hospital = Partner(id="hospital-stbrigid", kind="hospital", name="St. Brigid",
                       organization="org-stbrigid", client_id="stbrigid",
                       patient_identifier_systems=(HOSPITAL_MRN,))
    patient_id = caseload["grace"]
    read_by_matching = client.get(f"/fhir/Patient/{patient_id}", headers=auth).get_json()
    assert read_by_matching["meta"]["versionId"] == "1"
    # Another writer changes the Patient after matching read it.
    changed = {**read_by_matching, "telecom": [{"system": "phone", "value": "517-555-0777"}]}
    assert client.put(f"/fhir/Patient/{patient_id}", json=changed, headers=auth
                      ).status_code == 200
    probe = {"identifier": [{"system": HOSPITAL_MRN, "value": "MRN-77"},
                            {"system": OTHER_MRN, "value": "X-1"}]}
    with state.writing(SYSTEM) as repository:
        written = learn_identifiers(repository, read_by_matching, probe, hospital)
    assert written == (f"Patient/{patient_id}",)
    stored = client.get(f"/fhir/Patient/{patient_id}", headers=auth).get_json()
    assert stored["meta"]["versionId"] == "3"
    assert stored["telecom"] == [{"system": "phone", "value": "517-555-0777"}]
    assert {"system": HOSPITAL_MRN, "value": "MRN-77"} in stored["identifier"]
    assert all(i.get("system") != OTHER_MRN for i in stored.get("identifier", []))
    # Already known: nothing more is written.
    with state.writing(SYSTEM) as repository:
        assert learn_identifiers(repository, stored, probe, hospital) == ()
    assert client.get(f"/fhir/Patient/{patient_id}", headers=auth).get_json()[
        "meta"]["versionId"] == "3"

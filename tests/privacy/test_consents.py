"""Reading Consents as directives and folding them into grants (pure functions)."""
from __future__ import annotations

from datetime import date

from gateway.privacy.consents import directive_from, grants_for, is_sud_content

ORG = "Organization/o1"
TODAY = date(2026, 12, 1)
SUD = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"}]


def consent(**provision_overrides):
    provision = {
        "type": "permit", "period": {"start": "2026-01-01", "end": "2027-01-01"},
        "actor": [{"role": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP"}]}, "reference": {"reference": ORG}}],
        "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                     "code": "TREAT"}],
        "class": [{"system": "http://hl7.org/fhir/resource-types", "code": code}
                  for code in ("CareTeam", "Goal")],
        **provision_overrides}
    return {"resourceType": "Consent", "id": "c1", "status": "active",
            "patient": {"reference": "Patient/p1"}, "provision": provision}


def test_an_active_consent_grants_its_classes_to_its_recipient_for_its_purpose():
    grants = grants_for([consent()], ORG, "TREAT", TODAY)
    assert grants.permits("p1", "CareTeam", sud_content=False)
    assert not grants.permits("p1", "CarePlan", sud_content=False)
    assert not grants.permits("p1", "CareTeam", sud_content=True)
    assert not grants.permits("p2", "CareTeam", sud_content=False)
    assert grants_for([consent()], "Organization/o2", "TREAT", TODAY).by_patient == {}
    assert grants_for([consent()], ORG, "COC", TODAY).by_patient == {}


def test_refusals_say_why():
    expired = consent(period={"start": "2025-01-01", "end": "2025-12-31"})
    grants = grants_for([expired, {**consent(), "id": "c2", "status": "inactive"}], ORG,
                        "TREAT", TODAY)
    assert grants.by_patient == {}
    assert grants.refused["p1"] == ["Consent/c1 expired on 2025-12-31",
                                    "Consent/c2 is inactive (revoked or withdrawn)"]


def test_partial_period_bounds_cover_whole_years_and_months():
    ends_in_2026 = consent(period={"start": "2026", "end": "2026-12"})
    assert grants_for([ends_in_2026], ORG, "TREAT", TODAY).permits("p1", "Goal", False)
    assert not grants_for([ends_in_2026], ORG, "TREAT", date(2027, 1, 1)).permits(
        "p1", "Goal", False)


def test_nested_provisions_carve_classes_and_sud_content():
    denies_goals = consent(provision=[{"type": "deny", "class": [
        {"system": "http://hl7.org/fhir/resource-types", "code": "Goal"}]}])
    grants = grants_for([denies_goals], ORG, "TREAT", TODAY)
    assert grants.permits("p1", "CareTeam", False)
    assert not grants.permits("p1", "Goal", False)
    part2 = consent(provision=[{"type": "permit", "securityLabel": SUD}])
    assert grants_for([part2], ORG, "TREAT", TODAY).permits("p1", "Goal", sud_content=True)
    both = consent(provision=[{"type": "permit", "securityLabel": SUD},
                              {"type": "deny", "securityLabel": SUD}])
    assert not grants_for([both], ORG, "TREAT", TODAY).permits("p1", "Goal", sud_content=True)


def test_several_consents_of_one_consumer_add_up():
    plan = consent(**{"class": [{"system": "http://hl7.org/fhir/resource-types",
                                 "code": "CarePlan"}]})
    grants = grants_for([consent(), {**plan, "id": "c2"}], ORG, "TREAT", TODAY)
    assert grants.permits("p1", "CarePlan", False) and grants.permits("p1", "Goal", False)
    assert grants.by_patient["p1"].consents == ("c1", "c2")


def test_consents_that_cannot_be_read_permit_nothing():
    assert directive_from({"resourceType": "Consent", "provision": {"type": "permit"}}) is None
    assert directive_from({**consent(), "provision": {"type": "deny"}}) is None
    not_a_recipient = consent(actor=[{"role": {"coding": [{"code": "IRCP"}]},
                                      "reference": {"reference": ORG}}])  # role has no system
    assert grants_for([not_a_recipient], ORG, "TREAT", TODAY).by_patient == {}


def test_sud_content_is_read_from_meta_security():
    assert is_sud_content({"meta": {"security": SUD}})
    assert not is_sud_content({"meta": {"security": [{"system": "x", "code": "SUD"}]}})
    assert not is_sud_content({})

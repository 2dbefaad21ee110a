"""Reading Consents the FHIR R4 way and folding them into grants (pure functions)."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.privacy.consent_rules import directive_from, is_sud_content
from gateway.privacy.consents import grants_for

ORG = "Organization/o1"
TODAY = date(2026, 12, 1)
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SUD = [{"system": ACT_CODE, "code": "SUD"}]
HIPAA = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
                     "code": "hipaa-auth"}]}
OPTIN = {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]}
OPTOUT = {"coding": [{"system": ACT_CODE, "code": "OPTOUT"}]}
PART2 = {"coding": [{"system": ACT_CODE, "code": "42CFRPart2"}]}


def recipient(reference: str = ORG, role: str = "IRCP") -> dict:
    return {"role": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": role}]},
        "reference": {"reference": reference}}


def classes(*codes: str) -> list[dict]:
    return [{"system": "http://hl7.org/fhir/resource-types", "code": code} for code in codes]


def consent(policy=HIPAA, consent_id="c1", signed="2026-01-01", **provision_overrides):
    """Shaped as gateway/mappings/consents.py writes them (no root type: R4)."""
    provision = {
        "period": {"start": "2026-01-01", "end": "2027-01-01"}, "actor": [recipient()],
        "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                     "code": "TREAT"}],
        "class": classes("CareTeam", "Goal"), **provision_overrides}
    return {"resourceType": "Consent", "id": consent_id, "status": "active",
            "patient": {"reference": "Patient/p1"}, "dateTime": signed, "policyRule": policy,
            "organization": [{"reference": "Organization/agency"}], "provision": provision}


def res(resource_type: str, labels=None, **body) -> dict:
    resource = {"resourceType": resource_type, "id": body.pop("id", "r1"), **body}
    if labels:
        resource["meta"] = {"security": labels}
    return resource


def grants(*consents, recipient_org=ORG, purpose="TREAT", today=TODAY, kind="physical-health"):
    return grants_for(list(consents), recipient_org, purpose, today, kind)


def test_a_consent_permits_its_classes_to_its_recipient_for_its_purpose():
    g = grants(consent())
    assert g.permits("p1", res("CareTeam"))
    assert not g.permits("p1", res("CarePlan"))
    assert not g.permits("p1", res("CareTeam", SUD))  # 42 CFR Part 2 needs SUD named
    assert not g.permits("p2", res("CareTeam"))
    assert grants(consent(), recipient_org="Organization/o2").by_patient == {}
    assert not grants(consent(), purpose="COC").permits("p1", res("CareTeam"))
    assert g.verdict("p1", res("CareTeam")).consents == ("c1",)


def test_absent_attributes_do_not_restrict():
    """R4: a provision without class, purpose, actor or period covers all of it."""
    g = grants(consent(policy=OPTIN, **{"class": [], "purpose": []}))
    assert g.permits("p1", res("CarePlan")) and g.permits("p1", res("Encounter"))
    assert grants(consent(policy=OPTIN, **{"class": []}), purpose="COC").by_patient == {}


def test_the_policy_gives_the_base_decision():
    assert not grants(consent(policy=OPTOUT)).permits("p1", res("CareTeam"))
    # An opt-out with a permit exception permits what the exception describes.
    exception = consent(policy=OPTOUT, provision=[{"type": "permit",
                                                   "class": classes("Goal")}])
    g = grants(exception)
    assert g.permits("p1", res("Goal")) and not g.permits("p1", res("CareTeam"))
    unknown = consent(policy={"coding": [{"system": "urn:x", "code": "maybe"}]})
    assert not grants(unknown).permits("p1", res("CareTeam"))
    directive = directive_from(unknown)
    assert not directive.readable and "not a policy the gateway knows" in directive.problems[0]
    assert not directive_from({**consent(), "policyRule": None}).readable


def test_a_root_type_that_contradicts_the_policy_is_read_as_deny():
    legacy = consent(type="permit")  # what the gateway wrote before: consistent, so accepted
    assert grants(legacy).permits("p1", res("CareTeam"))
    contradicting = consent(policy=OPTIN, type="deny")
    assert not grants(contradicting).permits("p1", res("CareTeam"))
    assert "not allowed in R4" in directive_from(contradicting).problems[0]


def test_refusals_say_why():
    expired = consent(period={"start": "2025-01-01", "end": "2025-12-31"})
    g = grants(expired, {**consent(), "id": "c2", "status": "inactive"})
    assert g.by_patient == {}
    assert g.refused["p1"] == ["Consent/c1 expired on 2025-12-31",
                               "Consent/c2 is inactive (revoked or withdrawn)"]


def test_partial_period_bounds_cover_whole_years_and_months():
    ends_in_2026 = consent(period={"start": "2026", "end": "2026-12"})
    assert grants(ends_in_2026).permits("p1", res("Goal"))
    assert not grants(ends_in_2026, today=date(2027, 1, 1)).permits("p1", res("Goal"))


def test_nested_provisions_are_exceptions_and_the_deepest_wins():
    denies_goals = consent(provision=[{"type": "deny", "class": classes("Goal")}])
    g = grants(denies_goals)
    assert g.permits("p1", res("CareTeam")) and not g.permits("p1", res("Goal"))
    part2 = consent(policy=PART2, provision=[{"type": "permit", "securityLabel": SUD}])
    assert grants(part2).permits("p1", res("Goal", SUD))
    both = consent(provision=[{"type": "permit", "securityLabel": SUD},
                              {"type": "deny", "securityLabel": SUD}])
    assert not grants(both).permits("p1", res("Goal", SUD))  # siblings: deny wins
    deeper = consent(provision=[{"type": "deny", "class": classes("Goal"), "provision": [
        {"type": "permit", "securityLabel": [{"system": ACT_CODE, "code": "PSY"}]}]}])
    g = grants(deeper)
    assert not g.permits("p1", res("Goal"))
    assert g.permits("p1", res("Goal", [{"system": ACT_CODE, "code": "PSY"}]))


def test_a_later_consent_for_the_same_recipient_supersedes_an_earlier_one():
    plan = consent(consent_id="c2", signed="2026-06-01", **{"class": classes("CarePlan")})
    g = grants(consent(), plan)
    assert g.permits("p1", res("CarePlan")) and not g.permits("p1", res("Goal"))
    assert g.refused["p1"] == ["Consent/c1 is superseded by Consent/c2"]
    # Not yet in force, a renewal supersedes nothing.
    renewal = consent(consent_id="c3", signed="2026-11-01",
                      period={"start": "2027-01-01", "end": "2028-01-01"},
                      **{"class": classes("CarePlan")})
    g = grants(consent(), renewal)
    assert g.permits("p1", res("Goal")) and not g.permits("p1", res("CarePlan"))


def test_a_consent_naming_no_recipient_reaches_treating_providers_only():
    broad = consent(policy=OPTIN, actor=[], purpose=[], **{"class": []})
    assert grants(broad).permits("p1", res("CarePlan"))
    assert grants(broad, kind="hospital").permits("p1", res("CarePlan"))
    for kind in ("school", "court", "other", None):
        g = grants(broad, kind=kind)
        assert not g.permits("p1", res("CarePlan"))
        assert "needs a consent that names it" in g.refused["p1"][0]
    # The named consent decides where it applies; the broad one elsewhere.
    named = consent(consent_id="c2", provision=[{"type": "deny", "class": classes("Goal")}])
    g = grants(broad, named)
    assert g.permits("p1", res("CareTeam")) and not g.permits("p1", res("Goal"))
    assert g.permits("p1", res("CarePlan"))  # the named one is silent: the broad one permits
    assert g.verdict("p1", res("CarePlan")).consents == ("c1",)
    # A broad consent never reaches SUD content (Part 2 names the recipient).
    broad_part2 = consent(policy=PART2, actor=[], provision=[{"type": "permit",
                                                              "securityLabel": SUD}])
    assert not grants(broad_part2).permits("p1", res("CareTeam", SUD))


def test_data_and_data_period_and_labels_select_resources():
    only_one = consent(policy=OPTIN, **{"class": []},
                       data=[{"meaning": "instance", "reference": {"reference": "Task/t1"}}])
    g = grants(only_one)
    assert g.permits("p1", res("Task", id="t1")) and not g.permits("p1", res("Task", id="t2"))
    assert g.coverage("p1", "Task", False) == "some"
    related = consent(policy=OPTIN, **{"class": []},
                      data=[{"meaning": "related", "reference": {"reference": "Task/t1"}}])
    g = grants(related)
    assert g.permits("p1", res("Communication", basedOn=[{"reference": "Task/t1"}]))
    assert not g.permits("p1", res("Communication", basedOn=[{"reference": "Task/t2"}]))
    window = consent(policy=OPTIN, **{"class": []}, provision=[{
        "type": "deny", "dataPeriod": {"start": "2026-03-01", "end": "2026-03-31"}}])
    g = grants(window)
    assert not g.permits("p1", res("Task", authoredOn="2026-03-15"))
    assert g.permits("p1", res("Task", authoredOn="2026-04-15"))
    assert not g.permits("p1", res("Task"))  # no date to place it: a deny applies (cautious)
    psy = consent(policy=OPTIN, **{"class": []},
                  securityLabel=[{"system": ACT_CODE, "code": "PSY"}])
    assert grants(psy).permits("p1", res("Goal", [{"system": ACT_CODE, "code": "PSY"}]))
    assert not grants(psy).permits("p1", res("Goal"))


def test_what_cannot_be_evaluated_matches_a_deny_and_not_a_permit():
    strange = [{"system": "urn:other", "code": "x"}]
    deny = consent(provision=[{"type": "deny", "class": strange}])
    assert not grants(deny).permits("p1", res("CareTeam"))
    permit = consent(policy=OPTOUT, provision=[{"type": "permit", "purpose": strange}])
    assert not grants(permit).permits("p1", res("CareTeam"))
    person = consent(provision=[{"type": "deny", "actor": [recipient("Practitioner/x")]}])
    assert not grants(person).permits("p1", res("CareTeam"))
    problems = directive_from(person).problems
    assert problems and "partners are Organizations" in problems[0]
    assert not directive_from(consent(provision=[{"class": classes("Goal")}])).readable


@pytest.mark.parametrize("labels,expected", [([], "all"), (SUD, "none")])
def test_coverage_is_exact_where_consents_do_not_read_content(labels, expected):
    g = grants(consent())
    assert g.coverage("p1", "CareTeam", bool(labels)) == expected
    assert g.coverage("p1", "CarePlan", False) == "none"
    assert g.patients_for("CareTeam", False) == ["p1"]


def test_sud_content_is_read_from_meta_security():
    assert is_sud_content({"meta": {"security": SUD}})
    assert not is_sud_content({"meta": {"security": [{"system": "x", "code": "SUD"}]}})
    assert not is_sud_content({})

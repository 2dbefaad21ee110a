"""assignments + natural supports -> CareTeam, outside persons and change-request Tasks."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import MappingContext, MappingError, care_team_from_assignments

from . import samples
from .helpers import assert_valid, by_type, codes, one

TODAY = date(2024, 5, 2)
CURRENT_CM = ("http://fhir-care-gateway.example/fhir/CodeSystem/cmh-care-team-role",
              "current-case-manager")


def team(ctx: MappingContext, assignments=None, supports=None, today=TODAY) -> list[dict]:
    return care_team_from_assignments(
        "C-1001", samples.assignments() if assignments is None else assignments,
        samples.natural_supports() if supports is None else supports, ctx, today=today)


def marked(care_team: dict) -> list[dict]:
    return [p for p in care_team["participant"]
            if any(CURRENT_CM in codes(role) for role in p["role"])]


def test_everything_validates(ctx: MappingContext, validator: Validator) -> None:
    resources = team(ctx)
    assert_valid(validator, resources)
    care_team = resources[0]
    assert care_team["resourceType"] == "CareTeam"
    assert care_team["id"] == ctx.fhir_id("careteam", "C-1001")
    assert care_team["status"] == "active"
    assert care_team["managingOrganization"] == [ctx.agency_reference()]
    assert codes(care_team["category"][0]) == {("http://loinc.org", "LA28865-6")}


def test_current_case_manager_is_first_and_only_one_marked(ctx: MappingContext) -> None:
    care_team = team(ctx)[0]
    current = marked(care_team)
    assert len(current) == 1
    assert current[0] is care_team["participant"][0]
    assert current[0]["member"] == ctx.reference("Practitioner", "staff", "S-017")
    assert "end" not in current[0]["period"]


def test_past_assignments_stay_end_dated_and_unmarked(ctx: MappingContext) -> None:
    care_team = team(ctx)[0]
    previous = next(p for p in care_team["participant"]
                    if p["member"] == ctx.reference("Practitioner", "staff", "S-002"))
    assert previous["period"] == {"start": "2021-03-05", "end": "2023-06-30"}
    assert previous not in marked(care_team)
    # current members first, the ended ones last
    assert care_team["participant"][-2:][0]["period"].get("end")


def test_newest_case_manager_wins_when_two_overlap(ctx: MappingContext) -> None:
    assignments = samples.assignments()
    del assignments[0]["end"]
    care_team = team(ctx, assignments)[0]
    assert [p["member"] for p in marked(care_team)] == [
        ctx.reference("Practitioner", "staff", "S-017")]


def test_without_today_open_ended_means_current(ctx: MappingContext) -> None:
    care_team = team(ctx, today=None)[0]
    assert [p["member"] for p in marked(care_team)] == [
        ctx.reference("Practitioner", "staff", "S-017")]


def test_future_end_date_is_still_current(ctx: MappingContext) -> None:
    assignments = samples.assignments()
    assignments[1]["end"] = "2024-12-31"
    assert marked(team(ctx, assignments)[0])


def test_no_case_manager_marks_no_one(ctx: MappingContext, validator: Validator) -> None:
    assignments = [a for a in samples.assignments() if a["role"] != "case-manager"]
    resources = team(ctx, assignments)
    assert_valid(validator, resources)
    assert marked(resources[0]) == []


def test_only_ended_assignments_make_an_inactive_team(ctx: MappingContext,
                                                      validator: Validator) -> None:
    assignments = [samples.assignments()[0]]
    resources = team(ctx, assignments, supports=[])
    assert_valid(validator, resources)
    care_team = resources[0]
    assert care_team["status"] == "inactive"
    assert care_team["period"] == {"start": "2021-03-05", "end": "2023-06-30"}


def test_outside_members(ctx: MappingContext) -> None:
    resources = team(ctx)
    care_team = resources[0]
    practitioners = by_type(resources, "Practitioner")
    # The PCP and the school counselor are professionals acting for their organizations.
    assert {p["name"][0]["family"] for p in practitioners} == {"Chu", "Nguyen"}
    pcp = next(p for p in care_team["participant"]
               if codes(p["role"][0]) == {("http://snomed.info/sct", "453231000124104")})
    assert pcp["onBehalfOf"] == ctx.reference("Organization", "organization", "ORG-PCP")
    probation = next(p for p in care_team["participant"]
                     if p["member"] == ctx.reference("Organization", "organization",
                                                     "ORG-PROBATION"))
    assert "onBehalfOf" not in probation  # R4 ctm-1
    assert probation["period"]["end"] == "2023-11-01"


def test_natural_supports_are_related_persons(ctx: MappingContext) -> None:
    resources = team(ctx)
    related = by_type(resources, "RelatedPerson")
    assert {r["identifier"][0]["value"] for r in related} == {"NS-1", "NS-2"}
    uncle = next(r for r in related if r["identifier"][0]["value"] == "NS-1")
    participant = next(p for p in resources[0]["participant"]
                       if p["member"] == {"reference": f"RelatedPerson/{uncle['id']}"})
    assert participant["role"][1] == {"text": "Drives Jane to therapy on Tuesdays"}
    assert "onBehalfOf" not in participant


def test_person_without_organization_or_professional_role_is_a_related_person(
        ctx: MappingContext, validator: Validator) -> None:
    assignments = [{"type": "assignment", "id": "A-9", "updated_at": samples.UPDATED,
                    "consumer": "C-1001", "role": "natural-support",
                    "member": {"person": {"name": {"family": "Ortiz"},
                                          "relationship": "neighbor"}},
                    "start": "2024-01-01"}]
    resources = team(ctx, assignments, supports=[])
    assert_valid(validator, resources)
    person = one(resources, "RelatedPerson")
    assert person["identifier"][0]["value"] == "A-9/person"


def test_change_requests(ctx: MappingContext, validator: Validator) -> None:
    tasks = by_type(team(ctx), "Task")
    assert_valid(validator, tasks)
    honored, not_honored = tasks
    assert honored["status"] == "completed" and "statusReason" not in honored
    assert honored["owner"] == ctx.reference("Practitioner", "staff", "S-002")
    assert honored["input"][0]["valueReference"] == ctx.reference("Practitioner", "staff",
                                                                  "S-017")
    assert not_honored["status"] == "rejected"
    assert not_honored["statusReason"]["text"].startswith("No other Spanish-speaking")
    for task in tasks:
        assert task["code"]["coding"][0]["code"] == "case-manager-change"
        assert task["focus"] == ctx.reference("CareTeam", "careteam", "C-1001")
        assert task["for"] == ctx.reference("Patient", "consumer", "C-1001")


@pytest.mark.parametrize(("status", "expected", "reason"), [
    ("pending", "requested", None), ("withdrawn", "cancelled", "Withdrawn by the consumer")])
def test_pending_and_withdrawn(ctx: MappingContext, validator: Validator, status: str,
                               expected: str, reason: str | None) -> None:
    assignments = samples.assignments()[1:2]
    assignments[0]["change_request"] = {"requested_on": "2024-04-28", "reason": "Too far away",
                                        "status": status, "requested_staff": "S-031"}
    task = one(team(ctx, assignments), "Task")
    assert_valid(validator, [task])
    assert task["status"] == expected
    assert task.get("statusReason", {}).get("text") == reason
    assert task["owner"] == ctx.agency_reference()  # undecided: the agency owns it
    assert task["authoredOn"] == "2024-04-28"


def test_assignment_of_another_consumer(ctx: MappingContext) -> None:
    assignments = samples.assignments()
    assignments[2]["consumer"] = "C-9"
    with pytest.raises(MappingError) as raised:
        team(ctx, assignments)
    assert raised.value.path == "assignments[2].consumer"


def test_unknown_role_names_the_assignment(ctx: MappingContext) -> None:
    assignments = samples.assignments()
    assignments[3]["role"] = "astrologer"
    with pytest.raises(MappingError) as raised:
        team(ctx, assignments)
    assert raised.value.path == "assignments[3].role"


def test_empty_team_is_an_error(ctx: MappingContext) -> None:
    with pytest.raises(MappingError) as raised:
        team(ctx, [], [])
    assert raised.value.path == "assignments"


def test_organization_member_cannot_act_for_another(ctx: MappingContext) -> None:
    assignments = samples.assignments()
    assignments[5]["on_behalf_of"] = "ORG-PCP"
    with pytest.raises(MappingError) as raised:
        team(ctx, assignments)
    assert raised.value.path == "assignments[5].on_behalf_of"


def test_sud_members_go_on_a_separate_labelled_team(ctx: MappingContext,
                                                    validator: Validator) -> None:
    from .helpers import SECURITY_SUD, security

    assignments = samples.assignments()
    assignments.append({"type": "assignment", "id": "A-7", "updated_at": samples.UPDATED,
                        "consumer": "C-1001", "role": "substance-use-counselor",
                        "member": {"staff": "S-031"}, "start": "2024-02-01"})
    supports = samples.natural_supports()
    supports.append({"id": "NS-3", "name": {"family": "Webb", "given": ["Sam"]},
                     "relationship": "sponsor"})
    resources = team(ctx, assignments, supports)
    assert_valid(validator, resources)
    main, sud = by_type(resources, "CareTeam")
    assert main["id"] == ctx.fhir_id("careteam", "C-1001") and security(main) == set()
    assert sud["id"] == ctx.fhir_id("careteam-sud", "C-1001")
    assert SECURITY_SUD in security(sud)
    assert len(sud["participant"]) == 2
    assert "substance-use-counselor" not in str(main) and "NS-3" not in str(main)
    sponsor = next(r for r in by_type(resources, "RelatedPerson")
                   if r["identifier"][0]["value"] == "NS-3")
    assert SECURITY_SUD in security(sponsor)
    assert all(SECURITY_SUD not in security(r) for r in by_type(resources, "RelatedPerson")
               if r is not sponsor)


def test_only_sud_members_make_one_labelled_team(ctx: MappingContext) -> None:
    from .helpers import SECURITY_SUD, security

    assignments = [{"type": "assignment", "id": "A-7", "updated_at": samples.UPDATED,
                    "consumer": "C-1001", "role": "substance-use-counselor",
                    "member": {"staff": "S-031"}, "start": "2024-02-01"}]
    care_team = one(team(ctx, assignments, supports=[]), "CareTeam")
    assert care_team["id"] == ctx.fhir_id("careteam", "C-1001")
    assert SECURITY_SUD in security(care_team)

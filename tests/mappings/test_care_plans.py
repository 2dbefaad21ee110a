"""plan -> CarePlan + Goals + ServiceRequests."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import MappingContext, MappingError, care_plan_from_plan

from . import samples
from .helpers import (
    SECURITY_NORDSCLCD,
    SECURITY_RESTRICTED,
    SECURITY_SUD,
    assert_valid,
    by_type,
    codes,
    one,
    security,
)

HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def test_plan_validates(ctx: MappingContext, validator: Validator) -> None:
    resources = care_plan_from_plan(samples.plan(), ctx)
    assert_valid(validator, resources)
    assert [r["resourceType"] for r in resources] == (
        ["CarePlan"] + ["Goal"] * 3 + ["ServiceRequest"] * 4)


def test_care_plan(ctx: MappingContext) -> None:
    resources = care_plan_from_plan(samples.plan(), ctx)
    plan = one(resources, "CarePlan")
    assert plan["intent"] == "plan" and plan["status"] == "active"
    assert plan["careTeam"] == [ctx.reference("CareTeam", "careteam", "C-1001")]
    assert plan["author"] == ctx.reference("Practitioner", "staff", "S-017")
    assert plan["period"] == {"start": "2024-01-15", "end": "2025-01-14"}
    assert [g["reference"] for g in plan["goal"]] == [
        f"Goal/{g['id']}" for g in by_type(resources, "Goal")]
    assert [a["reference"]["reference"] for a in plan["activity"]] == [
        f"ServiceRequest/{s['id']}" for s in by_type(resources, "ServiceRequest")]
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in plan["extension"]}
    assert extensions["cmh-review-frequency"]["valueDuration"]["value"] == 3
    assert extensions["cmh-last-review"]["valueDate"] == "2024-04-12"
    assert "every 3 months" in plan["note"][0]["text"]


def test_goals(ctx: MappingContext) -> None:
    school, sud, achieved = by_type(care_plan_from_plan(samples.plan(), ctx), "Goal")
    assert school["description"]["text"].startswith("I want to finish 11th grade")
    assert school["target"][0]["detailString"] == "Passing grades in all classes by June"
    assert school["target"][0]["dueDate"] == "2024-06-15"
    assert school["meta"]["tag"][0]["code"] == "school-relevant"
    assert school["expressedBy"] == ctx.reference("Patient", "consumer", "C-1001")
    assert security(school) == set()
    assert security(sud) >= {SECURITY_SUD, SECURITY_RESTRICTED, SECURITY_NORDSCLCD}
    assert achieved["lifecycleStatus"] == "completed"
    assert achieved["achievementStatus"]["coding"][0]["code"] == "achieved"
    assert achieved["target"] == [{"dueDate": "2024-03-01"}]


def test_substance_use_domain_labels_the_goal(ctx: MappingContext) -> None:
    plan = samples.plan()
    plan["goals"] = [{"id": "G-9", "consumer_words": "Stay sober", "domain": "substance-use"}]
    plan["services"] = []
    goal = one(care_plan_from_plan(plan, ctx), "Goal")
    assert SECURITY_SUD in security(goal)
    assert goal["lifecycleStatus"] == "active"


def test_services(ctx: MappingContext) -> None:
    resources = care_plan_from_plan(samples.plan(), ctx)
    case_management, therapy, sud, peer = by_type(resources, "ServiceRequest")
    assert codes(case_management["code"]) == {(HCPCS, "T1017")}
    assert case_management["occurrenceTiming"]["repeat"] == {
        "boundsPeriod": {"start": "2024-01-15", "end": "2025-01-14"},
        "frequency": 2, "period": 1, "periodUnit": "mo"}
    assert case_management["orderDetail"] == [{"text": "1 hour per visit"}]
    assert case_management["performer"] == [
        ctx.agency_reference(), ctx.reference("Practitioner", "staff", "S-017")]
    assert case_management["supportingInfo"] == [
        ctx.reference("Goal", "goal", "G-1"), ctx.reference("Goal", "goal", "G-3")]
    assert case_management["basedOn"] == [ctx.reference("CarePlan", "plan", "PLAN-2024")]
    assert case_management["intent"] == "order" and case_management["status"] == "active"
    assert therapy["code"]["text"] == "CBT for anxiety"
    assert therapy["occurrenceTiming"]["repeat"]["periodUnit"] == "wk"
    assert security(therapy) == set()
    # sud-outpatient is SUD by the service map; peer support by the record's own flag
    assert SECURITY_SUD in security(sud) and SECURITY_SUD in security(peer)
    assert sud["status"] == "active"  # planned in an agreed plan
    assert peer["status"] == "revoked"  # stopped


def test_attendance_stays_out_of_the_plan(ctx: MappingContext) -> None:
    text = str(care_plan_from_plan(samples.plan(), ctx))
    assert "attended" not in text and "'7'" not in text


def test_draft_plan(ctx: MappingContext, validator: Validator) -> None:
    plan = samples.plan()
    plan["status"] = "draft"
    for goal in plan["goals"]:
        goal.pop("status")
    resources = care_plan_from_plan(plan, ctx)
    assert_valid(validator, resources)
    assert {g["lifecycleStatus"] for g in by_type(resources, "Goal")} == {"proposed"}
    assert {(s["status"], s["intent"]) for s in by_type(resources, "ServiceRequest")} == {
        ("draft", "plan")}


def test_minimal_plan(ctx: MappingContext, validator: Validator) -> None:
    plan = {"type": "plan", "id": "PLAN-1", "updated_at": samples.UPDATED,
            "consumer": "C-1001", "status": "completed", "period": {"start": "2023-01-01"},
            "author": "S-017"}
    resources = care_plan_from_plan(plan, ctx)
    assert_valid(validator, resources)
    assert len(resources) == 1 and "goal" not in resources[0]


@pytest.mark.parametrize(("change", "path"), [
    (lambda p: p["services"][1].update(service="astrology"), "services[1].service"),
    (lambda p: p["goals"][2].update(domain="vibes"), "goals[2].domain"),
    (lambda p: p["services"][0]["goals"].append("G-404"), "services[0].goals[2]"),
    (lambda p: p["goals"].append(dict(p["goals"][0])), "goals[3].id"),
])
def test_errors_name_the_field(ctx: MappingContext, change, path: str) -> None:
    plan = samples.plan()
    change(plan)
    with pytest.raises(MappingError) as raised:
        care_plan_from_plan(plan, ctx)
    assert raised.value.path == path



def test_references_to_substance_use_goals_and_services_are_labelled_inline(
        ctx: MappingContext, validator: Validator) -> None:
    from gateway.privacy.labels import INLINE_LABEL

    # In the sample, G-2 is a substance-use goal, SV-3 and SV-4 substance-use services.
    resources = care_plan_from_plan(samples.plan(), ctx)
    assert_valid(validator, resources)
    care_plan = one(resources, "CarePlan")

    def labelled(element: dict) -> bool:
        return any(e["url"] == INLINE_LABEL and e["valueCoding"]["code"] == "SUD"
                   for e in element.get("extension", []))

    assert [labelled(goal) for goal in care_plan["goal"]] == [False, True, False]
    assert [labelled(activity) for activity in care_plan["activity"]] == [
        False, False, True, True]
    goal_2 = f"Goal/{ctx.fhir_id('goal', 'G-2')}"
    for service in by_type(resources, "ServiceRequest"):
        for info in service.get("supportingInfo", []):
            assert labelled(info) == (info["reference"] == goal_2)

"""plan record -> CarePlan + a Goal per goal + a ServiceRequest per service.

Attendance counts (``services[].attended/scheduled``) are deliberately not mapped here: a release
of information names attendance as its own category (Encounter), so it must not travel inside the
plan to a partner who may see only the plan.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codes import (
    EXT_LAST_REVIEW,
    EXT_REVIEW_FREQUENCY,
    GOAL_ACHIEVED,
    PROFILE_CAREPLAN,
    UCUM_SYSTEM,
)
from .context import MappingContext
from .elements import codeable, period, prune
from .errors import MappingError, at
from .labels import (
    add_security,
    add_tag,
    implies_substance_use,
    is_labelled,
    label_inline,
    substance_use_labels,
    substance_use_sensitivity,
)
from .records import expect_type, required
from .terminology import GATEWAY, GOAL_DOMAIN, SERVICE

PLAN_STATUS = {"draft": "draft", "active": "active", "completed": "completed",
               "revoked": "revoked"}
GOAL_STATUS = {"proposed": "proposed", "active": "active", "on-hold": "on-hold",
               "achieved": "completed", "cancelled": "cancelled"}
SERVICE_STATUS = {"planned": "active", "active": "active", "on-hold": "on-hold",
                  "completed": "completed", "stopped": "revoked"}


def care_plan_from_plan(plan: Mapping[str, Any], ctx: MappingContext) -> list[dict]:
    """The CarePlan first, then its Goals, then its ServiceRequests."""
    plan = expect_type(plan, "plan")
    plan_id = required(plan, "id")
    consumer_id = required(plan, "consumer")
    author = required(plan, "author")
    plan_period = required(plan, "period")
    status = PLAN_STATUS.get(required(plan, "status"))
    if status is None:
        raise MappingError("status", f"unknown plan status {plan['status']!r}")
    goals = plan.get("goals") or []
    services = plan.get("services") or []
    goal_ids = {}
    for index, goal in enumerate(goals):
        goal_id = required(goal, "id", f"goals[{index}]")
        if goal_id in goal_ids:
            raise MappingError(f"goals[{index}].id", f"goal {goal_id!r} appears twice")
        goal_ids[goal_id] = index
    goal_resources = [_goal(goal, f"goals[{index}]", plan, ctx)
                      for index, goal in enumerate(goals)]
    sensitivity = substance_use_sensitivity(ctx)
    goal_sud = {goal["id"]: is_labelled(resource, sensitivity)
                for goal, resource in zip(goals, goal_resources, strict=True)}
    service_resources = [_service_request(service, f"services[{index}]", plan, goal_ids,
                                          goal_sud, ctx)
                         for index, service in enumerate(services)]
    review_months = plan.get("review_frequency_months")
    notes = []
    if review_months:
        notes.append(f"Reviewed every {review_months} month{'s' if review_months > 1 else ''}.")
    if plan.get("last_review"):
        notes.append(f"Last reviewed {plan['last_review']}.")
    care_plan = prune({
        "resourceType": "CarePlan",
        "id": ctx.fhir_id("plan", plan_id),
        "meta": {"profile": [PROFILE_CAREPLAN]},
        "extension": [
            {"url": EXT_REVIEW_FREQUENCY, "valueDuration": {
                "value": review_months, "unit": "mo", "system": UCUM_SYSTEM, "code": "mo"}}
            if review_months else None,
            {"url": EXT_LAST_REVIEW, "valueDate": plan["last_review"]}
            if plan.get("last_review") else None,
        ],
        "identifier": [ctx.identifier("plan", plan_id)],
        "status": status,
        "intent": "plan",
        "category": [codeable(coding) for coding in
                     ctx.terminology.translate_all(GATEWAY, "careplan-category")],
        "title": plan.get("title"),
        "subject": ctx.reference("Patient", "consumer", consumer_id),
        "period": period(required(plan_period, "start", "period"), plan_period.get("end")),
        "author": ctx.reference("Practitioner", "staff", author),
        "careTeam": [ctx.reference("CareTeam", "careteam", consumer_id)],
        # References to substance-use-disorder goals and services carry that label inline,
        # so the plan can be shared with them removed where Part 2 consent is missing.
        "goal": [_labelled_if({"reference": f"Goal/{goal['id']}"}, goal, ctx)
                 for goal in goal_resources],
        "activity": [_labelled_if({"reference": {"reference": f"ServiceRequest/{service['id']}"}},
                                  service, ctx) for service in service_resources],
        "note": [{"text": " ".join(notes)}] if notes else None,
    })
    return [care_plan, *goal_resources, *service_resources]


def _labelled_if(element: dict, target: dict, ctx: MappingContext) -> dict:
    sensitivity = substance_use_sensitivity(ctx)
    return label_inline(element, sensitivity) if is_labelled(target, sensitivity) else element


def _goal(goal: Mapping[str, Any], path: str, plan: Mapping[str, Any],
          ctx: MappingContext) -> dict:
    terminology = ctx.terminology
    status = goal.get("status")
    if status is None:
        lifecycle = "proposed" if plan["status"] == "draft" else "active"
    elif status in GOAL_STATUS:
        lifecycle = GOAL_STATUS[status]
    else:
        raise MappingError(at(path, "status"), f"unknown goal status {status!r}")
    domain = goal.get("domain")
    target = None
    if goal.get("desired_outcome"):
        # gol-1: a target with a detail needs a measure.
        target = {"measure": codeable(terminology.translate(GATEWAY, "desired-outcome")),
                  "detailString": goal["desired_outcome"], "dueDate": goal.get("target_date")}
    elif goal.get("target_date"):
        target = {"dueDate": goal["target_date"]}
    resource = prune({
        "resourceType": "Goal",
        "id": ctx.fhir_id("goal", goal["id"]),
        "identifier": [ctx.identifier("goal", goal["id"])],
        "lifecycleStatus": lifecycle,
        "achievementStatus": {"coding": [dict(GOAL_ACHIEVED)]} if status == "achieved" else None,
        "category": [codeable(terminology.translate(GOAL_DOMAIN, domain, at(path, "domain")),
                              terminology.display(GOAL_DOMAIN, domain))] if domain else None,
        "description": {"text": required(goal, "consumer_words", path)},
        "subject": ctx.reference("Patient", "consumer", plan["consumer"]),
        "startDate": goal.get("start"),
        "target": [target] if target else None,
        # The goal is in the consumer's own words.
        "expressedBy": ctx.reference("Patient", "consumer", plan["consumer"]),
    })
    if goal.get("substance_use") or (domain and implies_substance_use(ctx, GOAL_DOMAIN, domain)):
        add_security(resource, substance_use_labels(ctx))
    if goal.get("school_relevant"):
        add_tag(resource, terminology.translate(GATEWAY, "school-relevant"))
    return resource


def _service_request(service: Mapping[str, Any], path: str, plan: Mapping[str, Any],
                     goal_ids: Mapping[str, int], goal_sud: Mapping[str, bool],
                     ctx: MappingContext) -> dict:
    terminology = ctx.terminology
    service_id = required(service, "id", path)
    code = required(service, "service", path)
    frequency = required(service, "frequency", path)
    status = _service_status(service, path, plan["status"])
    supporting = []
    for index, goal_id in enumerate(service.get("goals") or ()):
        if goal_id not in goal_ids:
            raise MappingError(at(path, f"goals[{index}]"), f"no goal {goal_id!r} in the plan")
        reference = ctx.reference("Goal", "goal", goal_id)
        if goal_sud.get(goal_id):
            reference = label_inline(reference, substance_use_sensitivity(ctx))
        supporting.append(reference)
    resource = prune({
        "resourceType": "ServiceRequest",
        "id": ctx.fhir_id("service", service_id),
        "identifier": [ctx.identifier("service", service_id)],
        "basedOn": [ctx.reference("CarePlan", "plan", plan["id"])],
        "status": status,
        # A service in an agreed plan is authorized; in a draft it is only planned.
        "intent": "plan" if plan["status"] == "draft" else "order",
        "code": codeable(terminology.translate(SERVICE, code, at(path, "service")),
                         service.get("description") or terminology.display(SERVICE, code)),
        "orderDetail": [{"text": service["scope"]}] if service.get("scope") else None,
        "subject": ctx.reference("Patient", "consumer", plan["consumer"]),
        "occurrenceTiming": {"repeat": prune({
            "boundsPeriod": period(required(service, "start", path), service.get("end")),
            "frequency": required(frequency, "count", at(path, "frequency")),
            "period": required(frequency, "period", at(path, "frequency")),
            "periodUnit": required(frequency, "unit", at(path, "frequency")),
        })},
        "requester": ctx.reference("Practitioner", "staff", plan["author"]),
        "performer": [
            ctx.reference("Organization", "organization", service["provider"])
            if service.get("provider") else None,
            ctx.reference("Practitioner", "staff", service["provider_staff"])
            if service.get("provider_staff") else None,
        ],
        "supportingInfo": supporting,
    })
    if service.get("substance_use") or implies_substance_use(ctx, SERVICE, code):
        add_security(resource, substance_use_labels(ctx))
    return resource


def _service_status(service: Mapping[str, Any], path: str, plan_status: str) -> str:
    status = service.get("status")
    if status is not None and status not in SERVICE_STATUS:
        raise MappingError(at(path, "status"), f"unknown service status {status!r}")
    if plan_status == "draft":
        return "draft"
    if plan_status == "revoked" and status != "completed":
        return "revoked"
    if status is None:
        return {"completed": "completed"}.get(plan_status, "active")
    return SERVICE_STATUS[status]

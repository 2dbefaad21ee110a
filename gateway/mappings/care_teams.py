"""A consumer's assignments and natural supports -> their CareTeam (+ the outside persons it
names, + a Task for each request to change the case manager).

The current case manager / supports coordinator is the participant listed first and the only one
whose ``role`` also carries the gateway's "current case manager" coding (gateway-concepts map),
so a partner finds them with ``participant.where(role.coding.code = 'current-case-manager')``.
Past assignments stay on the team with ``period.end`` set.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .codes import PROFILE_CARETEAM, PROFILE_TASK, PROPERTY_MEMBER_TYPE, TASK_CASE_MANAGER_CHANGE
from .context import MappingContext
from .elements import codeable, period, prune
from .errors import MappingError, at
from .labels import add_security, implies_substance_use, substance_use_labels
from .people import outside_practitioner, related_person
from .records import expect_type, required
from .terminology import GATEWAY, RELATIONSHIP, TEAM_ROLE

# Local roles whose holder is "the" case manager / supports coordinator of the consumer.
CASE_MANAGER_ROLES = ("case-manager", "supports-coordinator")

# change_request.status -> Task.status
CHANGE_REQUEST_STATUS = {"pending": "requested", "honored": "completed",
                         "not-honored": "rejected", "withdrawn": "cancelled"}
_WITHDRAWN = "Withdrawn by the consumer"
_NOT_HONORED = "Not honored"


def care_team_from_assignments(consumer_id: str, assignments: Iterable[Mapping[str, Any]],
                               natural_supports: Iterable[Mapping[str, Any]],
                               ctx: MappingContext, *, today: date | None = None) -> list[dict]:
    """The CareTeam (then the SUD CareTeam, if any) first, then the RelatedPersons /
    Practitioners for people outside the agency, then one cmh-task per change request.

    Without ``today`` an assignment is current while it has no end date; with it, while
    ``start <= today <= end``. ``natural_supports`` are the plan's ``natural_supports`` items.

    Members whose role or relationship discloses substance-use-disorder treatment (a SUD
    counselor, a recovery sponsor: ``sensitivity`` in the maps) go on a second, SUD-labelled
    CareTeam, so the main team can be shared without a 42 CFR Part 2 consent. When no one else
    is on the team, there is only the one team, labelled.
    """
    if not isinstance(consumer_id, str) or not consumer_id:
        raise MappingError("consumer", "a care team needs the consumer's id")
    assignments = list(assignments)
    for index, assignment in enumerate(assignments):
        _check_assignment(assignment, consumer_id, f"assignments[{index}]")
    supports = list(natural_supports)
    if not assignments and not supports:
        raise MappingError("assignments", "a care team needs at least one member (an "
                                          "assignment or a natural support)")
    members = [_Member(f"assignments[{i}]", a, None, _state(a, today), _is_sud(a, ctx))
               for i, a in enumerate(assignments)]
    members += [_Member(f"natural_supports[{i}]", None, s, "current",
                        implies_substance_use(ctx, RELATIONSHIP, s.get("relationship")))
                for i, s in enumerate(supports)]
    main = [m for m in members if not m.sud]
    sensitive = [m for m in members if m.sud]
    if not main:
        main, sensitive = sensitive, []
    outside = _Outside()
    teams = [_team(ctx, consumer_id, "careteam", main, outside)]
    if sensitive:
        teams.append(_team(ctx, consumer_id, "careteam-sud", sensitive, outside))
    labels = substance_use_labels(ctx)
    if any(m.sud for m in main):
        add_security(teams[0], labels)
    if sensitive:
        add_security(teams[1], labels)
    for key in outside.sud:
        add_security(outside.resources[key], labels)
    tasks = []
    for member in members:
        if member.assignment is not None and member.assignment.get("change_request"):
            task = _change_request_task(member.assignment, at(member.path, "change_request"),
                                        consumer_id, ctx)
            tasks.append(add_security(task, labels) if member.sud else task)
    return [*teams, *outside.resources.values(), *tasks]


class _Outside:
    """The people outside the agency the teams name, each emitted once, and which of them
    disclose SUD treatment."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], dict] = {}
        self.sud: set[tuple[str, str]] = set()

    def keep(self, resource: dict, sud: bool) -> dict:
        key = (resource["resourceType"], resource["id"])
        self.resources.setdefault(key, resource)
        if sud:
            self.sud.add(key)
        return {"reference": f"{key[0]}/{key[1]}"}


@dataclass(frozen=True)
class _Member:
    path: str
    assignment: Mapping[str, Any] | None
    support: Mapping[str, Any] | None
    state: str  # current | future | past
    sud: bool


def _is_sud(assignment: Mapping[str, Any], ctx: MappingContext) -> bool:
    person = assignment["member"].get("person")
    return implies_substance_use(ctx, TEAM_ROLE, assignment["role"]) or bool(
        person and implies_substance_use(ctx, RELATIONSHIP, person.get("relationship")))


def _team(ctx: MappingContext, consumer_id: str, kind: str, members: Sequence[_Member],
          outside: _Outside) -> dict:
    assignments = [m for m in members if m.assignment is not None]
    current_cm = _current_case_manager(assignments)
    order = sorted(assignments, key=lambda m: (
        0 if m is current_cm else _RANK[m.state], m.assignment["start"], m.assignment["id"]))
    participants: list[dict] = []
    for member in order:
        if member.state == "current":
            participants.append(_participant(member, member is current_cm, consumer_id, ctx,
                                             outside))
    for member in members:
        if member.support is not None:
            participants.append(_natural_support(member, consumer_id, ctx, outside))
    for member in order:
        if member.state != "current":
            participants.append(_participant(member, False, consumer_id, ctx, outside))
    active = any(m.state == "current" for m in members)
    starts = [m.assignment["start"] for m in assignments]
    ends = [m.assignment.get("end") for m in assignments]
    return prune({
        "resourceType": "CareTeam",
        "id": ctx.fhir_id(kind, consumer_id),
        "meta": {"profile": [PROFILE_CARETEAM]},
        "identifier": [ctx.identifier(kind, consumer_id)],
        "status": "active" if active else "inactive",
        "category": [codeable(coding) for coding in
                     ctx.terminology.translate_all(GATEWAY, "careteam-category")],
        "subject": ctx.reference("Patient", "consumer", consumer_id),
        "period": period(min(starts) if starts else None,
                         None if active or None in ends else max(ends)),
        "participant": participants,
        "managingOrganization": [ctx.agency_reference()],
    })


_RANK = {"current": 1, "future": 2, "past": 3}


def _check_assignment(assignment: Any, consumer_id: str, path: str) -> None:
    try:
        expect_type(assignment, "assignment")
    except MappingError as exc:
        raise MappingError(at(path, exc.path), exc.message) from None
    for field in ("id", "role", "member", "start"):
        required(assignment, field, path)
    if assignment.get("consumer") != consumer_id:
        raise MappingError(at(path, "consumer"), f"belongs to consumer "
                           f"{assignment.get('consumer')!r}, not {consumer_id!r}")
    member = assignment["member"]
    if not isinstance(member, Mapping) or len(member) != 1:
        raise MappingError(at(path, "member"), "needs exactly one of staff, organization, person")


def _state(assignment: Mapping[str, Any], today: date | None) -> str:
    start, end = assignment["start"], assignment.get("end")
    if today is None:
        return "past" if end else "current"
    iso = today.isoformat()
    if start > iso:
        return "future"
    return "past" if end and end < iso else "current"


def _current_case_manager(members: Sequence[_Member]) -> _Member | None:
    """The current case-manager assignment of a staff member; the latest start wins."""
    candidates = [m for m in members if m.state == "current"
                  and m.assignment["role"] in CASE_MANAGER_ROLES
                  and "staff" in m.assignment["member"]]
    if not candidates:
        return None
    return max(candidates, key=lambda m: (m.assignment["start"], m.assignment["id"]))


def _participant(member: _Member, current_cm: bool, consumer_id: str, ctx: MappingContext,
                 outside: _Outside) -> dict:
    assignment, path = member.assignment, member.path
    terminology = ctx.terminology
    role = assignment["role"]
    roles = [codeable(terminology.translate(TEAM_ROLE, role, at(path, "role")),
                      terminology.display(TEAM_ROLE, role))]
    if current_cm:
        roles.append(codeable(terminology.translate(GATEWAY, "current-case-manager"),
                              terminology.display(GATEWAY, "current-case-manager")))
    who = assignment["member"]
    on_behalf_of = assignment.get("on_behalf_of")
    if "staff" in who:
        target = ctx.reference("Practitioner", "staff", who["staff"])
        # R4 ctm-1: only a Practitioner member may act on behalf of an organization.
        organization = (ctx.reference("Organization", "organization", on_behalf_of)
                        if on_behalf_of else ctx.agency_reference())
    elif "organization" in who:
        if on_behalf_of:
            raise MappingError(at(path, "on_behalf_of"), "only a person can act on behalf of "
                                                         "an organization")
        target = ctx.reference("Organization", "organization", who["organization"])
        organization = None
    else:
        target = outside.keep(_outside_person(assignment, path, consumer_id, ctx), member.sud)
        organization = (ctx.reference("Organization", "organization", on_behalf_of)
                        if on_behalf_of else None)
    return prune({
        "role": roles,
        "member": target,
        "onBehalfOf": organization,
        "period": period(assignment["start"], assignment.get("end")),
    })


def _outside_person(assignment: Mapping[str, Any], path: str, consumer_id: str,
                    ctx: MappingContext) -> dict:
    """A Practitioner for a professional (by the role map's member-type, or because they act
    for an organization), else a RelatedPerson."""
    person = assignment["member"]["person"]
    person_path = at(path, "member.person")
    local_id = person.get("id") or f"{assignment['id']}/person"  # local ids never contain "/"
    member_types = [product.get("value") for product
                    in ctx.terminology.products(TEAM_ROLE, assignment["role"])
                    if product.get("property") == PROPERTY_MEMBER_TYPE]
    if assignment.get("on_behalf_of") or "Practitioner" in member_types:
        return outside_practitioner(ctx, kind="person", local_id=local_id, person=person,
                                    path=person_path)
    return related_person(ctx, kind="person", local_id=local_id, consumer_id=consumer_id,
                          person=person, path=person_path)


def _natural_support(member: _Member, consumer_id: str, ctx: MappingContext,
                     outside: _Outside) -> dict:
    support, path = member.support, member.path
    support_id = required(support, "id", path)
    target = outside.keep(related_person(ctx, kind="natural-support", local_id=support_id,
                                         consumer_id=consumer_id, person=support, path=path),
                          member.sud)
    terminology = ctx.terminology
    return prune({
        "role": [codeable(terminology.translate(TEAM_ROLE, "natural-support", path),
                          terminology.display(TEAM_ROLE, "natural-support")),
                 {"text": support.get("role_in_plan")}],
        "member": target,
    })


def change_request_local_id(assignment: Mapping[str, Any]) -> str:
    """A change request's own id, or its assignment's (one request per assignment)."""
    return assignment["change_request"].get("id") or assignment["id"]


def _change_request_task(assignment: Mapping[str, Any], path: str, consumer_id: str,
                         ctx: MappingContext) -> dict:
    request = assignment["change_request"]
    status = CHANGE_REQUEST_STATUS.get(request.get("status"))
    if status is None:
        raise MappingError(at(path, "status"), f"unknown change-request status "
                                               f"{request.get('status')!r}")
    requested_on = required(request, "requested_on", path)
    local_id = change_request_local_id(assignment)
    reason_text = None
    if status == "rejected":
        reason_text = request.get("explanation") or _NOT_HONORED
    elif status == "cancelled":
        reason_text = request.get("explanation") or _WITHDRAWN
    terminology = ctx.terminology
    inputs = []
    if request.get("requested_staff"):
        inputs.append({"type": codeable(terminology.translate(GATEWAY, "requested-case-manager")),
                       "valueReference": ctx.reference("Practitioner", "staff",
                                                       request["requested_staff"])})
    if "staff" in assignment["member"]:
        inputs.append({"type": codeable(terminology.translate(GATEWAY, "case-manager-to-change")),
                       "valueReference": ctx.reference("Practitioner", "staff",
                                                       assignment["member"]["staff"])})
    return prune({
        "resourceType": "Task",
        "id": ctx.fhir_id("change-request", local_id),
        "meta": {"profile": [PROFILE_TASK]},
        "identifier": [ctx.identifier("change-request", local_id)],
        "status": status,
        "statusReason": {"text": reason_text} if reason_text else None,
        # The consumer asks; the agency decides: a proposal, not an order.
        "intent": "proposal",
        "code": {"coding": [dict(TASK_CASE_MANAGER_CHANGE)]},
        "focus": ctx.reference("CareTeam", "careteam", consumer_id),
        "for": ctx.reference("Patient", "consumer", consumer_id),
        "executionPeriod": period(requested_on, request.get("decided_on")),
        "authoredOn": requested_on,
        "lastModified": request.get("decided_on"),
        "requester": ctx.reference("Patient", "consumer", consumer_id),
        # Decided requests belong to whoever decided; open ones to the agency.
        "owner": ctx.reference("Practitioner", "staff", request["decided_by"])
        if request.get("decided_by") else ctx.agency_reference(),
        "reasonCode": {"text": required(request, "reason", path)},
        "input": inputs,
    })

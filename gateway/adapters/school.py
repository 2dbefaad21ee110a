"""Schools (partner kind ``school``): who is on the student's care team and how to reach them,
and the school-relevant goals; nothing else (FERPA and minimum necessary: no diagnoses, no
services, no clinical reasons; the decision point's school shape enforces it).

Sent as a FHIR ``transaction`` Bundle where the district has a FHIR endpoint; otherwise written
into the partner's drop folder as JSON (the same Bundle) and CSV (one row per care-team member,
one per goal), each file written under a temporary name and renamed, so a reader never sees a
half-written file.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from gateway.adapters.payload import DeliveryContext, Payload, transaction
from gateway.adapters.records import names
from gateway.fhir import json_text

MEMBER_TYPES = {"Practitioner", "PractitionerRole", "RelatedPerson", "Organization"}
MEMBER_COLUMNS = ("student", "member", "role", "organization", "phone", "email")
GOAL_COLUMNS = ("student", "goal", "status", "start", "target_date")


def build(context: DeliveryContext) -> Payload | None:
    records = context.records
    found = records.of_types(["CareTeam", "Goal"])
    teams, goals = found["CareTeam"], found["Goal"]
    if not teams and not goals:
        return None
    patient = records.patient()
    members = records.referenced(teams, MEMBER_TYPES)
    resources = ([patient] if patient is not None else []) + teams + goals + members
    bundle = transaction(context.base_url, resources)
    student = _name(patient) if patient is not None else records.patient_id
    by_reference = {f"{r['resourceType']}/{r['id']}": r for r in members}
    stem = context.delivery_id
    files = {
        f"{stem}.json": json_text.dumps(bundle, indent=1).encode(),
        f"{stem}-care-team.csv": _csv(MEMBER_COLUMNS, [
            _member_row(student, participant, by_reference)
            for team in teams for participant in team.get("participant", [])]),
        f"{stem}-goals.csv": _csv(GOAL_COLUMNS, [
            {"student": student, "goal": (goal.get("description") or {}).get("text", ""),
             "status": goal.get("lifecycleStatus", ""), "start": goal.get("startDate", ""),
             "target_date": ";".join(t.get("dueDate", "") for t in goal.get("target", []))}
            for goal in goals]),
    }
    return Payload(records.patient_id, names(resources), bundle, files)


def _member_row(student: str, participant: dict[str, Any],
                members: dict[str, dict[str, Any]]) -> dict[str, str]:
    member = members.get((participant.get("member") or {}).get("reference", ""), {})
    organization = members.get(
        (participant.get("onBehalfOf") or {}).get("reference", ""), {})
    telecom = member.get("telecom", []) + organization.get("telecom", [])
    return {"student": student,
            "member": _name(member) or (participant.get("member") or {}).get("display", ""),
            "role": "; ".join(c.get("text") or next(
                (x.get("display", "") for x in c.get("coding", [])), "")
                for c in participant.get("role", [])),
            "organization": organization.get("name", ""),
            "phone": _first(telecom, "phone"), "email": _first(telecom, "email")}


def _name(resource: dict[str, Any]) -> str:
    name = resource.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, list) and name:
        first = name[0]
        return first.get("text") or " ".join([*first.get("given", []), first.get("family", "")]
                                             ).strip()
    return ""


def _first(telecom: list[dict[str, Any]], system: str) -> str:
    return next((t.get("value", "") for t in telecom if t.get("system") == system), "")


def _csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()

"""FHIR Tasks (profile cmh-task) for due assessments and plan reviews."""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from .care_management import (
    ANNUAL_REASSESSMENT,
    COMPREHENSIVE_ASSESSMENT,
    PLAN_REVIEW,
    DueItem,
    Record,
    due_items,
    responsible_staff,
)

CMH_TASK_PROFILE = "http://fhir-care-gateway.example/fhir/StructureDefinition/cmh-task"
TASK_TYPE_SYSTEM = "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-task-type"
DISPLAY = {  # as in profiles/CodeSystem-cmh-task-type.json
    COMPREHENSIVE_ASSESSMENT: "Comprehensive assessment due",
    ANNUAL_REASSESSMENT: "Annual reassessment due",
    PLAN_REVIEW: "Person-centered plan review due",
}
_DESCRIPTION = {
    COMPREHENSIVE_ASSESSMENT: "Comprehensive assessment, due within 30 days of the application "
                              "for services on {start}",
    ANNUAL_REASSESSMENT: "Annual reassessment, due 12 months after the assessment completed "
                         "on {start}",
    PLAN_REVIEW: "Review of person-centered plan {plan}, due {months} after {start}",
}
_TASK_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL,
                                "http://fhir-care-gateway.example/fhir/Task/due-item")


def due_task_id(item: DueItem) -> str:
    """A deterministic FHIR id for the item's cycle (a UUID, so always a valid id)."""
    return str(uuid.uuid5(_TASK_ID_NAMESPACE, item.cycle_id))


def due_task(item: DueItem, *, patient_reference: str, owner_reference: str, task_id: str,
             identifier_system: str, today: date,
             focus_reference: str | None = None) -> dict[str, Any]:
    """The cmh-task Task for one cycle.

    ``requested`` while open, ``completed`` (``executionPeriod.end`` = completion date) once
    closed; ``businessStatus.text`` is ``due``/``overdue`` or ``on-time``/``late``, overdue
    being judged on ``today``. ``restriction.period`` runs from the cycle start to the due date
    and ``authoredOn`` is the cycle start (or ``today``, if earlier), so the same cycle renders
    to the same Task every day until its status changes. ``identifier`` is
    ``identifier_system|item.cycle_id``, usable for conditional create/update.
    """
    completed = item.satisfied
    status = item.business_status if completed else (
        "overdue" if today > item.due_on else "due")
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id,
        "meta": {"profile": [CMH_TASK_PROFILE]},
        "identifier": [{"system": identifier_system, "value": item.cycle_id}],
        "status": "completed" if completed else "requested",
        "businessStatus": {"text": status},
        "intent": "plan",
        "code": {"coding": [{"system": TASK_TYPE_SYSTEM, "code": item.kind,
                             "display": DISPLAY[item.kind]}]},
        "description": _describe(item),
    }
    if focus_reference is not None:
        task["focus"] = {"reference": focus_reference}
    task["for"] = {"reference": patient_reference}
    task["authoredOn"] = min(item.cycle_start, today).isoformat()
    if completed:
        assert item.completed_on is not None
        task["executionPeriod"] = {"end": item.completed_on.isoformat()}
    task["owner"] = {"reference": owner_reference}
    task["restriction"] = {"period": {"start": item.cycle_start.isoformat(),
                                      "end": item.due_on.isoformat()}}
    return task


def _describe(item: DueItem) -> str:
    months = (item.due_on.year - item.cycle_start.year) * 12 + (
        item.due_on.month - item.cycle_start.month)
    text = _DESCRIPTION[item.kind].format(
        start=item.cycle_start.isoformat(), plan=item.plan_id,
        months="1 month" if months == 1 else f"{months} months")
    if item.completed_on is not None:
        by = f" (assessment {item.satisfied_by})" if item.satisfied_by else ""
        text += f"; completed on {item.completed_on.isoformat()}{by}"
    return text


def cancel_task(task: dict[str, Any], *, reason: str, today: date) -> dict[str, Any]:
    """A copy of an open due Task, cancelled with ``reason`` (cmh-tsk-1 needs statusReason).

    For reconciliation: a stored open Task whose cycle ``due_items`` no longer produces (the
    consumer became inactive, the plan was completed or replaced, a date was corrected) should
    be cancelled. Completed Tasks are history and are refused (ValueError).
    """
    if task.get("status") in ("completed", "cancelled"):
        raise ValueError(f"Task {task.get('id')} is already {task['status']}")
    cancelled = copy.deepcopy(task)
    cancelled["status"] = "cancelled"
    cancelled["statusReason"] = {"text": reason}
    cancelled["businessStatus"] = {"text": "cancelled"}
    cancelled["lastModified"] = today.isoformat()
    return cancelled


def due_tasks(consumer: Record, assessments: Iterable[Record], plans: Iterable[Record],
              assignments: Iterable[Record], today: date, *,
              reference_for: Callable[[str, str], str], agency_reference: str,
              identifier_system: str) -> list[dict[str, Any]]:
    """Every cycle's Task for one consumer, wired up.

    ``reference_for(record_type, local_id)`` gives a relative reference for a local record;
    it is called with ``"consumer"`` (-> ``Patient/...``), ``"staff"`` (-> ``Practitioner/...``)
    and ``"plan"`` (-> ``CarePlan/...``, the focus of plan reviews). The owner is the
    staff member who completed the closing assessment (``completed_by``) for closed cycles,
    otherwise the consumer's current case manager / supports coordinator
    (``responsible_staff``), otherwise ``agency_reference`` (``Organization/...``). Task ids
    come from ``due_task_id``.
    """
    plans = list(plans)
    items = due_items(consumer, assessments, plans, today)
    if not items:
        return []
    staff = responsible_staff(consumer["id"], assignments, today)
    current_owner = reference_for("staff", staff) if staff is not None else agency_reference
    patient = reference_for("consumer", consumer["id"])
    return [due_task(item, patient_reference=patient,
                     owner_reference=(reference_for("staff", item.completed_by)
                                      if item.completed_by is not None else current_owner),
                     task_id=due_task_id(item), identifier_system=identifier_system,
                     today=today,
                     focus_reference=(reference_for("plan", item.plan_id)
                                      if item.plan_id is not None else None))
            for item in items]

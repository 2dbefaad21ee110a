"""What an operator does with a referral: accept, reject, start, hold, resume, complete, cancel,
fail, or mark it entered-in-error (``gateway referrals ACTION ID``, ``POST
/admin/referrals/{id}/{action}``).

Each action is one status change of the referral Task, written as the operator, so the state
machine of gateway/workflows/referral_states.py decides whether it may happen (and asks for a
reason where the IGs do). The reason given becomes ``statusReason`` (it applies to the current
status only, so a change without one drops the last); ``executionPeriod`` starts when work
starts and ends when the referral closes; ``lastModified`` is now.

**Completion closes the loop** (Gravity SDOHCC: "Task.output is used to return ... what was
performed in fulfillment of the referral"; BSeR: the referral's feedback): ``Task.output``
references the follow-up Encounter, which is

- the one the operator names (``encounter``), or
- a new one the operator enters by its date (``encounter_date``: a finished ambulatory visit
  with the agency, based on the referral's ServiceRequest), or
- else the consumer's first finished Encounter in the local record after the discharge (or,
  for a referral without FUH deadlines, on or after the day it was made), not at the hospital;

and, for a discharge referral, whether that visit met the HEDIS FUH 7- and 30-day windows
(gateway/care/followup.py: after the day of discharge, by D + 7 and D + 30). A completion with
no follow-up Encounter to name is refused (422): the referral was not fulfilled. The
requesting hospital then receives the status, the reason and the output as the decision
point's referral-status rule lets it (gateway/privacy/decision.py rule 6, BSeR feedback).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from gateway.audit.events import disclosure_event
from gateway.audit.log import record
from gateway.auth import Principal
from gateway.care import followup
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.local.store import LocalRecordStore
from gateway.local.translate import translator_for
from gateway.workflows.court_orders import referenced_id
from gateway.workflows.referral_states import is_referral
from gateway.workflows.referrals import FHIR_BASE, without_version_meta

if TYPE_CHECKING:
    from gateway.state import GatewayState

# Action -> the status it sets.
ACTIONS = {"accept": "accepted", "reject": "rejected", "start": "in-progress",
           "hold": "on-hold", "resume": "in-progress", "complete": "completed",
           "cancel": "cancelled", "fail": "failed", "entered-in-error": "entered-in-error"}
CLOSED = frozenset({"completed", "rejected", "cancelled", "failed", "entered-in-error"})
REFERRAL_OUTPUT = f"{FHIR_BASE}/CodeSystem/referral-output"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@dataclass(frozen=True)
class FollowUp:
    """The Encounter that fulfilled a referral, its date, and whether it was entered now."""

    encounter_id: str
    on: date
    entered: bool = False


def act(state: GatewayState, task_id: str, action: str, operator: Principal, *,
        reason: str | None = None, encounter: str | None = None,
        encounter_date: date | None = None) -> dict[str, Any]:
    """Apply ``action`` to referral ``task_id`` as ``operator``; the stored Task (FhirError:
    404 unknown, 422 refused by the state machine or nothing to complete it with)."""
    if action not in ACTIONS:
        raise FhirError(400, "invalid", f"unknown action {action!r}; one of "
                                        f"{', '.join(ACTIONS)}")
    if (encounter or encounter_date) and action != "complete":
        raise FhirError(400, "invalid", "an encounter is given only to complete a referral")
    with state.writing(operator) as repository:
        now = repository.clock()
        stored = repository.read("Task", task_id)
        task = stored.json()
        if not is_referral(task):
            raise FhirError(422, "business-rule", f"Task/{task_id} is not a referral")
        before, status = task.get("status"), ACTIONS[action]
        if action == "resume" and before != "on-hold":
            raise FhirError(422, "business-rule", f"referral Task/{task_id} is {before}, not "
                                                  f"on-hold; there is nothing to resume")
        written = [f"Task/{task_id}"]
        changed = _moved(task, status, reason, now)
        if status == "completed":
            found = follow_up(state, repository, task, encounter, encounter_date)
            if found.entered:
                written.append(f"Encounter/{found.encounter_id}")
            changed["output"] = outputs(task, found)
        result = repository.update("Task", task_id, without_version_meta(changed),
                                   if_match=stored.etag)
        patient = referenced_id((task.get("for") or {}).get("reference"), "Patient")
        record(repository, disclosure_event(
            requester_kind="operator", requester_name=operator.name,
            requester_organization=None, purpose="TREAT", interaction="operation",
            action="U", outcome="permit", patients=[patient] if patient else [],
            resources=written, recorded=now,
            description=f"referral Task/{task_id}: {action} ({before} -> {status})"
                        f"{': ' + reason if reason else ''}"[:1000]))
        return result.stored.json()


def _instant(moment: datetime) -> str:
    """To the second, as the referral's authoredOn is written (Task inv-1 compares them, and
    FHIRPath cannot order instants of different precision)."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _moved(task: dict[str, Any], status: str, reason: str | None, now: datetime
           ) -> dict[str, Any]:
    changed = {**task, "status": status, "lastModified": _instant(now)}
    if reason:
        changed["statusReason"] = {"text": reason}
    elif status != task.get("status"):
        changed.pop("statusReason", None)
    period = dict(task.get("executionPeriod") or {})
    if status == "in-progress":
        period.setdefault("start", _instant(now))
    if status in CLOSED:
        period["end"] = _instant(now)
    if period:
        changed["executionPeriod"] = period
    return changed


# -- completion: what fulfilled the referral -----------------------------------------------

def follow_up(state: GatewayState, repository: Repository, task: dict[str, Any],
              encounter: str | None, encounter_date: date | None) -> FollowUp:
    """The follow-up Encounter of the module docstring (named, entered, or found)."""
    patient = referenced_id((task.get("for") or {}).get("reference"), "Patient")
    if patient is None:
        raise FhirError(422, "business-rule", f"referral Task/{task['id']} is for no consumer "
                                              f"yet (its person awaits identity review)")
    if encounter:
        encounter_id = encounter.removeprefix("Encounter/")
        found = repository.read("Encounter", encounter_id).json()  # 404 when unknown
        if referenced_id((found.get("subject") or {}).get("reference"), "Patient") != patient:
            raise FhirError(422, "business-rule", f"Encounter/{encounter_id} is not "
                                                  f"Patient/{patient}'s")
        on = _start_date(found)
        if on is None:
            raise FhirError(422, "business-rule", f"Encounter/{encounter_id} has no date")
        return FollowUp(encounter_id, on)
    if encounter_date is not None:
        return FollowUp(_enter_visit(state, repository, task, patient, encounter_date),
                        encounter_date, entered=True)
    since, after = _counted_from(task)
    hospital = {(task.get("encounter") or {}).get("reference"),
                (task.get("requester") or {}).get("reference")}
    visits = sorted(
        (on, stored.id) for stored in repository.of_patient(patient, ["Encounter"])
        if (found := stored.json()).get("status") == "finished"
        and f"Encounter/{stored.id}" not in hospital
        and (found.get("serviceProvider") or {}).get("reference") not in hospital
        and (on := _start_date(found)) is not None and (on > since if after else on >= since))
    if not visits:
        raise FhirError(422, "business-rule",
                        f"referral Task/{task['id']}: no finished follow-up Encounter of "
                        f"Patient/{patient} {'after' if after else 'since'} {since} is "
                        f"recorded; name the visit (encounter) or enter its date "
                        f"(encounter date) to complete it")
    on, encounter_id = visits[0]
    return FollowUp(encounter_id, on)


def outputs(task: dict[str, Any], visit: FollowUp) -> list[dict[str, Any]]:
    """Task.output: the follow-up Encounter and, for a discharge, the FUH windows it met."""
    kept = [o for o in task.get("output", []) if not any(
        c.get("system") == REFERRAL_OUTPUT for c in (o.get("type") or {}).get("coding", []))]
    found = [*kept, {"type": _kind("follow-up-encounter", "Follow-up encounter"),
                     "valueReference": {"reference": f"Encounter/{visit.encounter_id}",
                                        "display": f"Follow-up visit on {visit.on}"}}]
    due = _due(task)
    if due is not None:
        seen_after = visit.on > due.discharged_on
        found += [{"type": _kind("fuh-7-day", "Follow-up within 7 days of discharge (FUH)"),
                   "valueBoolean": seen_after and visit.on <= due.within_7_days},
                  {"type": _kind("fuh-30-day", "Follow-up within 30 days of discharge (FUH)"),
                   "valueBoolean": seen_after and visit.on <= due.within_30_days}]
    return found


def _kind(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": REFERRAL_OUTPUT, "code": code, "display": display}],
            "text": display}


def _due(task: dict[str, Any]) -> followup.FollowUpDue | None:
    try:
        return followup.due_of(task)
    except ValueError:
        return None


def _counted_from(task: dict[str, Any]) -> tuple[date, bool]:
    """(the day follow-up is counted from, whether it must be after that day): the discharge
    for a discharge referral (FUH: not the day of discharge), else the day it was made."""
    due = _due(task)
    if due is not None:
        return due.discharged_on, True
    made = str(task.get("authoredOn") or "")[:10]
    try:
        return date.fromisoformat(made), False
    except ValueError:
        return date.min, False


def _start_date(encounter: dict[str, Any]) -> date | None:
    start = str((encounter.get("period") or {}).get("start") or "")[:10]
    try:
        return date.fromisoformat(start)
    except ValueError:
        return None


def _enter_visit(state: GatewayState, repository: Repository, task: dict[str, Any],
                 patient: str, on: date) -> str:
    """The operator's entry of the follow-up visit: a finished ambulatory Encounter with the
    agency on ``on``, based on the referral's ServiceRequest."""
    ctx = translator_for(state.config).context(LocalRecordStore(repository.session))
    visit: dict[str, Any] = {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "Follow-up after hospital discharge"}],
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": on.isoformat(), "end": on.isoformat()},
        "serviceProvider": ctx.agency_reference(),
    }
    focus = (task.get("focus") or {}).get("reference", "")
    if focus.startswith("ServiceRequest/"):
        visit["basedOn"] = [{"reference": focus}]
    return repository.create("Encounter", visit).stored.id

"""What the console shows of referral Tasks: the inbox rows and one referral's page.

Everything is read through the operator's repository (``GatewayState.reading`` with their
Principal), so the consent decision point notes each resource shown for the page's AuditEvent.
Deadlines are the workflow's own (gateway/workflows/referral_deadlines.py).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from gateway.care import followup
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.fhir.versions import StoredResource
from gateway.mappings.codes import TASK_REFERRAL
from gateway.workflows.referral_deadlines import ReferralDeadline, deadline_of, open_referral_tasks

_EARLIEST = datetime.min.replace(tzinfo=UTC)
# Urgency buckets of the home page and the inbox filter: (key, label, test).
URGENCY = {
    "overdue": "past an FUH deadline",
    "1": "due today or tomorrow",
    "3": "due in 2 to 3 days",
    "7": "due in 4 to 7 days",
}


def urgency_of(deadline: ReferralDeadline | None) -> str | None:
    if deadline is None:
        return None
    if deadline.overdue:
        return "overdue"
    for key, upto in (("1", 1), ("3", 3), ("7", 7)):
        if deadline.days_left <= upto:
            return key
    return None


@dataclass(frozen=True)
class InboxRow:
    task_id: str
    status: str
    version: int
    patient_id: str | None
    person: str
    hospital: str
    received: datetime | None
    age_days: int | None
    deadline: ReferralDeadline | None
    urgency: str | None
    business_status: str | None


def referral_tasks(repository: Repository, statuses: Iterable[str] | None
                   ) -> list[StoredResource]:
    """Every current referral Task (in ``statuses``, when given), through the search index."""
    return open_referral_tasks(repository, statuses or ())


def inbox(repository: Repository, today: date, *, statuses: Iterable[str] | None) -> list[InboxRow]:
    """Referrals, most urgent first: past deadlines first, then the fewest days left; those
    without FUH deadlines (imported ones) last, newest first."""
    rows = []
    names: dict[str, str] = {}
    for stored in referral_tasks(repository, statuses):
        task = stored.json()
        patient = _patient_id(task)
        if patient is not None and patient not in names:
            names[patient] = person_name(_read(repository, "Patient", patient))
        deadline = deadline_of(task, today)
        received = _instant(task.get("authoredOn"))
        rows.append(InboxRow(
            task_id=stored.id, status=task.get("status", ""), version=stored.version_id,
            patient_id=patient, person=names.get(patient or "", "") or "(unknown person)",
            hospital=organization_name(repository, task.get("requester"), names),
            received=received,
            age_days=(today - received.date()).days if received is not None else None,
            deadline=deadline, urgency=urgency_of(deadline),
            business_status=(task.get("businessStatus") or {}).get("text")))
    with_deadline = sorted((r for r in rows if r.deadline is not None),
                           key=lambda r: (-len(r.deadline.overdue), r.deadline.days_left,
                                          r.task_id))
    without = sorted((r for r in rows if r.deadline is None),
                     key=lambda r: r.received or _EARLIEST, reverse=True)
    return with_deadline + without


@dataclass
class ReferralPage:
    stored: StoredResource
    task: dict[str, Any]
    patient: dict[str, Any] | None
    encounter: dict[str, Any] | None
    diagnoses: list[str]
    deadline: ReferralDeadline | None
    hospital: str
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.task.get("status", ""))


def referral_page(repository: Repository, task_id: str, today: date) -> ReferralPage | None:
    """One referral with the person, encounter, diagnoses, deadlines and status history;
    None when there is no such referral Task."""
    try:
        stored = repository.read("Task", task_id)
    except FhirError as error:
        if error.status in (404, 410):
            return None
        raise
    task = stored.json()
    patient_id = _patient_id(task)
    patient = _read(repository, "Patient", patient_id) if patient_id else None
    encounter_ref = (task.get("encounter") or {}).get("reference", "")
    encounter = _read(repository, *encounter_ref.split("/", 1)) \
        if encounter_ref.startswith("Encounter/") else None
    diagnoses = []
    for item in task.get("input", []):
        reference = (item.get("valueReference") or {}).get("reference", "")
        if reference.startswith("Condition/"):
            condition = _read(repository, "Condition", reference.split("/", 1)[1])
            diagnoses.append(concept_text((condition or {}).get("code")) or reference)
    versions, _total = repository.history("Task", task_id, since=None, count=100, offset=0)
    history: list[dict[str, Any]] = []
    earlier_business = None
    for version in reversed(versions):  # oldest first, to say only what changed
        if version.deleted or version.content is None:
            continue
        content = version.json()
        business = (content.get("businessStatus") or {}).get("text")
        history.insert(0, {
            "version": version.version_id, "when": version.last_updated,
            "status": content.get("status"),
            "business_status": business if business != earlier_business else None,
            "reason": concept_text(content.get("statusReason")),
            "visit": (content.get("executionPeriod") or {}).get("end")})
        earlier_business = business
    return ReferralPage(stored, task, patient, encounter, diagnoses, deadline_of(task, today),
                        organization_name(repository, task.get("requester")), history)


def organization_name(repository: Repository, reference: dict[str, Any] | None,
                      cache: dict[str, str] | None = None) -> str:
    """Who sent a referral: its display, else the name of the Organization it references."""
    reference = reference or {}
    if reference.get("display"):
        return str(reference["display"])
    target = str(reference.get("reference", ""))
    if not target:
        return "(not given)"
    cache = {} if cache is None else cache
    if target not in cache:
        found = _read(repository, "Organization", target.split("/", 1)[1]) \
            if target.startswith("Organization/") else None
        cache[target] = str((found or {}).get("name") or target)
    return cache[target]


def is_referral_task(task: dict[str, Any]) -> bool:
    return any(c.get("system") == TASK_REFERRAL["system"] and c.get("code") == TASK_REFERRAL[
        "code"] for c in (task.get("code") or {}).get("coding", []))


def discharged_on(task: dict[str, Any]) -> date | None:
    try:
        due = followup.due_of(task)
    except ValueError:
        return None
    return due.discharged_on if due is not None else None


def person_name(patient: dict[str, Any] | None) -> str:
    if not patient:
        return ""
    for name in patient.get("name", []):
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return ""


def concept_text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
        if coding.get("code"):
            return str(coding["code"])
    return ""


def _patient_id(task: dict[str, Any]) -> str | None:
    reference = (task.get("for") or {}).get("reference", "")
    return reference.split("/", 1)[1] if reference.startswith("Patient/") else None


def _read(repository: Repository, resource_type: str, resource_id: str | None
          ) -> dict[str, Any] | None:
    if not resource_id:
        return None
    try:
        return repository.read(resource_type, resource_id).json()
    except FhirError:
        return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None

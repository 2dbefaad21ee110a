"""What the console shows of a consumer: the search, and one consumer's page (care team and
its history, change requests, plans and goals in the consumer's words, due Tasks, consents).

Everything is read through the operator's repository (``GatewayState.reading`` with their
Principal): the consumer's resources in one query (``Repository.of_patient``), as a delivery
reads them. Whether a due Task is overdue is the date the care rules gave it
(gateway/care/care_management.py writes it as ``restriction.period.end``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.care.care_management import KINDS as DUE_KINDS
from gateway.care.tasks import DISPLAY, TASK_TYPE_SYSTEM
from gateway.console.fhir_pages import search_page
from gateway.console.referral_data import concept_text, is_referral_task, person_name
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.mappings.codes import EXT_CONSENT_REVOKED
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.mappings.ids import DEFAULT_IDENTIFIER_BASE

CONSUMER_SYSTEM = f"{DEFAULT_IDENTIFIER_BASE}/consumer"
AGENCY_NUMBER_SYSTEM = f"{DEFAULT_IDENTIFIER_BASE}/agency-number"
CURRENT_CM = "current-case-manager"
CHANGE_REQUEST = "case-manager-change"
OPEN_TASK = frozenset({"draft", "requested", "received", "accepted", "ready", "in-progress",
                       "on-hold"})
CHANGE_REQUEST_OUTCOME = {"requested": "pending", "completed": "honored",
                          "rejected": "not honored", "cancelled": "withdrawn"}
OWN_TYPES = ("CareTeam", "CarePlan", "Goal", "Task", "Consent")


@dataclass(frozen=True)
class ConsumerRow:
    patient_id: str
    name: str
    born: str
    consumer_id: str
    agency_number: str
    medicaid_id: str


def consumer_row(patient: dict[str, Any]) -> ConsumerRow:
    return ConsumerRow(str(patient.get("id")), person_name(patient) or "(no name)",
                       str(patient.get("birthDate", "")), identifier(patient, CONSUMER_SYSTEM),
                       identifier(patient, AGENCY_NUMBER_SYSTEM),
                       identifier(patient, DEFAULT_MEDICAID_SYSTEM))


def identifier(resource: dict[str, Any], system: str) -> str:
    return next((str(i.get("value", "")) for i in resource.get("identifier", [])
                 if i.get("system") == system), "")


def find_consumers(repository: Repository, text: str) -> list[ConsumerRow]:
    """Consumers whose identifier (consumer id, agency number, Medicaid id: any system) is
    ``text``, then those whose name matches it; each once."""
    found: dict[str, ConsumerRow] = {}
    for params in ([("identifier", text)], [("name", text)]):
        for patient in search_page(repository, "Patient", params, count=200,
                                   total=False).resources:
            found.setdefault(str(patient["id"]), consumer_row(patient))
    return list(found.values())


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    current: bool  # the current case manager / supports coordinator
    start: str
    end: str
    organization: str


@dataclass(frozen=True)
class ChangeRequest:
    requested_on: str
    outcome: str
    reason: str
    requested: str  # the case manager asked for


@dataclass(frozen=True)
class Due:
    kind: str
    status: str
    due_on: date | None
    overdue: bool
    description: str


@dataclass(frozen=True)
class ConsentRow:
    consent_id: str
    state: str  # active, expired, revoked, not yet in force, or the FHIR status
    status: str
    start: str
    end: str
    recipients: tuple[str, ...]
    purposes: tuple[str, ...]
    policy: str


@dataclass(frozen=True)
class Plan:
    title: str
    status: str
    start: str
    end: str
    goals: list[dict[str, str]]


@dataclass
class ConsumerPage:
    row: ConsumerRow
    patient: dict[str, Any]
    team: list[Member] = field(default_factory=list)
    team_versions: list[dict[str, Any]] = field(default_factory=list)
    change_requests: list[ChangeRequest] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    due: list[Due] = field(default_factory=list)
    consents: list[ConsentRow] = field(default_factory=list)
    referrals: list[dict[str, Any]] = field(default_factory=list)


def consumer_page(repository: Repository, patient_id: str, today: date) -> ConsumerPage | None:
    try:
        patient = repository.read("Patient", patient_id).json()
    except FhirError as error:
        if error.status in (404, 410):
            return None
        raise
    names = _Names(repository)
    page = ConsumerPage(consumer_row(patient), patient)
    stored = repository.of_patient(patient_id, OWN_TYPES)
    by_type: dict[str, list[dict[str, Any]]] = {t: [] for t in OWN_TYPES}
    for item in stored:
        resource = item.json()
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for team in by_type["CareTeam"]:
        page.team += [_member(p, names) for p in team.get("participant", [])]
        page.team_versions += _team_history(repository, team, names)
    # The current case manager first, then present members, then past ones, latest first.
    page.team.sort(key=lambda m: (not m.current, m.end != "", _negated(m.end), m.start))
    goals = {f"Goal/{g['id']}": g for g in by_type["Goal"]}
    for plan in sorted(by_type["CarePlan"], key=lambda p: (p.get("period") or {}).get(
            "start", ""), reverse=True):
        page.plans.append(Plan(
            str(plan.get("title") or "Plan"), str(plan.get("status", "")),
            str((plan.get("period") or {}).get("start", "")),
            str((plan.get("period") or {}).get("end", "")),
            [_goal(goals[r["reference"]]) for r in plan.get("goal", [])
             if r.get("reference") in goals]))
    for task in by_type["Task"]:
        code = _task_code(task)
        if code == CHANGE_REQUEST:
            page.change_requests.append(_change_request(task, names))
        elif code in DUE_KINDS and task.get("status") in OPEN_TASK:
            page.due.append(_due(task, code, today))
        elif is_referral_task(task):
            page.referrals.append(task)
    page.change_requests.sort(key=lambda c: c.requested_on, reverse=True)
    page.due.sort(key=lambda d: (d.due_on or date.max))
    page.consents = sorted((_consent(c, today, names) for c in by_type["Consent"]),
                           key=lambda c: (c.state != "active", _negated(c.start)))
    return page


class _Names:
    """Display names of referenced Practitioners, Organizations and people, read once."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.cache: dict[str, str] = {}

    def __call__(self, reference: dict[str, Any] | None) -> str:
        reference = reference or {}
        if reference.get("display"):
            return str(reference["display"])
        target = str(reference.get("reference", ""))
        if not target or "/" not in target:
            return target or "—"
        if target not in self.cache:
            kind, _, ident = target.partition("/")
            try:
                resource = self.repository.read(kind, ident).json()
            except FhirError:
                resource = {}
            name = resource.get("name")
            self.cache[target] = (str(name) if isinstance(name, str)
                                  else person_name(resource)) or target
        return self.cache[target]


def _member(participant: dict[str, Any], names: _Names) -> Member:
    roles = participant.get("role", [])
    current = any(c.get("code") == CURRENT_CM for r in roles for c in r.get("coding", []))
    shown = [concept_text(r) for r in roles
             if not any(c.get("code") == CURRENT_CM for c in r.get("coding", []))]
    period = participant.get("period") or {}
    return Member(names(participant.get("member")), ", ".join(s for s in shown if s) or "—",
                  current, str(period.get("start", "")), str(period.get("end", "")),
                  names(participant.get("onBehalfOf")) if participant.get("onBehalfOf")
                  else "")


def _current_cm(team: dict[str, Any], names: _Names) -> str:
    for participant in team.get("participant", []):
        if _member(participant, names).current:
            return names(participant.get("member"))
    return ""


def _team_history(repository: Repository, team: dict[str, Any], names: _Names
                  ) -> list[dict[str, Any]]:
    """The team's versions, newest first, each with its current case manager and who joined
    or left since the version before."""
    versions, _total = repository.history("CareTeam", team["id"], since=None, count=50,
                                          offset=0)
    history: list[dict[str, Any]] = []
    before: set[str] = set()
    for version in reversed(versions):
        if version.deleted or version.content is None:
            continue
        content = version.json()
        members = {names(p.get("member")) for p in content.get("participant", [])
                   if not (p.get("period") or {}).get("end")}
        history.insert(0, {"version": version.version_id, "when": version.last_updated,
                           "case_manager": _current_cm(content, names),
                           "joined": sorted(members - before) if history else [],
                           "left": sorted(before - members)})
        before = members
    return history


def _goal(goal: dict[str, Any]) -> dict[str, str]:
    target = (goal.get("target") or [{}])[0]
    return {"words": str((goal.get("description") or {}).get("text", "")),
            "domain": concept_text((goal.get("category") or [{}])[0]),
            "status": str(goal.get("lifecycleStatus", "")),
            "outcome": str(target.get("detailString", "")),
            "due": str(target.get("dueDate", ""))}


def _task_code(task: dict[str, Any]) -> str:
    return next((str(c.get("code")) for c in (task.get("code") or {}).get("coding", [])
                 if c.get("system") == TASK_TYPE_SYSTEM), "")


def _change_request(task: dict[str, Any], names: _Names) -> ChangeRequest:
    requested = next((names(i.get("valueReference")) for i in task.get("input", [])
                      if "requested" in concept_text(i.get("type")).lower()
                      or any("requested" in str(c.get("code", ""))
                             for c in (i.get("type") or {}).get("coding", []))), "")
    status = str(task.get("status", ""))
    return ChangeRequest(str(task.get("authoredOn", "")),
                         CHANGE_REQUEST_OUTCOME.get(status, status),
                         concept_text(task.get("statusReason")), requested)


def _due(task: dict[str, Any], code: str, today: date) -> Due:
    due_on = _day(((task.get("restriction") or {}).get("period") or {}).get("end"))
    return Due(DISPLAY.get(code, code), str(task.get("status", "")), due_on,
               due_on is not None and due_on < today, str(task.get("description", "")))


def _consent(consent: dict[str, Any], today: date, names: _Names) -> ConsentRow:
    provision = consent.get("provision") or {}
    period = provision.get("period") or {}
    status = str(consent.get("status", ""))
    end, start = _day(period.get("end")), _day(period.get("start"))
    revoked = next((str(e.get("valueDate", "")) for e in consent.get("extension", [])
                    if e.get("url") == EXT_CONSENT_REVOKED), None)
    if status == "rejected":
        state = "declined"
    elif revoked is not None:
        state = "revoked"  # on the revocation date, the period's end
    elif status in ("active", "inactive") and end is not None and end < today:
        state = "expired"
    elif status == "active" and start is not None and start > today:
        state = "not yet in force"
    elif status == "inactive":
        state = "inactive"
    else:
        state = status
    recipients = tuple(names(a.get("reference")) for a in provision.get("actor", []))
    purposes = tuple(str(p.get("display") or p.get("code")) for p in provision.get("purpose",
                                                                                    []))
    policy = concept_text(consent.get("policyRule")) or ", ".join(
        str(p.get("uri")) for p in consent.get("policy", []) if p.get("uri"))
    return ConsentRow(str(consent["id"]), state, status, str(period.get("start", "")),
                      str(period.get("end", "")), recipients, purposes, policy)


def _day(value: object) -> date | None:
    """The date of a FHIR date or dateTime; None when absent or unreadable."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _negated(day: str) -> tuple[int, ...]:
    """A sort key that puts later ``YYYY-MM-DD`` dates first."""
    return tuple(-ord(c) for c in day)

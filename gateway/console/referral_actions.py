"""The status changes an operator makes to a referral from its page.

Which buttons a referral shows follows the referral state machine
(gateway/workflows/referral_states.py): one button for each status its ``ALLOWED`` mapping
lets the current status go to, named after the action. The change is written through the
operator's repository (``GatewayState.writing`` with their Principal), so the state machine's
``before_write`` hook, the consent decision point and the audit trail apply as for the API;
the state machine has the last word (its refusal is shown on the page).

A second operator acting on the same referral: the form carries the Task version it was shown
with, and the write is an update with If-Match on that version. If the Task changed in
between, nothing is written and the page says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gateway.auth import Principal
from gateway.console.referral_data import discharged_on, is_referral_task
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.fhir.versions import StoredResource
from gateway.state import GatewayState
from gateway.workflows import referral_states

# The action that leads to each status, as its button reads.
LABELS = {
    "requested": "Request", "received": "Mark received", "accepted": "Accept",
    "rejected": "Reject", "in-progress": "Start", "on-hold": "Put on hold",
    "completed": "Complete", "cancelled": "Cancel", "failed": "Mark failed",
    "entered-in-error": "Mark entered in error",
}
# What the page says after a change, by the status it led to.
DONE = {status: f"The referral is now {status}." for status in LABELS}
# Changes the console asks a reason for (the state machine may ask it of more).
WITH_REASON = frozenset({"rejected", "cancelled", "failed", "on-hold", "entered-in-error"})
WITH_VISIT_DATE = frozenset({"completed"})
_ORDER = ("requested", "received", "accepted", "in-progress", "completed", "on-hold",
          "rejected", "cancelled", "failed", "entered-in-error")
FOLLOW_UP_VISIT = {"text": "Follow-up visit"}


@dataclass(frozen=True)
class Action:
    to: str  # the status it leads to
    label: str
    needs_reason: bool
    needs_visit_date: bool
    destructive: bool


def actions_for(status: str) -> list[Action]:
    """The buttons for a referral in ``status``: what the state machine allows now."""
    following = referral_states.ALLOWED.get(status, frozenset())
    ordered = sorted(following, key=lambda s: (_ORDER.index(s) if s in _ORDER else 99, s))
    return [Action(to, _label(status, to), to in WITH_REASON, to in WITH_VISIT_DATE,
                   to in {"rejected", "cancelled", "failed", "entered-in-error"})
            for to in ordered]


def _label(status: str, to: str) -> str:
    if status == "on-hold" and to in ("accepted", "in-progress"):
        return "Resume"
    return LABELS.get(to, f"Set {to}")


class Refused(Exception):
    """The change was not made: a sentence for the page, the field it is about (or None),
    and the HTTP status the page is answered with."""

    def __init__(self, message: str, status: int = 409, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


def check_form(to: str, form: dict[str, str], today: date, discharged: date | None
               ) -> dict[str, str]:
    """Field errors for the change to ``to``: the reason and the visit date."""
    errors = {}
    if to in WITH_REASON and not form.get("reason", "").strip():
        errors["reason"] = f"Say why ({LABELS.get(to, to).lower()} needs a reason)."
    if to in WITH_VISIT_DATE:
        raw = form.get("visit_date", "").strip()
        try:
            visit = date.fromisoformat(raw) if raw else None
        except ValueError:
            visit = None
            errors["visit_date"] = "Enter the date as YYYY-MM-DD."
        if visit is None and "visit_date" not in errors:
            errors["visit_date"] = "Enter the date of the follow-up visit."
        elif visit is not None and visit > today:
            errors["visit_date"] = "The visit date cannot be in the future."
        elif visit is not None and discharged is not None and visit < discharged:
            errors["visit_date"] = (f"The visit cannot be before the discharge "
                                    f"({discharged.isoformat()}).")
    return errors


def expected_version(version: str) -> int:
    """The referral version a form was made for (Refused, 400, if it names none)."""
    try:
        return int(version)
    except ValueError:
        raise Refused("The form did not say which version of the referral it was for; "
                      "reload the page and try again.", 400) from None


def referral_of(repository: Repository, task_id: str) -> tuple[StoredResource, dict]:
    """Referral ``task_id`` as stored and as JSON (Refused, 404, if the Task is none)."""
    stored = repository.read("Task", task_id)
    task = stored.json()
    if not is_referral_task(task):
        raise Refused("This Task is not a referral.", 404)
    return stored, task


def change_status(state: GatewayState, operator: Principal, task_id: str, *, version: str,
                  to: str, form: dict[str, str], today: date) -> str:
    """Move referral ``task_id`` to ``to`` if it is still at ``version``; the status it is
    in after. Raises Refused (nothing written) otherwise."""
    expected = expected_version(version)
    try:
        with state.writing(operator) as repository:
            stored, task = referral_of(repository, task_id)
            current = str(task.get("status", ""))
            if stored.version_id != expected:
                raise Refused(f"Someone else changed this referral while you had it open (it "
                              f"is now {current}). Nothing was changed; check it below and "
                              f"act again if you still need to.")
            if to not in referral_states.ALLOWED.get(current, frozenset()):
                allowed = ", ".join(a.label for a in actions_for(current)) or "nothing"
                raise Refused(f"A {current} referral cannot go to {to!r}; what it allows now: "
                              f"{allowed}. Nothing was changed.")
            errors = check_form(to, form, today, discharged_on(task))
            if errors:
                field, message = next(iter(errors.items()))
                raise Refused(message, 400, field)
            changed = _changed(task, to, form, repository.clock())
            repository.update("Task", task_id, changed, if_match=stored.etag)
            return to
    except FhirError as error:
        if error.status == 412:
            raise Refused("Someone else changed this referral at the same moment. Nothing "
                          "was changed; check it below and act again if you still need to."
                          ) from None
        if error.status in (404, 410):
            raise Refused("There is no such referral (it may have been removed).", 404
                          ) from None
        if error.status in (400, 403, 409, 422):
            details = "; ".join(
                f"{issue.get('diagnostics')}" + (f" ({', '.join(issue['expression'])})"
                                                 if issue.get("expression") else "")
                for issue in error.issues[:3] if issue.get("severity") in ("error", "fatal"))
            raise Refused(f"The gateway refused this change: {details or error}. Nothing was "
                          f"changed.", 422) from None
        raise


def _changed(task: dict[str, Any], to: str, form: dict[str, str], now: datetime
             ) -> dict[str, Any]:
    changed = {key: value for key, value in task.items() if key != "meta"}
    if "meta" in task:
        changed["meta"] = {k: v for k, v in task["meta"].items()
                           if k not in ("versionId", "lastUpdated")}
    changed["status"] = to
    # Whole seconds, as the referral's authoredOn: fhirpathpy answers "empty" for a comparison
    # of 18:25:29Z with 18:25:29.9Z (FHIRPath counts seconds and milliseconds as one
    # precision), so Task's inv-1 (lastModified >= authoredOn) failed in the same second.
    changed["lastModified"] = now.astimezone(UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")
    reason = form.get("reason", "").strip()
    if reason:
        changed["statusReason"] = {"text": reason[:1000]}
    else:
        changed.pop("statusReason", None)
    if to in WITH_VISIT_DATE:
        visit = form["visit_date"].strip()
        changed["executionPeriod"] = {**(task.get("executionPeriod") or {}), "end": visit}
        outputs = [o for o in task.get("output", []) if o.get("type") != FOLLOW_UP_VISIT]
        changed["output"] = [*outputs, {"type": FOLLOW_UP_VISIT, "valueDate": visit}]
        changed["businessStatus"] = {"text": f"follow-up visit on {visit}"}
    return changed

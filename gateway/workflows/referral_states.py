"""The closed loop of a referral Task: which status may follow which.

    draft -> requested -> received -> accepted -> in-progress -> completed
                                   \\-> rejected
    any open status -> cancelled | failed

A referral Task is one whose ``code`` is ``TASK_REFERRAL``. An update may keep the status (a
change of other elements) but may not skip a step or go back; completed, rejected, cancelled
and failed are final. Rejected, cancelled and failed need a ``statusReason`` (cmh-task's
cmh-tsk-1 asks it of rejected and cancelled Tasks that claim the profile; this asks it of every
referral, failed included). A new referral Task starts as draft, requested or received; a
referral Task stays a referral (its code cannot be changed to escape these rules).

A ``before_write`` hook of the repository (``register``, called by the app factory) applies
``check_transition`` to every Task written by the API's callers (operators and partners). The
gateway's own writers, running as ``SYSTEM``, are trusted: the import of local referral records
(the case-management system is the source of truth for its referrals, whose status may jump)
and the workflows. A refusal is a 422 Unprocessable Entity
with an OperationOutcome (issue ``business-rule``, or ``required`` for a missing reason), the
answer FHIR gives to a resource that breaks a server's business rule.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gateway.auth import SYSTEM, Principal
from gateway.fhir import json_text
from gateway.fhir.access import Requester
from gateway.fhir.errors import FhirError
from gateway.fhir.hooks import RepositoryHooks
from gateway.fhir.repository import Repository
from gateway.mappings.codes import TASK_REFERRAL

# Every Task.status of FHIR R4; anything else is for validation to report.
TASK_STATUSES = frozenset({"draft", "requested", "received", "accepted", "rejected", "ready",
                           "cancelled", "in-progress", "on-hold", "failed", "completed",
                           "entered-in-error"})
FINAL = frozenset({"completed", "rejected", "cancelled", "failed"})
# Ways out of any open status; each needs a statusReason.
CLOSING = frozenset({"cancelled", "failed"})
NEEDS_REASON = frozenset({"rejected", "cancelled", "failed"})
INITIAL = frozenset({"draft", "requested", "received"})

# The next statuses each status may change to (staying in the same status is always allowed).
ALLOWED: Mapping[str, frozenset[str]] = MappingProxyType({
    "draft": frozenset({"requested"}) | CLOSING,
    "requested": frozenset({"received"}) | CLOSING,
    "received": frozenset({"accepted", "rejected"}) | CLOSING,
    "accepted": frozenset({"in-progress"}) | CLOSING,
    "in-progress": frozenset({"completed"}) | CLOSING,
    "completed": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
    "failed": frozenset(),
})


def register(hooks: RepositoryHooks) -> None:
    hooks.before_write.append(_check_task)


def _check_task(repository: Repository, resource_type: str, previous: str | None,
                resource: Any) -> None:
    """Checked before validation, so that a refusal names the transition."""
    if resource_type == "Task" and isinstance(resource, dict) \
            and is_checked(repository.access.requester):
        check_transition(json_text.loads_stored(previous) if previous else None, resource)


def is_referral(task: Mapping[str, Any] | None) -> bool:
    """Whether ``task`` is a referral Task (its code has the TASK_REFERRAL coding)."""
    if not isinstance(task, Mapping) or task.get("resourceType", "Task") != "Task":
        return False
    code = task.get("code")
    codings = code.get("coding") if isinstance(code, Mapping) else None
    return isinstance(codings, list) and any(
        isinstance(coding, Mapping) and coding.get("system") == TASK_REFERRAL["system"]
        and coding.get("code") == TASK_REFERRAL["code"] for coding in codings)


def is_checked(requester: Principal | Requester) -> bool:
    """Whether writes by ``requester`` must follow these rules: everyone's but the gateway's
    own (SYSTEM: the local-record import and the workflows)."""
    return requester != SYSTEM


def allowed_after(status: str) -> frozenset[str]:
    """The statuses that may follow ``status`` (besides itself). An open status outside the
    loop (ready, on-hold: only a trusted writer can set them) may only be closed."""
    if status in ALLOWED:
        return ALLOWED[status]
    return frozenset() if status in FINAL or status == "entered-in-error" else CLOSING


def check_transition(previous: Mapping[str, Any] | None, proposed: Mapping[str, Any]) -> None:
    """Raise a 422 FhirError unless ``proposed`` may replace ``previous`` (None: a create, or
    the re-creation of a deleted Task). Tasks that are not referrals pass."""
    was_referral = is_referral(previous)
    if not is_referral(proposed):
        if was_referral:
            raise FhirError(422, "business-rule",
                            f"{_name(proposed)} is a referral; its code cannot change from "
                            f"{TASK_REFERRAL['code']!r}", "Task.code")
        return
    status = proposed.get("status")
    if not isinstance(status, str) or status not in TASK_STATUSES:
        return  # not a Task status at all: validation reports it
    before = previous.get("status") if was_referral and previous is not None else None
    if not isinstance(before, str):
        if status not in INITIAL:
            raise FhirError(422, "business-rule",
                            f"a new referral Task starts as {_listed(INITIAL)}, not {status!r}",
                            "Task.status")
    elif status != before and status not in allowed_after(before):
        raise FhirError(422, "business-rule", _refusal(proposed, before, status), "Task.status")
    if status in NEEDS_REASON and not _has_reason(proposed.get("statusReason")):
        raise FhirError(422, "required",
                        f"{_name(proposed)}: a {status} referral needs a statusReason saying why",
                        "Task.statusReason")


def _refusal(proposed: Mapping[str, Any], before: str, status: str) -> str:
    following = allowed_after(before)
    if not following:
        return (f"{_name(proposed)} is {before}, a final status; it cannot change to "
                f"{status!r}")
    return (f"{_name(proposed)} cannot go from {before!r} to {status!r}; from {before!r} it "
            f"may go to {_listed(following)} (or stay {before})")


def _name(task: Mapping[str, Any]) -> str:
    return f"referral Task/{task['id']}" if isinstance(task.get("id"), str) else \
        "the referral Task"


def _listed(statuses: frozenset[str]) -> str:
    # In the order of the loop, so the message reads like the diagram above.
    names = sorted(statuses, key=_ORDER.index)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


_ORDER = ("draft", "requested", "received", "accepted", "rejected", "in-progress", "completed",
          "cancelled", "failed", "ready", "on-hold", "entered-in-error")


def _has_reason(reason: Any) -> bool:
    return isinstance(reason, Mapping) and bool(reason.get("text") or reason.get("coding"))

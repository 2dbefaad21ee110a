"""The closed loop of a referral Task: which status may follow which, as the Gravity SDOH
Clinical Care and BSeR referral workflows have it.

The rules are those of the SDOHCC Task For Referral Management profile (SDOH Clinical Care
STU 2.3, ``StructureDefinition-SDOHCC-TaskForReferralManagement``, "Status Management": the
referral Task state diagram and its table of who sets which status), which BSeR's referral
Task follows:

    (draft ->) requested -> accepted | rejected | cancelled
               requested -> received -> accepted | rejected | cancelled  (received: optional)
    accepted    -> in-progress | on-hold | completed | failed | cancelled
    in-progress -> on-hold | completed | failed | cancelled
    on-hold     -> in-progress | completed | failed | cancelled
    any status  -> entered-in-error  (the agency's operators only)

Where the IG and issue 14's summary of it differ, the IG's diagram is followed:

- ``on-hold`` resumes to ``in-progress`` only: the diagram has an arrow from accepted to
  on-hold but none back; a referral held before work started resumes as started work;
- ``failed`` follows accepted and on-hold as well as in-progress (the diagram's "Completed or
  Failed" box), and ``completed`` follows on-hold;
- ``draft`` may only become ``requested`` (no other arrow leaves it);
- ``received`` is not in SDOHCC's referral status value set (ValueSet
  SDOHCC-ValueSetReferralTaskStatus excludes received and ready); the gateway still accepts it
  as an optional step between requested and accepted, for the referrals and court orders it
  has always marked received;
- ``entered-in-error`` is "set by the requester" in the IG's table, "reached from any other
  status" in its diagram; here only the agency's operators set it (``Principal.is_operator``),
  since a partner may create referrals here but never update them.

Completed, rejected, cancelled, failed and entered-in-error are final (only entered-in-error
may follow the first four). ``statusReason`` with a ``text`` is required for rejected,
cancelled, on-hold and failed: the profile says "If the Task.status is rejected, cancelled,
on-hold, or failed, then Task.statusReason.text should be included" and makes
``statusReason.text`` 1..1; the gateway makes the "should" a "shall", and asks the same of
entered-in-error (an error the hospital is told of needs a word of explanation).

A referral Task is one whose ``code`` has the ``TASK_REFERRAL`` coding. An update may keep the
status (a change of other elements). A new referral Task starts as draft, requested or
received; a referral Task stays a referral (its code cannot be changed to escape these rules).

A ``before_write`` hook of the repository (``register``, called by the app factory) applies
``check_transition`` to every Task written by the API's callers (operators and partners). The
gateway's own writers, running as ``SYSTEM``, are trusted: the import of local referral records
(the case-management system is the source of truth for its referrals, whose status may jump)
and the workflows. A refusal is a 422 Unprocessable Entity with an OperationOutcome (issue
``business-rule``, or ``required`` for a missing reason), the answer FHIR gives to a resource
that breaks a server's business rule; entered-in-error by a partner is a 403.
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
FINAL = frozenset({"completed", "rejected", "cancelled", "failed", "entered-in-error"})
ENTERED_IN_ERROR = "entered-in-error"
# SDOHCC: "rejected, cancelled, on-hold, or failed" (and ours: entered-in-error).
NEEDS_REASON = frozenset({"rejected", "cancelled", "on-hold", "failed", ENTERED_IN_ERROR})
INITIAL = frozenset({"draft", "requested", "received"})

# The next statuses each status may change to (staying in the same status is always allowed;
# entered-in-error, for operators, follows every status but itself).
ALLOWED: Mapping[str, frozenset[str]] = MappingProxyType({
    "draft": frozenset({"requested"}),
    "requested": frozenset({"received", "accepted", "rejected", "cancelled"}),
    "received": frozenset({"accepted", "rejected", "cancelled"}),
    "accepted": frozenset({"in-progress", "on-hold", "completed", "failed", "cancelled"}),
    "in-progress": frozenset({"on-hold", "completed", "failed", "cancelled"}),
    "on-hold": frozenset({"in-progress", "completed", "failed", "cancelled"}),
    "completed": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
    "failed": frozenset(),
    ENTERED_IN_ERROR: frozenset(),
})
# An open status outside the IG's loop (ready: only a trusted writer sets it) may be closed.
_OUTSIDE_THE_LOOP = frozenset({"cancelled", "failed"})


def register(hooks: RepositoryHooks) -> None:
    hooks.before_write.append(_check_task)


def _check_task(repository: Repository, resource_type: str, previous: str | None,
                resource: Any) -> None:
    """Checked before validation, so that a refusal names the transition."""
    requester = repository.access.requester
    if resource_type == "Task" and isinstance(resource, dict) and is_checked(requester):
        check_transition(json_text.loads_stored(previous) if previous else None, resource,
                         operator=bool(getattr(requester, "is_operator", False)))


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


def allowed_after(status: str, *, operator: bool = True) -> frozenset[str]:
    """The statuses that may follow ``status`` (besides itself) for an operator (or, with
    ``operator=False``, a partner)."""
    following = ALLOWED.get(status, frozenset() if status in FINAL else _OUTSIDE_THE_LOOP)
    if operator and status != ENTERED_IN_ERROR:
        following = following | {ENTERED_IN_ERROR}
    return following


def needs_reason(status: str) -> bool:
    return status in NEEDS_REASON


def check_transition(previous: Mapping[str, Any] | None, proposed: Mapping[str, Any], *,
                     operator: bool = True) -> None:
    """Raise a FhirError (422; 403 for entered-in-error by a partner) unless ``proposed`` may
    replace ``previous`` (None: a create, or the re-creation of a deleted Task), written by an
    operator (``operator``) or a partner. Tasks that are not referrals pass."""
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
    if status == ENTERED_IN_ERROR and status != before and not operator:
        raise FhirError(403, "forbidden", f"{_name(proposed)}: only the agency's operators "
                                          f"may mark a referral entered-in-error",
                        "Task.status")
    if not isinstance(before, str):
        if status not in INITIAL:
            raise FhirError(422, "business-rule",
                            f"a new referral Task starts as {_listed(INITIAL)}, not {status!r}",
                            "Task.status")
    elif status != before and status not in allowed_after(before, operator=operator):
        raise FhirError(422, "business-rule", _refusal(proposed, before, status, operator),
                        "Task.status")
    if status in NEEDS_REASON and not has_reason(proposed.get("statusReason")):
        raise FhirError(422, "required",
                        f"{_name(proposed)}: a referral that is {status} needs a statusReason "
                        f"with a text saying why", "Task.statusReason")


def _refusal(proposed: Mapping[str, Any], before: str, status: str, operator: bool) -> str:
    following = allowed_after(before, operator=operator)
    if before in FINAL and following <= {ENTERED_IN_ERROR}:
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


_ORDER = ("draft", "requested", "received", "accepted", "rejected", "in-progress", "on-hold",
          "completed", "failed", "cancelled", "ready", "entered-in-error")


def has_reason(reason: Any) -> bool:
    """A statusReason with a text (SDOHCC: statusReason.text 1..1)."""
    return isinstance(reason, Mapping) and isinstance(reason.get("text"), str) \
        and bool(reason["text"].strip())

"""Assigning a referral to a case manager / supports coordinator: the referral Task's
``owner`` (FHIR: who is asked to act on the task) becomes that person's Practitioner.

Who may be chosen: the agency's active staff with a PractitionerRole of case manager or
supports coordinator (imported from the staff records: the role's identifier names the local
role, ``S-017/case-manager``). As with a status change, the form
carries the version it was shown, the write is an update with If-Match through the operator's
repository (state machine, decision point, deliveries, audit), and a change made meanwhile by
someone else is refused with a message, changing nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from gateway.auth import Principal
from gateway.care.care_management import RESPONSIBLE_ROLES
from gateway.care.followup import OPEN_STATES
from gateway.console.fhir_pages import search_all
from gateway.console.referral_actions import Refused, expected_version, referral_of
from gateway.console.referral_data import person_name
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.mappings.ids import DEFAULT_IDENTIFIER_BASE
from gateway.state import GatewayState

ROLE_SYSTEM = f"{DEFAULT_IDENTIFIER_BASE}/practitioner-role"


@dataclass(frozen=True)
class CaseManager:
    practitioner_id: str
    name: str


def case_managers(repository: Repository) -> list[CaseManager]:
    """Active case managers and supports coordinators, by name."""
    found: dict[str, CaseManager] = {}
    for role in search_all(repository, "PractitionerRole", [("active", "true")]):
        # Its identifier is the staff member in one local role: "S-017/case-manager".
        local_roles = {str(i.get("value", "")).rpartition("/")[2]
                       for i in role.get("identifier", []) if i.get("system") == ROLE_SYSTEM}
        if not local_roles & RESPONSIBLE_ROLES:
            continue
        reference = (role.get("practitioner") or {}).get("reference", "")
        if not reference.startswith("Practitioner/"):
            continue
        practitioner_id = reference.partition("/")[2]
        if practitioner_id in found:
            continue
        try:
            practitioner = repository.read("Practitioner", practitioner_id).json()
        except FhirError:
            continue
        if practitioner.get("active") is False:
            continue
        found[practitioner_id] = CaseManager(practitioner_id,
                                             person_name(practitioner) or reference)
    return sorted(found.values(), key=lambda c: c.name)


def assign(state: GatewayState, operator: Principal, task_id: str, *, version: str,
           practitioner_id: str) -> str:
    """Make the case manager ``practitioner_id`` the owner of referral ``task_id`` if it is
    still at ``version``; their name. Raises Refused (nothing written) otherwise."""
    expected = expected_version(version)
    try:
        with state.writing(operator) as repository:
            stored, task = referral_of(repository, task_id)
            if stored.version_id != expected:
                raise Refused("Someone else changed this referral while you had it open. "
                              "Nothing was changed; check it below and assign again if you "
                              "still need to.")
            if task.get("status") not in OPEN_STATES:
                raise Refused(f"A {task.get('status')} referral is closed; it cannot be "
                              f"assigned. Nothing was changed.")
            chosen = {c.practitioner_id: c for c in case_managers(repository)}
            if practitioner_id not in chosen:
                raise Refused("Choose a case manager or supports coordinator from the list.",
                              400, "owner")
            name = chosen[practitioner_id].name
            changed = {k: v for k, v in task.items() if k != "meta"}
            if "meta" in task:
                changed["meta"] = {k: v for k, v in task["meta"].items()
                                   if k not in ("versionId", "lastUpdated")}
            changed["owner"] = {"reference": f"Practitioner/{practitioner_id}",
                                "display": name}
            changed["lastModified"] = repository.clock().astimezone(UTC).isoformat(
                timespec="seconds").replace("+00:00", "Z")
            repository.update("Task", task_id, changed, if_match=stored.etag)
            return name
    except FhirError as error:
        if error.status == 412:
            raise Refused("Someone else changed this referral at the same moment. Nothing "
                          "was changed; check it below and assign again if you still need "
                          "to.") from None
        if error.status in (404, 410):
            raise Refused("There is no such referral (it may have been removed).", 404
                          ) from None
        if error.status in (400, 403, 409, 422):
            raise Refused(f"The gateway refused this assignment: {error}. Nothing was "
                          f"changed.", 422) from None
        raise

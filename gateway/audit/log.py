"""Recording an AuditEvent: stored through the repository, which links it into the hash
chain (chain.py) in the same transaction."""
from __future__ import annotations

from typing import Any

from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository

# What R4 requires of every AuditEvent (min 1): the guard kept where full validation is not.
REQUIRED = ("type", "recorded", "agent", "source")


def record_own(repository: Repository, event: dict[str, Any]) -> str:
    """``record`` for an event the gateway built with ``disclosure_event`` (the per-request
    accounting): stored without the full validation, only R4's required elements checked
    (events.py's every shape is validated by its tests, and tests/audit/test_request_audit.py
    validates what requests recorded). Raises FhirError (422) for one that lacks them."""
    missing = [name for name in REQUIRED if not event.get(name)]
    if event.get("resourceType") != "AuditEvent" or missing:
        raise FhirError(422, "required", f"not an AuditEvent the gateway can record "
                        f"(missing: {', '.join(missing) or 'resourceType'})")
    return repository.append_own("AuditEvent", event).stored.id


def record(repository: Repository, event: dict[str, Any]) -> str:
    """Store ``event`` as a new AuditEvent (and its chain link); its id.

    Runs in the caller's transaction (nothing is committed here): the AuditEvent and its link
    are written together or not at all. Raises FhirError (422) for an invalid AuditEvent.
    """
    return repository.create("AuditEvent", event).stored.id

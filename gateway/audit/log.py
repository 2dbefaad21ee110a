"""Recording an AuditEvent the gateway built: stored in the journal through the repository,
which links it into the hash chain (chain.py) in the same transaction."""
from __future__ import annotations

from typing import Any

from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository

# What R4 requires of every AuditEvent (min 1): the guard kept where full validation is not.
REQUIRED = ("type", "recorded", "agent", "source")


def record(repository: Repository, event: dict[str, Any]) -> str:
    """Store ``event``, built with ``disclosure_event``, as a new AuditEvent; its id.

    Runs in the caller's transaction (nothing is committed here): the AuditEvent and its chain
    step are written together or not at all. One is written for every request, so it is not
    put through the full validator: events.py's every shape is validated by its tests, and
    tests/audit/test_request_audit.py validates what requests recorded. R4's required
    elements are checked: FhirError (422) for an event that lacks one. AuditEvents a client
    posts go through ``Repository.create`` and its validation instead.
    """
    missing = [name for name in REQUIRED if not event.get(name)]
    if event.get("resourceType") != "AuditEvent" or missing:
        raise FhirError(422, "required", f"not an AuditEvent the gateway can record "
                        f"(missing: {', '.join(missing) or 'resourceType'})")
    return repository.append_own("AuditEvent", event).stored.id

"""Recording an AuditEvent: stored through the repository, which links it into the hash
chain (chain.py) in the same transaction."""
from __future__ import annotations

from typing import Any

from gateway.fhir.repository import Repository


def record(repository: Repository, event: dict[str, Any]) -> str:
    """Store ``event`` as a new AuditEvent (and its chain link); its id.

    Runs in the caller's transaction (nothing is committed here): the AuditEvent and its link
    are written together or not at all. Raises FhirError (422) for an invalid AuditEvent.
    """
    return repository.create("AuditEvent", event).stored.id

"""The resource types this server stores and serves."""
from __future__ import annotations

SUPPORTED_TYPES: tuple[str, ...] = (
    "AuditEvent", "CarePlan", "CareTeam", "Communication", "Condition", "Consent", "Coverage",
    "DocumentReference", "Encounter", "Endpoint", "Goal", "Location", "Organization", "Patient",
    "Practitioner", "PractitionerRole", "Provenance", "RelatedPerson", "ServiceRequest",
    "Subscription", "Task",
)
_SUPPORTED = frozenset(SUPPORTED_TYPES)


def is_supported(resource_type: str) -> bool:
    return resource_type in _SUPPORTED


# Types kept in the append-only journal (gateway/fhir/journal.py): created once, never updated,
# patched or deleted (403), served from their own tables. The accounting of disclosures is
# evidence: once written, an AuditEvent never changes.
APPEND_ONLY_TYPES = frozenset({"AuditEvent"})

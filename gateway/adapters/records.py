"""A consumer's records as one partner may receive them, for the outbound adapters.

Everything is read through a repository built for the partner (``GatewayState.reading`` with
the partner as requester), so every resource an adapter puts in a delivery has passed the
consent decision point, in the form it disclosed (trimmed to the minimum necessary, SUD
content removed or labelled), exactly as a query by that partner would have returned it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository

# Enough for any one consumer's records of one type; more would be a data problem.
MAX_PER_TYPE = 500


class ConsumerRecords:
    def __init__(self, repository: Repository, patient_id: str) -> None:
        self.repository = repository
        self.patient_id = patient_id

    def covers(self, resource_type: str) -> bool:
        """Whether the consumer's consents cover ``resource_type`` for this partner (even
        where minimum necessary shows the partner none of it)."""
        return self.repository.access.covers(self.patient_id, resource_type)

    def patient(self) -> dict[str, Any] | None:
        return self.read("Patient", self.patient_id)

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The resource as disclosed, or None (hidden, absent or deleted)."""
        try:
            return self.repository.read(resource_type, resource_id).json()
        except FhirError:
            return None

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        """The consumer's resources of one type that the partner may receive."""
        return self.of_types([resource_type])[resource_type]

    def of_types(self, resource_types: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The consumer's resources of each type that the partner may receive (one query)."""
        wanted = list(dict.fromkeys(resource_types))
        found: dict[str, list[dict[str, Any]]] = {t: [] for t in wanted}
        for stored in self.repository.of_patient(self.patient_id, wanted):
            if len(found[stored.resource_type]) < MAX_PER_TYPE:
                found[stored.resource_type].append(stored.json())
        return found

    def referenced(self, resources: Iterable[dict[str, Any]], types: set[str]
                   ) -> list[dict[str, Any]]:
        """The resources of ``types`` that ``resources`` refer to (once each, in order)."""
        found: dict[str, dict[str, Any]] = {}
        for reference in _references(resources):
            resource_type, _, resource_id = reference.partition("/")
            if resource_type in types and reference not in found:
                resource = self.read(resource_type, resource_id)
                if resource is not None:
                    found[reference] = resource
        return list(found.values())


def _references(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str) and reference.count("/") == 1 and "://" not in reference:
            yield reference
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def names(resources: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(f"{r['resourceType']}/{r['id']}" for r in resources)

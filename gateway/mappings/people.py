"""Persons outside the agency: guardians, natural supports and outside professionals."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import MappingContext
from .elements import addresses, codeable, human_names, prune, telecom
from .errors import MappingError, at
from .terminology import RELATIONSHIP

GUARDIAN = "guardian"  # the relationship-map code every guardian RelatedPerson also carries


def related_person_key(kind: str, consumer_id: str, local_id: str) -> str:
    """What a RelatedPerson's id is derived from: the consumer and the person (local ids never
    contain "/"); a guardian is one per consumer, keyed by the consumer alone."""
    return consumer_id if kind == GUARDIAN else f"{consumer_id}/{local_id}"


def relationships(ctx: MappingContext, codes: list[tuple[str, str]]) -> list[dict]:
    """RelatedPerson.relationship from ``(local code, field path)`` pairs, each concept once."""
    concepts: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for code, path in codes:
        coding = ctx.terminology.translate(RELATIONSHIP, code, path)
        key = (coding["system"], coding["code"])
        if key not in seen:
            seen.add(key)
            concepts.append(codeable(coding, ctx.terminology.display(RELATIONSHIP, code)))
    return concepts


def related_person(ctx: MappingContext, *, kind: str, local_id: str, consumer_id: str,
                   person: Mapping[str, Any], path: str,
                   extra_codes: tuple[str, ...] = (),
                   extra_identifiers: tuple[dict, ...] = ()) -> dict:
    """A RelatedPerson of the consumer from a local ``person`` (name, relationship, contacts).

    A RelatedPerson belongs to one patient, so its id is keyed by the consumer too: the same
    aunt of two siblings is two RelatedPersons (with the same identifier).
    """
    if not isinstance(person.get("name"), Mapping) or not person["name"].get("family"):
        raise MappingError(at(path, "name.family"), "a person needs a family name")
    codes = [(person.get("relationship"), at(path, "relationship"))]
    codes += [(code, path) for code in extra_codes]
    return prune({
        "resourceType": "RelatedPerson",
        "id": ctx.fhir_id(kind, related_person_key(kind, consumer_id, local_id)),
        "identifier": [ctx.identifier(kind, local_id), *extra_identifiers],
        "active": True,
        "patient": ctx.reference("Patient", "consumer", consumer_id),
        "relationship": relationships(ctx, codes),  # type: ignore[arg-type]
        "name": human_names(person["name"]),
        "telecom": telecom(person.get("contacts")),
        "address": addresses(person.get("addresses")),
    })


def outside_practitioner(ctx: MappingContext, *, kind: str, local_id: str,
                         person: Mapping[str, Any], path: str,
                         extra_identifiers: tuple[dict, ...] = ()) -> dict:
    """A Practitioner for a professional outside the agency (a PCP, a probation officer)."""
    if not isinstance(person.get("name"), Mapping) or not person["name"].get("family"):
        raise MappingError(at(path, "name.family"), "a person needs a family name")
    return prune({
        "resourceType": "Practitioner",
        "id": ctx.fhir_id(kind, local_id),
        "identifier": [ctx.identifier(kind, local_id), *extra_identifiers],
        "active": True,
        "name": human_names(person["name"]),
        "telecom": telecom(person.get("contacts")),
        "address": addresses(person.get("addresses")),
    })


def guardian_reference(ctx: MappingContext, consumer_id: str) -> dict:
    """The guardian's RelatedPerson: one per consumer, so its id follows the consumer's."""
    return {"reference": "RelatedPerson/" + ctx.fhir_id(
        GUARDIAN, related_person_key(GUARDIAN, consumer_id, consumer_id))}

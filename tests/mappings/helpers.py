"""Assertions shared by the mapping tests."""
from __future__ import annotations

from collections.abc import Iterable

from gateway.fhir.validation import Validator

SECURITY_SUD = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "SUD")
SECURITY_RESTRICTED = ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")
SECURITY_NORDSCLCD = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "NORDSCLCD")


def assert_valid(validator: Validator, resources: Iterable[dict]) -> None:
    """Every resource passes the validator (R4 and the cmh profiles it declares) with no error
    or warning."""
    problems = []
    for resource in resources:
        for issue in validator.validate(resource):
            problems.append(f"{resource['resourceType']}/{resource.get('id')}: {issue}")
    assert not problems, "\n".join(problems)


def by_type(resources: Iterable[dict], resource_type: str) -> list[dict]:
    return [r for r in resources if r["resourceType"] == resource_type]


def one(resources: Iterable[dict], resource_type: str) -> dict:
    found = by_type(resources, resource_type)
    assert len(found) == 1, found
    return found[0]


def security(resource: dict) -> set[tuple[str, str]]:
    return {(label["system"], label["code"]) for label in resource.get("meta", {}).get(
        "security", [])}


def codes(concept: dict) -> set[tuple[str, str]]:
    return {(coding["system"], coding["code"]) for coding in concept.get("coding", [])}

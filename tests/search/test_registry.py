"""The registry offers exactly what search implements."""
from __future__ import annotations

import pytest

from gateway.fhir.search import SearchParameterRegistry

STORED_TYPES = ("Patient", "Practitioner", "PractitionerRole", "Organization", "RelatedPerson",
                "CareTeam", "CarePlan", "Goal", "ServiceRequest", "Task", "Consent",
                "Encounter", "Condition", "Location", "Coverage", "Endpoint", "Provenance",
                "AuditEvent", "DocumentReference", "Communication", "Subscription")


def test_load_is_cached() -> None:
    assert SearchParameterRegistry.load() is SearchParameterRegistry.load()


@pytest.mark.parametrize("resource_type", STORED_TYPES)
def test_every_type_has_the_resource_level_parameters(registry: SearchParameterRegistry,
                                                      resource_type: str) -> None:
    params = registry.for_type(resource_type)
    assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= set(params)
    assert params["_id"].column == "id" and params["_lastUpdated"].column == "last_updated"
    assert all(p.type in ("token", "string", "reference", "date", "uri")
               for p in registry.supported(resource_type))


@pytest.mark.parametrize(("resource_type", "codes"), [
    ("Patient", {"identifier", "name", "family", "given", "birthdate", "gender", "email",
                 "deceased", "address-city", "organization"}),
    ("Condition", {"patient", "subject", "code", "category", "onset-date", "clinical-status"}),
    ("CareTeam", {"participant", "patient", "status", "date", "category"}),
    ("Consent", {"actor", "patient", "period", "category", "status"}),
    ("Task", {"owner", "requester", "focus", "patient", "period", "status", "code"}),
    ("Encounter", {"participant", "practitioner", "date", "class", "subject"}),
    ("Provenance", {"target", "agent", "patient", "when", "recorded"}),
])
def test_expected_parameters_are_supported(registry: SearchParameterRegistry,
                                           resource_type: str, codes: set[str]) -> None:
    assert codes <= set(registry.for_type(resource_type))


@pytest.mark.parametrize(("resource_type", "code"), [
    ("Patient", "phonetic"), ("Patient", "_text"), ("Patient", "_content"),
    ("Patient", "_query"), ("Location", "near"), ("Encounter", "length"),
    ("Condition", "onset-age"), ("Condition", "abatement-age"),
    ("DocumentReference", "relationship"),
])
def test_unimplemented_parameters_are_not_offered(registry: SearchParameterRegistry,
                                                  resource_type: str, code: str) -> None:
    assert code not in registry.for_type(resource_type)
    assert code not in {p.code for p in registry.supported(resource_type)}
    assert code in {u.code for u in registry.unsupported(resource_type)}


def test_capability_fields(registry: SearchParameterRegistry) -> None:
    code = registry.for_type("Condition")["code"]
    assert (code.name, code.type, code.definition) == (
        "code", "token", "http://hl7.org/fhir/SearchParameter/clinical-code")
    # "Multiple Resources" descriptions are cut down to this type's line.
    assert code.documentation == "Code for the condition"
    assert registry.for_type("Condition")["subject"].target == ("Group", "Patient")


def test_registry_is_immutable(registry: SearchParameterRegistry) -> None:
    params = registry.for_type("Patient")
    params.pop("name")
    assert "name" in registry.for_type("Patient")


def test_unknown_type_has_no_parameters(registry: SearchParameterRegistry) -> None:
    assert registry.for_type("Observation") == {}
    assert registry.supported("Nope") == []

"""Rules of SearchParameter, CapabilityStatement and StructureDefinition beyond their invariants
(gateway/fhir/validation/definition_rules.py), as HL7's validator applies them."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

from .helpers import located

ORG_NAME = "http://hl7.org/fhir/SearchParameter/Organization-name"


def search_parameter(**fields) -> dict:
    return {"resourceType": "SearchParameter", "url": "http://a.example/SearchParameter/x",
            "name": "x", "status": "active", "description": "x", "code": "x",
            "base": ["Organization"], "type": "string", "expression": "Organization.name",
            **fields}


def capability_statement(search_type: str) -> dict:
    return {"resourceType": "CapabilityStatement", "status": "active", "date": "2024-01-01",
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
            "implementation": {"description": "x"},
            "rest": [{"mode": "server", "resource": [{"type": "Organization", "searchParam": [
                {"name": "name", "definition": ORG_NAME, "type": search_type}]}]}]}


def profile(*paths: str) -> dict:
    return {"resourceType": "StructureDefinition", "url": "http://a.example/SD/obs",
            "name": "Obs", "status": "active", "kind": "resource", "abstract": False,
            "type": "Observation", "derivation": "constraint",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
            "differential": {"element": [{"id": p, "path": p} for p in paths]}}


@pytest.mark.parametrize(("resource", "problems"), [
    (search_parameter(), set()),
    (search_parameter(derivedFrom=ORG_NAME), set()),
    (search_parameter(expression="(Organization.name | Organization.alias)"), set()),
    (search_parameter(base=["Resource"], expression="Patient.name"), set()),
    (search_parameter(type="composite", expression="Organization.name"),
     {("invariant", "SearchParameter")}),
    (search_parameter(type="composite", component=[
        {"definition": ORG_NAME, "expression": "name"},
        {"definition": ORG_NAME, "expression": "alias"}]), set()),
    (search_parameter(base=["Patient"], expression="Organization.name | Organization.alias"),
     {("invalid", "SearchParameter.expression")}),
    (search_parameter(type="token", derivedFrom=ORG_NAME), {("invalid", "SearchParameter")}),
    (search_parameter(base=["Patient"], expression="Patient.name", derivedFrom=ORG_NAME),
     {("invalid", "SearchParameter")}),
    (capability_statement("string"), set()),
    (capability_statement("date"),
     {("invalid", "CapabilityStatement.rest[0].resource[0].searchParam[0]")}),
    (profile("Observation", "Observation.code.coding.system", "Observation.valueQuantity",
             "Observation.value[x]", "Observation.extension.value[x]",
             "Observation.effectiveDateTime.extension", "Observation.component.code"), set()),
    (profile("Observation", "Observation.valueBla"),
     {("structure", "StructureDefinition.differential.element[1].path")}),
    (profile("Observation", "Observation.code.nonsense"),
     {("structure", "StructureDefinition.differential.element[1].path")}),
    (profile("Observation", "Patient.name"),  # sdf-20 (paths start with the type) too
     {("structure", "StructureDefinition.differential.element[1].path"),
      ("invariant", "StructureDefinition.differential")}),
])
def test_definitional_resources(validator: Validator, resource: dict,
                                problems: set[tuple[str, str]]) -> None:
    assert located(validator.validate(resource)) == problems

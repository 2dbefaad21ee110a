"""The FHIRPath subset compiler, checked against the spec's expressions and fhirpathpy."""
from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.fhir.search.expressions import (
    EQUALS,
    GET,
    Branch,
    UnsupportedExpression,
    compile_expression,
)
from gateway.fhir.search.registry import SearchParameterRegistry
from gateway.fhir.search.structure import StructureModel

MODEL = StructureModel.load()


def paths(text: str, resource_type: str) -> list[tuple[str, str]]:
    compiled = compile_expression(text, resource_type, MODEL)
    return [(".".join(step[1] for step in b.steps if step[0] == GET), b.type)
            for b in compiled.branches]


def test_union_keeps_only_the_paths_of_this_type() -> None:
    expression = ("AllergyIntolerance.code | Condition.code"
                  " | (DeviceRequest.code as CodeableConcept)")
    assert paths(expression, "Condition") == [("code", "CodeableConcept")]


def test_choice_types_expand_to_their_json_keys() -> None:
    assert paths("ServiceRequest.occurrence", "ServiceRequest") == [
        ("occurrenceDateTime", "dateTime"), ("occurrencePeriod", "Period"),
        ("occurrenceTiming", "Timing")]


@pytest.mark.parametrize("expression", ["(Patient.deceased as dateTime)",
                                        "Patient.deceased.as(dateTime)",
                                        "Patient.deceased.ofType(dateTime)"])
def test_type_casts_select_one_choice(expression: str) -> None:
    assert paths(expression, "Patient") == [("deceasedDateTime", "dateTime")]


def test_paths_go_through_backbone_elements_and_data_types() -> None:
    assert paths("Encounter.participant.individual", "Encounter") == [
        ("participant.individual", "Reference")]
    assert paths("Patient.name.given", "Patient") == [("name.given", "string")]
    assert paths("Resource.meta.tag", "Task") == [("meta.tag", "Coding")]
    assert paths("(Goal.target.due as date)", "Goal") == [("target.dueDate", "date")]


def test_where_filters_compile_to_steps() -> None:
    compiled = compile_expression("Patient.telecom.where(system='email')", "Patient", MODEL)
    assert compiled.branches[0].steps[-1] == (EQUALS, "system", "email")
    resource = {"telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a"}]}
    assert compiled.evaluate(resource) == [("ContactPoint", {"system": "email", "value": "a"})]


def test_resolve_is_type_filters_references_by_target_type() -> None:
    compiled = compile_expression("Condition.subject.where(resolve() is Patient)", "Condition",
                                  MODEL)
    for reference, matches in [("Patient/1", True), ("Group/1", False),
                               ("http://other.example/fhir/Patient/9", True),
                               ("urn:uuid:5b9f1d2e-0c57-4b8e-9b7e-1f9f0a1c2d3e", False)]:
        resource = {"subject": {"reference": reference}}
        assert bool(compiled.evaluate(resource)) is matches, reference
    # Reference.type stands in where the reference string cannot say.
    typed = {"subject": {"reference": "urn:uuid:1", "type": "Patient"}}
    assert compiled.evaluate(typed)


def test_exists_and_not_false_is_one_boolean() -> None:
    compiled = compile_expression("Patient.deceased.exists() and Patient.deceased != false",
                                  "Patient", MODEL)
    assert compiled.evaluate({}) == [("boolean", False)]
    assert compiled.evaluate({"deceasedBoolean": False}) == [("boolean", False)]
    assert compiled.evaluate({"deceasedBoolean": True}) == [("boolean", True)]
    assert compiled.evaluate({"deceasedDateTime": "2020"}) == [("boolean", True)]


@pytest.mark.parametrize("expression", [
    "Bundle.entry[0].resource",
    "Patient.name.first()",
    "Patient.nosuchelement",
    "Patient.name.where(given.exists())",
    "Patient.active = true",
    "(Condition.onset as Quantity)",
    "Patient.name.family +",
])
def test_anything_else_is_refused(expression: str) -> None:
    with pytest.raises(UnsupportedExpression):
        compile_expression(expression, expression.split(".")[0].strip("("), MODEL)


# --- every supported parameter agrees with a real FHIRPath engine ------------------------

SAMPLES: dict[str, Any] = {
    "string": "Alpha", "markdown": "Alpha", "code": "alpha", "id": "a1", "uri": "urn:x:1",
    "url": "http://example.org/x", "canonical": "http://example.org/Questionnaire/q|1",
    "boolean": True, "date": "2020-05-01", "dateTime": "2020-05-01T10:00:00Z",
    "instant": "2020-05-01T10:00:00Z", "Coding": {"system": "urn:s", "code": "c"},
    "CodeableConcept": {"coding": [{"system": "urn:s", "code": "c"}], "text": "C"},
    "Identifier": {"system": "urn:s", "value": "v"},
    "ContactPoint": {"system": "email", "value": "a@example.org"},
    "Reference": {"reference": "Patient/p1"},
    "HumanName": {"family": "Fam", "given": ["Giv"]}, "Address": {"city": "Town"},
    "Period": {"start": "2020-01-01"}, "Timing": {"event": ["2020-01-01"]},
}


def synthetic(resource_type: str, branch: Branch) -> dict[str, Any]:
    """A resource with one sample value at the end of ``branch`` (a choice type has one)."""
    resource: dict[str, Any] = {"resourceType": resource_type, "id": "x1"}
    node = resource
    steps = [s for s in branch.steps if s[0] in (GET, EQUALS)]
    for index, (operation, key, argument) in enumerate(steps):
        if operation == EQUALS:
            node[key] = argument
        elif all(s[0] != GET for s in steps[index + 1:]):
            node[key] = json.loads(json.dumps(SAMPLES.get(branch.type, "x")))
        else:
            node[key] = [{}]
            node = node[key][0]
    return resource


def test_every_supported_expression_matches_fhirpathpy(registry: SearchParameterRegistry
                                                       ) -> None:
    fhirpathpy = pytest.importorskip("fhirpathpy")
    from fhirpathpy.models import models

    checked = 0
    for resource_type in ("Patient", "Practitioner", "PractitionerRole", "Organization",
                          "RelatedPerson", "CareTeam", "CarePlan", "Goal", "ServiceRequest",
                          "Task", "Consent", "Encounter", "Condition", "Location", "Coverage",
                          "Endpoint", "Provenance", "AuditEvent", "DocumentReference",
                          "Communication", "Subscription"):
        for param in registry.supported(resource_type):
            if param.expression is None or "resolve()" in param.expression:
                continue  # fhirpathpy does not implement resolve()
            assert param.extractor is not None
            compiled = compile_expression(param.expression, resource_type, MODEL)
            # fhirpathpy does not treat a "Resource." root as matching every type.
            expression = param.expression.replace("Resource.", f"{resource_type}.")
            for branch in param.extractor.branches:
                resource = synthetic(resource_type, branch)
                ours = compiled.evaluate(resource)
                theirs = fhirpathpy.evaluate(resource, expression, {}, models["r4"])
                assert sorted(json.dumps(v, sort_keys=True) for _, v in ours) == sorted(
                    json.dumps(v, sort_keys=True) for v in theirs), (resource_type, param.code)
                checked += 1
    assert checked > 300

"""Reference targets, literal reference syntax and contained-resource rules."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

from .helpers import base_example, located, only


def test_reference_to_a_type_the_element_does_not_allow(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["subject"] = {"reference": "Practitioner/pr1"}
    issue = only(validator.validate(care_plan))
    assert (issue.severity, issue.code, issue.expression) == ("error", "structure",
                                                              "CarePlan.subject")
    assert "Practitioner" in issue.diagnostics and "Patient" in issue.diagnostics


def test_reference_target_in_nested_backbone(validator: Validator) -> None:
    care_team = base_example("CareTeam")
    care_team["participant"][0]["onBehalfOf"] = {"reference": "Patient/p1"}
    assert located(validator.validate(care_team)) == {
        ("structure", "CareTeam.participant[0].onBehalfOf")}


@pytest.mark.parametrize("reference", [
    "Patient/p1", "Patient/p1/_history/2", "https://partner.example.org/fhir/Patient/123",
    "urn:uuid:0b7cbe4b-7a8e-4f5d-9c7f-2f0e1c1e4d11", "Patient?identifier=http://x|1",
    "https://example.org/not/a/fhir/url"])
def test_acceptable_subject_references(validator: Validator, reference: str) -> None:
    care_plan = base_example("CarePlan")
    care_plan["subject"] = {"reference": reference}
    assert validator.validate(care_plan) == []


@pytest.mark.parametrize(("reference", "code", "expression"), [
    ("https://partner.example.org/fhir/Organization/9", "structure", "CarePlan.subject"),
    ("Organization?name=x", "structure", "CarePlan.subject"),
    ("patient/p1", "value", "CarePlan.subject.reference"),
    ("Patient/p 1", "value", "CarePlan.subject.reference"),
    ("p1", "value", "CarePlan.subject.reference"),
])
def test_rejected_subject_references(validator: Validator, reference: str, code: str,
                                     expression: str) -> None:
    care_plan = base_example("CarePlan")
    care_plan["subject"] = {"reference": reference}
    assert located(validator.validate(care_plan)) == {(code, expression)}


def test_reference_type_must_be_allowed_and_agree(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["subject"] = {"type": "Device", "identifier": {"value": "d-1"}}
    care_plan["author"] = {"reference": "Practitioner/pr1", "type": "Organization"}
    assert located(validator.validate(care_plan)) == {
        ("structure", "CarePlan.subject"), ("value", "CarePlan.author.type")}


def test_any_resource_reference_accepts_every_type(validator: Validator) -> None:
    task = base_example("Task")
    task["focus"] = {"reference": "Observation/o1"}
    assert located(validator.validate(task, profiles=())) == set()


def test_contained_reference_resolves_and_is_type_checked(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["contained"] = [{"resourceType": "Patient", "id": "pat",
                               "name": [{"family": "Roe"}]},
                              {"resourceType": "Organization", "id": "org", "name": "X"}]
    care_plan["subject"] = {"reference": "#pat"}
    care_plan["author"] = {"reference": "#org"}
    assert validator.validate(care_plan) == []
    care_plan["subject"] = {"reference": "#org"}
    care_plan["author"] = {"reference": "#pat"}
    assert located(validator.validate(care_plan)) == {("structure", "CarePlan.subject")}


def test_local_reference_without_contained_resource(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["subject"] = {"reference": "#missing"}
    issue = only(validator.validate(care_plan))
    assert (issue.code, issue.expression) == ("invariant", "CarePlan.subject.reference")
    assert issue.diagnostics.startswith("ref-1:")


def test_contained_resource_rules(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["contained"] = [
        {"resourceType": "Goal", "id": "unreferenced", "lifecycleStatus": "proposed",
         "description": {"text": "x"}, "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Goal", "id": "g", "lifecycleStatus": "proposed",
         "description": {"text": "y"}, "subject": {"reference": "Patient/p1"},
         "meta": {"versionId": "1", "security": [{"code": "R"}]},
         "contained": [{"resourceType": "Patient", "id": "inner"}]},
        {"resourceType": "Provenance", "id": "back", "target": [{"reference": "#"}],
         "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"display": "x"}}]},
    ]
    care_plan["goal"] = [{"reference": "#g"}]
    assert located(validator.validate(care_plan)) == {
        ("invariant", "CarePlan.contained[0]"),  # dom-3: nothing refers to it
        ("invariant", "CarePlan.contained[1].contained"),  # dom-2
        ("invariant", "CarePlan.contained[1].meta.versionId"),  # dom-4
        ("invariant", "CarePlan.contained[1].meta.security"),  # dom-5
    }

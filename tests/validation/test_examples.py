"""Realistic resources validate cleanly; what fhir.resources lets through, we do not."""
from __future__ import annotations

import pytest

from gateway.fhir.resource_types import SUPPORTED_TYPES
from gateway.fhir.validation import Validator, has_errors
from gateway.fhir.validation.model import base_model

from .helpers import base_example, example, example_names, located


def test_every_stored_resource_type_has_an_example() -> None:
    # The validator knows every R4 resource type; the examples cover the ones the REST API
    # stores (and the containers it reads).
    assert set(SUPPORTED_TYPES) <= set(example_names()) <= set(base_model().resources)
    assert len(base_model().resources) == 147  # every concrete R4 resource type, and Parameters


@pytest.mark.parametrize("name", example_names())
def test_realistic_examples_are_valid(validator: Validator, name: str) -> None:
    issues = validator.validate(example(name), expected_type=name)
    # Clean, except that an extension the server does not know is said to be not understood
    # (the Patient example carries US Core's race extension).
    assert [i for i in issues if not _unknown_extension(i)] == []


def _unknown_extension(issue) -> bool:  # type: ignore[no-untyped-def]
    return issue.severity == "warning" and "is not one this server knows" in issue.diagnostics


def test_an_unknown_extension_is_accepted_with_a_warning(validator: Validator) -> None:
    patient = {"resourceType": "Patient", "extension": [
        {"url": "http://example.org/fhir/StructureDefinition/favourite-colour",
         "valueString": "teal"}]}
    [issue] = validator.validate(patient, expected_type="Patient")
    assert _unknown_extension(issue) and issue.expression == "Patient.extension[0]"
    assert not has_errors([issue])


def test_fhir_resources_accepts_a_bogus_care_plan_status() -> None:
    # Why this validator exists: the models check types, not the spec's required bindings.
    from fhir.resources.R4B.careplan import CarePlan

    care_plan = base_example("CarePlan")
    care_plan["status"] = "bogus"
    assert CarePlan.model_validate(care_plan).status == "bogus"


def test_bogus_care_plan_status_is_rejected(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["status"] = "bogus"
    issues = validator.validate(care_plan)
    assert has_errors(issues)
    assert located(issues) == {("code-invalid", "CarePlan.status")}


def test_care_plan_without_subject_is_rejected(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    del care_plan["subject"]
    assert located(validator.validate(care_plan)) == {("required", "CarePlan.subject")}


def test_every_problem_is_reported(validator: Validator) -> None:
    care_plan = example("CarePlan")
    care_plan.update({"status": "bogus", "intent": "proposal", "created": "yesterday",
                      "colour": "blue", "category": {"text": "plan"}})
    del care_plan["subject"]
    care_plan["activity"][1]["detail"]["status"] = "done"
    care_plan["activity"][1]["detail"]["scheduledString"] = "Mondays"
    care_plan["careTeam"] = [{"reference": "Organization/o1"}]
    assert located(validator.validate(care_plan)) == {
        ("code-invalid", "CarePlan.status"),
        ("value", "CarePlan.created"),
        ("structure", "CarePlan.colour"),
        ("structure", "CarePlan.category"),
        ("required", "CarePlan.subject"),
        ("code-invalid", "CarePlan.activity[1].detail.status"),
        ("structure", "CarePlan.activity[1].detail.scheduledString"),
        ("structure", "CarePlan.careTeam[0]"),
        ("value", "CarePlan.intent"),  # profile: fixed "plan"
        ("required", "CarePlan.category"),  # profile: 1..*, and the base array error above
    }


def test_validation_does_not_change_the_resource(validator: Validator) -> None:
    for name in example_names():
        resource = example(name)
        validator.validate(resource)
        assert resource == example(name)

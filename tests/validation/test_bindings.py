"""Required bindings on code, Coding and CodeableConcept."""
from __future__ import annotations

import copy

from gateway.fhir.validation import Validator
from gateway.fhir.validation.definitions import structure_definitions, value_set_expansions
from gateway.fhir.validation.model import base_model, compile_model
from gateway.fhir.validation.terminology import Terminology
from gateway.fhir.validation.walker import Walker

from .helpers import base_example, located, only

REQUEST_STATUS = "http://hl7.org/fhir/ValueSet/request-status"


def test_code_outside_required_value_set(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["status"] = "bogus"
    issue = only(validator.validate(care_plan))
    assert (issue.code, issue.expression) == ("code-invalid", "CarePlan.status")
    assert REQUEST_STATUS in issue.diagnostics and "'bogus'" in issue.diagnostics


def test_code_binding_on_repeating_element_in_backbone(validator: Validator) -> None:
    role = base_example("PractitionerRole")
    role["availableTime"][0]["daysOfWeek"] = ["mon", "monday"]
    issue = only(validator.validate(role))
    assert (issue.code, issue.expression) == ("code-invalid",
                                              "PractitionerRole.availableTime[0].daysOfWeek[1]")


def test_code_binding_is_case_sensitive(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["gender"] = "Female"
    assert located(validator.validate(patient)) == {("code-invalid", "Patient.gender")}


def test_codeable_concept_needs_a_coding_from_the_value_set(validator: Validator) -> None:
    condition = base_example("Condition")
    condition["clinicalStatus"] = {"coding": [
        {"system": "http://snomed.info/sct", "code": "55561003", "display": "Active"}]}
    issue = only(validator.validate(condition))
    assert (issue.code, issue.expression) == ("code-invalid", "Condition.clinicalStatus")
    assert "http://hl7.org/fhir/ValueSet/condition-clinical" in issue.diagnostics


def test_codeable_concept_with_text_only_fails_a_required_binding(validator: Validator) -> None:
    condition = base_example("Condition")
    condition["verificationStatus"] = {"text": "confirmed"}
    issue = only(validator.validate(condition))
    assert (issue.code, issue.expression) == ("code-invalid", "Condition.verificationStatus")
    assert "text alone" in issue.diagnostics


def test_codeable_concept_may_add_translations(validator: Validator) -> None:
    condition = base_example("Condition")
    condition["clinicalStatus"]["coding"].insert(0, {"system": "http://snomed.info/sct",
                                                     "code": "55561003"})
    assert validator.validate(condition) == []


def test_codeable_concept_code_from_the_wrong_system(validator: Validator) -> None:
    condition = base_example("Condition")
    condition["clinicalStatus"]["coding"][0]["system"] = "http://hl7.org/fhir/condition-clinical"
    assert located(validator.validate(condition)) == {
        ("code-invalid", "Condition.clinicalStatus")}


def test_unexpandable_value_sets_are_not_checked(validator: Validator) -> None:
    # Attachment.contentType is bound to mimetypes (BCP-13), which cannot be expanded offline.
    reference = base_example("DocumentReference")
    reference["content"][0]["attachment"]["contentType"] = "application/x-made-up"
    assert validator.validate(reference) == []


def test_coding_binding_in_base_walk() -> None:
    # No supported R4 element binds a bare Coding as required, so bind Encounter.class for test.
    structures = dict(structure_definitions())
    encounter = copy.deepcopy(structures["Encounter"])
    for element in encounter["elements"]:
        if element["path"] == "Encounter.class":
            element["binding"] = {"strength": "required", "valueSet": REQUEST_STATUS}
    structures["Encounter"] = encounter
    model = compile_model(structures, base_model().all_resource_types)
    resource = base_example("Encounter")

    def issues_for(coding: dict) -> list:
        walker = Walker(model, Terminology(value_set_expansions()))
        walker.resource({**resource, "class": coding}, None)
        return walker.issues

    assert issues_for({"system": "http://hl7.org/fhir/request-status", "code": "active"}) == []
    assert located(issues_for({"system": "http://hl7.org/fhir/request-status",
                               "code": "HH"})) == {("code-invalid", "Encounter.class")}
    assert located(issues_for({"code": "active"})) == {("code-invalid", "Encounter.class")}

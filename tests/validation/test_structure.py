"""Base R4 structure: unknown elements, cardinality, arrays, empties, choices, resourceType."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

from .helpers import base_example, errors, located, only


def test_unknown_element_at_top_level(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["priority"] = "high"
    issue = only(validator.validate(care_plan))
    assert (issue.severity, issue.code, issue.expression) == ("error", "structure",
                                                              "CarePlan.priority")
    assert "priority" in issue.diagnostics


def test_unknown_element_inside_data_type(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["name"][1]["nickname"] = "JJ"
    patient["identifier"][0]["type"]["coding"][0]["version"] = "2.9"  # allowed: Coding.version
    patient["identifier"][0]["type"]["coding"][0]["codeSystem"] = "v2"
    assert located(validator.validate(patient)) == {
        ("structure", "Patient.name[1].nickname"),
        ("structure", "Patient.identifier[0].type.coding[0].codeSystem"),
    }


def test_unknown_element_inside_backbone_element(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["activity"][1]["detail"]["frequency"] = "weekly"
    assert located(validator.validate(care_plan)) == {
        ("structure", "CarePlan.activity[1].detail.frequency")}


def test_unknown_element_inside_primitive_extension_sibling(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["_birthDate"]["comment"] = "approximate"
    assert located(validator.validate(patient)) == {("structure", "Patient.birthDate.comment")}


def test_underscore_sibling_of_a_complex_element_is_unknown(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["_maritalStatus"] = {"extension": [{"url": "http://x.example", "valueString": "y"}]}
    assert located(validator.validate(patient)) == {("structure", "Patient._maritalStatus")}


def test_missing_required_element(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    del care_plan["intent"]
    issue = only(validator.validate(care_plan))
    assert (issue.code, issue.expression) == ("required", "CarePlan.intent")


def test_missing_required_element_in_backbone_and_data_type(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    del care_plan["activity"][1]["detail"]["status"]  # CarePlan.activity.detail.status 1..1
    consent = base_example("Consent")
    del consent["provision"]["actor"][0]["role"]  # Consent.provision.actor.role 1..1
    extension = base_example("Patient")
    del extension["extension"][0]["url"]  # Extension.url 1..1
    assert located(validator.validate(care_plan)) == {
        ("required", "CarePlan.activity[1].detail.status")}
    assert located(validator.validate(consent)) == {
        ("required", "Consent.provision.actor[0].role")}
    assert located(validator.validate(extension)) == {("required", "Patient.extension[0].url")}


def test_extension_only_primitive_satisfies_min_cardinality(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    del care_plan["status"]
    care_plan["_status"] = {"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "unknown"}]}
    assert validator.validate(care_plan) == []


def test_max_cardinality_zero_from_simple_quantity(validator: Validator) -> None:
    # Range.low is a SimpleQuantity, whose comparator is 0..0.
    goal = base_example("Goal")
    goal["target"][0]["detailRange"]["high"]["comparator"] = "<"
    issue = only(validator.validate(goal))
    assert (issue.code, issue.expression) == ("structure",
                                              "Goal.target[0].detailRange.high.comparator")


def test_single_element_given_as_array(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["status"] = ["active"]
    care_plan["subject"] = [{"reference": "Patient/p1"}]
    assert located(validator.validate(care_plan)) == {
        ("structure", "CarePlan.status"), ("structure", "CarePlan.subject")}


def test_repeating_element_given_as_single_value(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["category"] = care_plan["category"][0]
    care_plan["instantiatesUri"] = "http://example.org/protocol"
    issues = validator.validate(care_plan)
    assert located(issues) == {("structure", "CarePlan.category"),
                               ("structure", "CarePlan.instantiatesUri")}
    assert all("array" in issue.diagnostics for issue in issues)


@pytest.mark.parametrize(("key", "value", "word"), [
    ("name", [], "Empty arrays"), ("maritalStatus", {}, "Empty objects"),
    ("gender", None, "null"), ("gender", "", "Empty strings")])
def test_empty_values_are_errors(validator: Validator, key: str, value: object,
                                 word: str) -> None:
    patient = base_example("Patient")
    patient[key] = value
    issue = only(validator.validate(patient))
    assert issue.expression == f"Patient.{key}"
    assert word in issue.diagnostics


def test_null_and_empty_inside_arrays_and_objects(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["name"].append(None)
    patient["telecom"].append({})
    patient["address"][0]["line"].append("")
    patient["identifier"][0]["period"] = {"id": "only-an-id"}
    assert located(validator.validate(patient)) == {
        ("structure", "Patient.name[2]"), ("structure", "Patient.telecom[2]"),
        ("value", "Patient.address[0].line[2]"), ("structure", "Patient.identifier[0].period")}


def test_primitive_array_with_extension_placeholders(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["name"][0]["given"] = ["Jane", None]
    patient["name"][0]["_given"] = [None, {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier",
         "valueCode": "MID"}]}]
    assert validator.validate(patient) == []


def test_primitive_array_placeholders_must_align(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["name"][0]["given"] = ["Jane", None]
    patient["name"][0]["_given"] = [None]
    assert located(validator.validate(patient)) == {
        ("structure", "Patient.name[0].given"), ("structure", "Patient.name[0].given[1]")}


def test_choice_type_accepts_allowed_variants(validator: Validator) -> None:
    condition = base_example("Condition")
    del condition["onsetDateTime"]
    condition["onsetAge"] = {"value": 34, "unit": "years", "system": "http://unitsofmeasure.org",
                             "code": "a"}
    condition["abatementString"] = "in remission since spring"
    # con-4 (R4 base): an abated condition is inactive, resolved or in remission.
    condition["clinicalStatus"] = {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
        "code": "remission"}]}
    assert validator.validate(condition) == []


def test_choice_type_with_disallowed_type_suffix(validator: Validator) -> None:
    condition = base_example("Condition")
    condition["abatementCodeableConcept"] = {"text": "remission"}
    issue = only(validator.validate(condition))
    assert (issue.code, issue.expression) == ("structure", "Condition.abatementCodeableConcept")
    assert "abatementDateTime" in issue.diagnostics  # names the allowed variants


def test_choice_type_with_two_variants(validator: Validator) -> None:
    condition = base_example("Condition")
    condition["onsetString"] = "childhood"
    issue = only(validator.validate(condition))
    assert (issue.code, issue.expression) == ("structure", "Condition.onsetString")


def test_choice_type_in_extension(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["extension"][0]["valueFoo"] = "x"
    patient["extension"].append({"url": "http://example.org/a", "valueString": "a",
                                 "valueBoolean": True})
    assert located(validator.validate(patient)) == {
        ("structure", "Patient.extension[0].valueFoo"),
        ("structure", "Patient.extension[1].valueBoolean")}


def test_extension_needs_value_or_extensions_but_not_both(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["extension"].append({"url": "http://example.org/empty"})
    patient["extension"].append({"url": "http://example.org/both", "valueString": "a",
                                 "extension": [{"url": "x", "valueString": "b"}]})
    patient["extension"].append({"url": "http://example.org/complex",
                                 "extension": [{"url": "part", "valueInteger": 1}]})
    assert located(validator.validate(patient)) == {
        ("invariant", "Patient.extension[1]"), ("invariant", "Patient.extension[2]")}


def test_content_reference_elements_are_checked(validator: Validator) -> None:
    bundle = base_example("Bundle")
    bundle["entry"][0]["link"] = [{"relation": "self", "url": "Patient/x", "rel": "bogus"}]
    consent = base_example("Consent")
    consent["provision"]["provision"][0]["provision"] = [{"type": "maybe"}]
    assert located(validator.validate(bundle)) == {("structure", "Bundle.entry[0].link[0].rel")}
    assert located(validator.validate(consent)) == {
        ("code-invalid", "Consent.provision.provision[0].provision[0].type")}


@pytest.mark.parametrize(("resource", "code", "expression"), [
    ({"id": "x"}, "structure", "Resource"),
    ({"resourceType": 7}, "structure", "Resource"),
    ({"resourceType": "Carepan", "status": "active"}, "not-supported", "Resource"),
    ({"resourceType": "Obsrvation", "status": "final"}, "not-supported", "Resource"),
    ({"resourceType": "DomainResource"}, "not-supported", "Resource"),
    ([{"resourceType": "Patient"}], "structure", "Resource"),
    (None, "structure", "Resource"),
    ("Patient", "structure", "Resource"),
])
def test_bad_resource_type_gives_exactly_one_error(validator: Validator, resource: object,
                                                   code: str, expression: str) -> None:
    issue = only(validator.validate(resource, expected_type="Patient"))
    assert (issue.severity, issue.code, issue.expression) == ("error", code, expression)


def test_expected_type_mismatch(validator: Validator) -> None:
    issues = validator.validate(base_example("CareTeam"), expected_type="CarePlan")
    assert located(issues) == {("invalid", "CareTeam")}


def test_resource_id_must_be_a_valid_id(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["id"] = "not valid!"
    assert located(validator.validate(patient)) == {("value", "Patient.id")}


def test_element_ids_and_extension_urls_cannot_carry_extensions(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["name"][0]["id"] = "n1"
    patient["name"][0]["_id"] = {"extension": [{"url": "x", "valueString": "y"}]}
    patient["extension"][0]["_url"] = {"id": "u"}
    assert located(validator.validate(patient)) == {
        ("structure", "Patient.name[0]._id"), ("structure", "Patient.extension[0]._url")}


def test_deep_nesting_is_reported_not_raised(validator: Validator) -> None:
    extension: dict = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(5000):
        extension = {"url": "http://example.org/nest", "extension": [extension]}
    patient = {"resourceType": "Patient", "extension": [extension]}
    issues = validator.validate(patient)
    assert [issue.code for issue in errors(issues)] == ["too-costly"]
    assert issues[0].expression.startswith("Patient.extension[0].extension[0].extension[0]")


def test_deep_bundle_nesting_is_reported_not_raised(validator: Validator) -> None:
    bundle: dict = {"resourceType": "Bundle", "type": "collection"}
    for _ in range(3000):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bundle}]}
    assert [issue.code for issue in errors(validator.validate(bundle))] == ["too-costly"]


def test_non_string_property_names_are_reported(validator: Validator) -> None:
    patient = base_example("Patient")
    patient[3] = "three"
    assert located(validator.validate(patient)) == {("structure", "Patient")}

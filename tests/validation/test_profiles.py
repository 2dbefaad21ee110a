"""Our profiles (profiles/*.json) and the profile engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.fhir.validation import ProfileError, Validator

from .helpers import PROFILE_BASE, PROFILES_DIR, base_example, errors, example, located, only

CAREPLAN = PROFILE_BASE + "cmh-careplan"
CARETEAM = PROFILE_BASE + "cmh-careteam"
TASK = PROFILE_BASE + "cmh-task"
CONSENT = PROFILE_BASE + "cmh-consent"


def test_known_profiles(validator: Validator) -> None:
    assert validator.known_profiles() == [CAREPLAN, CARETEAM, CONSENT, TASK]


def test_default_profiles_dir_is_the_projects() -> None:
    assert Validator().known_profiles() == Validator(PROFILES_DIR).known_profiles()


@pytest.mark.parametrize("name", ["CarePlan", "CareTeam", "Task", "Consent"])
def test_examples_conform_to_their_profiles(validator: Validator, name: str) -> None:
    assert example(name)["meta"]["profile"]
    assert validator.validate(example(name)) == []


def test_profile_requested_by_argument(validator: Validator) -> None:
    care_team = base_example("CareTeam")
    del care_team["managingOrganization"]
    assert validator.validate(care_team) == []
    issue = only(validator.validate(care_team, profiles=[CARETEAM]))
    assert (issue.code, issue.expression) == ("required", "CareTeam.managingOrganization")
    assert CARETEAM in issue.diagnostics


def test_profile_min_tightening_at_each_level(validator: Validator) -> None:
    care_team = example("CareTeam")
    del care_team["status"]
    del care_team["participant"][0]["role"]
    del care_team["participant"][2]["member"]
    assert located(validator.validate(care_team)) == {
        ("required", "CareTeam.status"),
        ("required", "CareTeam.participant[0].role"),
        ("required", "CareTeam.participant[2].member"),
    }


def test_profile_min_inside_data_type(validator: Validator) -> None:
    care_plan = example("CarePlan")
    care_plan["period"] = {"end": "2025-01-31"}
    assert located(validator.validate(care_plan)) == {("required", "CarePlan.period.start")}


def test_profile_target_restriction(validator: Validator) -> None:
    care_plan = example("CarePlan")
    care_plan["subject"] = {"reference": "Group/g1"}  # base allows Group, the profile does not
    care_plan["activity"][0]["reference"] = {"reference": "CommunicationRequest/cr1"}
    issues = validator.validate(care_plan)
    assert located(issues) == {("structure", "CarePlan.subject"),
                               ("structure", "CarePlan.activity[0].reference")}
    assert all(CAREPLAN in issue.diagnostics for issue in issues)


def test_profile_fixed_value(validator: Validator) -> None:
    care_plan = example("CarePlan")
    care_plan["intent"] = "proposal"  # valid R4 code, but the profile fixes "plan"
    issue = only(validator.validate(care_plan))
    assert (issue.code, issue.expression) == ("value", "CarePlan.intent")
    assert "'plan'" in issue.diagnostics or '"plan"' in issue.diagnostics


def test_profile_pattern_on_single_element(validator: Validator) -> None:
    consent = example("Consent")
    consent["scope"]["coding"][0]["code"] = "research"
    issue = only(validator.validate(consent))
    assert (issue.code, issue.expression) == ("value", "Consent.scope")


def test_profile_pattern_allows_extra_content(validator: Validator) -> None:
    consent = example("Consent")
    consent["scope"]["coding"].insert(0, {"system": "http://example.org/local", "code": "roi"})
    consent["scope"]["text"] = "Privacy consent"
    consent["category"].insert(0, {"coding": [{"system": "http://loinc.org",
                                               "code": "64292-6"}]})
    assert validator.validate(consent) == []


def test_profile_pattern_on_repeating_element_needs_one_match(validator: Validator) -> None:
    consent = example("Consent")
    consent["category"] = [{"coding": [{"system": "http://loinc.org", "code": "64292-6"}]},
                           {"text": "Release of information"}]
    issue = only(validator.validate(consent))
    assert (issue.code, issue.expression) == ("value", "Consent.category")


def test_profile_required_binding_to_our_value_set(validator: Validator) -> None:
    task = example("Task")
    task["code"] = {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                                "code": "fulfill"}]}
    issue = only(validator.validate(task))
    assert (issue.code, issue.expression) == ("code-invalid", "Task.code")
    assert "http://fhir-care-gateway.example/fhir/ValueSet/cmh-task-type" in issue.diagnostics


@pytest.mark.parametrize("status", ["rejected", "cancelled"])
def test_profile_invariant_on_resource(validator: Validator, status: str) -> None:
    task = example("Task")
    task["status"] = status
    issue = only(validator.validate(task))
    assert (issue.severity, issue.code, issue.expression) == ("error", "invariant", "Task")
    assert issue.diagnostics.startswith(
        "cmh-tsk-1: A rejected or cancelled task SHALL give the reason in statusReason")
    assert TASK in issue.diagnostics
    task["statusReason"] = {"text": "Client declined services"}
    assert validator.validate(task) == []


def test_profile_invariant_on_repeating_element(validator: Validator) -> None:
    care_plan = example("CarePlan")
    care_plan["activity"].append({"progress": [{"text": "No reference and no detail"}]})
    issue = only(validator.validate(care_plan))
    assert (issue.code, issue.expression) == ("invariant", "CarePlan.activity[2]")
    assert issue.diagnostics.startswith("cmh-cpl-1: ")


def test_consent_policy_invariant_and_provision(validator: Validator) -> None:
    consent = example("Consent")
    del consent["policyRule"]
    del consent["provision"]["period"]
    del consent["provision"]["actor"]
    assert located(validator.validate(consent)) == {
        ("invariant", "Consent"), ("required", "Consent.policyRule"),
        ("required", "Consent.provision.period"), ("required", "Consent.provision.actor")}


def test_careplan_profile_requirements(validator: Validator) -> None:
    care_plan = example("CarePlan")
    for key in ("period", "author", "careTeam", "category"):
        del care_plan[key]
    assert located(validator.validate(care_plan)) == {
        ("required", "CarePlan.period"), ("required", "CarePlan.author"),
        ("required", "CarePlan.careTeam"), ("required", "CarePlan.category")}


def test_task_profile_requirements(validator: Validator) -> None:
    task = example("Task")
    for key in ("code", "for", "authoredOn", "owner"):
        del task[key]
    assert located(validator.validate(task)) == {
        ("required", "Task.code"), ("required", "Task.for"), ("required", "Task.authoredOn"),
        ("required", "Task.owner")}


def test_unknown_declared_profile_is_a_warning(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["meta"] = {"profile": [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-careplan"]}
    issue = only(validator.validate(care_plan))
    assert (issue.severity, issue.code, issue.expression) == (
        "warning", "not-supported", "CarePlan.meta.profile[0]")


def test_unknown_requested_profile_is_an_error(validator: Validator) -> None:
    issue = only(validator.validate(base_example("CarePlan"),
                                    profiles=["http://example.org/StructureDefinition/nope"]))
    assert (issue.severity, issue.code, issue.expression) == ("error", "not-supported",
                                                              "CarePlan")


def test_versioned_profile_reference(validator: Validator) -> None:
    care_team = base_example("CareTeam")
    del care_team["status"]
    care_team["meta"] = {"profile": [CARETEAM + "|1.0.0"]}
    assert located(validator.validate(care_team)) == {("required", "CareTeam.status")}


def test_profile_for_another_resource_type(validator: Validator) -> None:
    issue = only(validator.validate(base_example("CareTeam"), profiles=[CAREPLAN]))
    assert (issue.code, issue.expression) == ("invalid", "CareTeam")


# The engine, with profiles written for the test


def _write_profile(directory: Path, elements: list[dict], type_: str = "Encounter",
                   **extra: object) -> str:
    url = f"http://example.org/StructureDefinition/test-{type_.lower()}"
    directory.joinpath(f"StructureDefinition-test-{type_.lower()}.json").write_text(json.dumps({
        "resourceType": "StructureDefinition", "url": url, "name": "Test", "status": "draft",
        "kind": "resource", "abstract": False, "type": type_, "derivation": "constraint",
        "baseDefinition": f"http://hl7.org/fhir/StructureDefinition/{type_}",
        "differential": {"element": [{"id": e["path"], **e} for e in elements]}, **extra}))
    return url


def test_engine_max_tightening_and_type_restriction(tmp_path: Path) -> None:
    url = _write_profile(tmp_path, [
        {"path": "Encounter.participant", "max": "1"},
        {"path": "Encounter.reasonCode", "max": "0"},
        {"path": "Encounter.length", "min": 1},
    ], type_="Encounter")
    _write_profile(tmp_path, [
        {"path": "Condition.onset[x]", "type": [{"code": "dateTime"}, {"code": "Period"}]},
    ], type_="Condition")
    validator = Validator(tmp_path)
    encounter = base_example("Encounter")
    encounter["participant"].append({"individual": {"reference": "Practitioner/pr2"}})
    assert located(validator.validate(encounter, profiles=[url])) == {
        ("structure", "Encounter.participant"), ("structure", "Encounter.reasonCode")}
    condition = base_example("Condition")
    condition["onsetString"] = condition.pop("onsetDateTime")
    assert located(validator.validate(
        condition, profiles=["http://example.org/StructureDefinition/test-condition"])) == {
        ("structure", "Condition.onsetString")}


def test_engine_coding_binding_to_inline_value_set(tmp_path: Path) -> None:
    tmp_path.joinpath("ValueSet-classes.json").write_text(json.dumps({
        "resourceType": "ValueSet", "url": "http://example.org/ValueSet/classes",
        "status": "active", "compose": {"include": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "concept": [{"code": "HH"}, {"code": "AMB"}]}]}}))
    url = _write_profile(tmp_path, [{"path": "Encounter.class", "binding": {
        "strength": "required", "valueSet": "http://example.org/ValueSet/classes"}}])
    validator = Validator(tmp_path)
    encounter = base_example("Encounter")
    assert validator.validate(encounter, profiles=[url]) == []
    encounter["class"]["code"] = "IMP"
    assert located(validator.validate(encounter, profiles=[url])) == {
        ("code-invalid", "Encounter.class")}


def test_engine_fixed_complex_value_and_warning_invariant(tmp_path: Path) -> None:
    url = _write_profile(tmp_path, [
        {"path": "Encounter.class", "fixedCoding": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH",
            "display": "home health"}},
        {"path": "Encounter.period", "constraint": [{
            "key": "test-1", "severity": "warning", "human": "Visits should end",
            "expression": "end.exists()"}]},
    ])
    validator = Validator(tmp_path)
    encounter = base_example("Encounter")
    assert validator.validate(encounter, profiles=[url]) == []
    del encounter["class"]["display"]
    del encounter["period"]["end"]
    issues = validator.validate(encounter, profiles=[url])
    assert {(i.severity, i.code, i.expression) for i in issues} == {
        ("error", "value", "Encounter.class"), ("warning", "invariant", "Encounter.period")}


def test_engine_profile_derived_from_our_profile(tmp_path: Path) -> None:
    for path in PROFILES_DIR.glob("*.json"):
        tmp_path.joinpath(path.name).write_text(path.read_text())
    child = _write_profile(tmp_path, [{"path": "CareTeam.name", "min": 1}], type_="CareTeam",
                           baseDefinition=CARETEAM)
    validator = Validator(tmp_path)
    care_team = base_example("CareTeam")
    del care_team["name"]
    del care_team["managingOrganization"]
    assert located(validator.validate(care_team, profiles=[child])) == {
        ("required", "CareTeam.name"), ("required", "CareTeam.managingOrganization")}


@pytest.mark.parametrize(("element", "message"), [
    ({"path": "Encounter.status", "min": 0, "max": "0"}, "loosens"),
    ({"path": "Encounter.reasonCode", "min": 0, "max": "*"}, None),
    ({"path": "Encounter.subject", "max": "2"}, "loosens"),
    ({"path": "Encounter.nonsense", "min": 1}, "no element"),
    ({"path": "Encounter.identifier", "slicing": {"rules": "open"}}, "not supported"),
    ({"path": "Encounter.subject", "type": [{"code": "Reference", "targetProfile": [
        "http://hl7.org/fhir/StructureDefinition/Practitioner"]}]}, "not allowed by the base"),
    ({"path": "Encounter.status", "fixedString": "planned"}, "does not match"),
    ({"path": "Encounter", "constraint": [{"key": "x", "expression": "status = "}]},
     "syntax error"),
    ({"path": "Encounter.class", "binding": {"strength": "required",
                                             "valueSet": "http://example.org/unknown"}},
     "cannot expand"),
])
def test_engine_refuses_broken_profiles(tmp_path: Path, element: dict,
                                        message: str | None) -> None:
    _write_profile(tmp_path, [element])
    if message is None:
        Validator(tmp_path)  # a no-op restatement of the base is fine
        return
    with pytest.raises(ProfileError, match=message):
        Validator(tmp_path)


def test_missing_explicit_profiles_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Validator(tmp_path / "absent")


def test_invariant_that_cannot_be_evaluated_is_a_warning(tmp_path: Path) -> None:
    url = _write_profile(tmp_path, [{"path": "Encounter", "constraint": [{
        "key": "odd-1", "human": "uses a function fhirpathpy lacks",
        "expression": "status.frobnicate()"}]}])
    issues = Validator(tmp_path).validate(base_example("Encounter"), profiles=[url])
    assert not errors(issues)
    assert [(i.severity, i.code) for i in issues] == [("warning", "exception")]

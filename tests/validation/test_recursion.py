"""Resources inside resources: contained, Bundle entries and Parameters."""
from __future__ import annotations

from gateway.fhir.validation import Validator

from .helpers import PROFILE_BASE, base_example, example, located


def test_contained_resource_errors_carry_the_container_path(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    goal = base_example("Goal")
    goal["id"] = "g2"
    goal["lifecycleStatus"] = "done"
    goal["target"][0]["dueDate"] = "soon"
    del goal["subject"]
    care_plan["contained"] = [goal]
    care_plan["goal"].append({"reference": "#g2"})
    assert located(validator.validate(care_plan)) == {
        ("code-invalid", "CarePlan.contained[0].lifecycleStatus"),
        ("value", "CarePlan.contained[0].target[0].dueDate"),
        ("required", "CarePlan.contained[0].subject"),
    }


def test_bundle_entry_resources_are_validated(validator: Validator) -> None:
    bundle = base_example("Bundle")
    bundle["entry"].append({"fullUrl": "urn:uuid:2d9e0f6d-9c00-4b7f-9e91-4b2f3e3f6f33",
                            "resource": base_example("CarePlan"),
                            "request": {"method": "POST", "url": "CarePlan"}})
    bundle["entry"][3]["resource"]["status"] = "bogus"
    bundle["entry"][0]["resource"]["birthDate"] = "03/02/1990"
    bundle["entry"][1]["request"]["method"] = "FETCH"
    assert located(validator.validate(bundle)) == {
        ("code-invalid", "Bundle.entry[3].resource.status"),
        ("value", "Bundle.entry[0].resource.birthDate"),
        ("code-invalid", "Bundle.entry[1].request.method"),
    }


def test_bundle_entry_resource_type_problems(validator: Validator) -> None:
    bundle = base_example("Bundle")
    bundle["entry"][0]["resource"] = {"name": [{"family": "Roe"}]}
    bundle["entry"][1]["resource"] = {"resourceType": "Observation", "status": "final"}
    bundle["entry"][2]["resource"] = {"resourceType": "Obsrvation", "status": "final"}
    # Every R4 type is validated wherever it rides along: the Observation lacks its code.
    assert located(validator.validate(bundle)) == {
        ("structure", "Bundle.entry[0].resource"), ("required", "Bundle.entry[1].resource.code"),
        ("not-supported", "Bundle.entry[2].resource")}


def test_bundle_in_bundle(validator: Validator) -> None:
    inner = base_example("Bundle")
    inner["entry"][0]["resource"]["gender"] = "f"
    outer = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}
    assert located(validator.validate(outer)) == {
        ("code-invalid", "Bundle.entry[0].resource.entry[0].resource.gender")}


def test_parameters_resources_and_parts(validator: Validator) -> None:
    parameters = base_example("Parameters")
    parameters["parameter"][2]["resource"]["active"] = "yes"
    parameters["parameter"][3]["part"][1]["valueInteger"] = 2.5
    parameters["parameter"][3]["part"].append({"name": "nested", "part": [{"value": 1}]})
    assert located(validator.validate(parameters)) == {
        ("value", "Parameters.parameter[2].resource.active"),
        ("value", "Parameters.parameter[3].part[1].valueInteger"),
        ("structure", "Parameters.parameter[3].part[2].part[0].value"),
        ("required", "Parameters.parameter[3].part[2].part[0].name"),
        # inv-1 (R4 base): a parameter has exactly one of value, resource, part.
        ("invariant", "Parameters.parameter[3].part[2].part[0]"),
    }


def test_profiles_declared_by_nested_resources_are_applied(validator: Validator) -> None:
    care_team = example("CareTeam")
    del care_team["managingOrganization"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "https://cmh.example.org/fhir/CareTeam/ct1",
                         "resource": care_team}]}
    issues = validator.validate(bundle)
    assert located(issues) == {("required", "Bundle.entry[0].resource.managingOrganization")}
    assert PROFILE_BASE + "cmh-careteam" in issues[0].diagnostics

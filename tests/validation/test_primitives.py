"""Primitive values: JSON type, the R4 regexes, ranges and calendar dates."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.fhir.validation import Validator

from .helpers import base_example, located


def _set(path: list[str | int]) -> Callable[[dict, object], None]:
    def setter(resource: dict, value: object) -> None:
        if path[-1] == "instantiatesCanonical":
            value = [value]
        elif str(path[-1]).startswith("value"):  # a fresh extension carrying only this value
            resource["extension"] = [{"url": "https://fhir-care-gateway.example/fhir/StructureDefinition/test-value"}]
        target = resource
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        # An Attachment's size must agree with its data: each is tried on its own here.
        other = {"size": "data", "data": "size"}.get(str(path[-1]))
        if other is not None and "attachment" in path:
            target.pop(other, None)
    return setter


# type -> (example, where the value goes, its expression, valid values, invalid values)
CASES: dict[str, tuple[str, list, str, list, list]] = {
    "boolean": ("Patient", ["active"], "Patient.active",
                [True, False], ["true", 1, 0, "yes"]),
    "integer": ("Patient", ["multipleBirthInteger"], "Patient.multipleBirthInteger",
                [0, -5, 2147483647], [1.5, "2", True, 2147483648, -2147483649]),
    "positiveInt": ("Encounter", ["diagnosis", 0, "rank"], "Encounter.diagnosis[0].rank",
                    [1, 2147483647], [0, -1, "1", 1.0, 2147483648]),
    "unsignedInt": ("DocumentReference", ["content", 0, "attachment", "size"],
                    "DocumentReference.content[0].attachment.size",
                    [0, 26], [-1, "26", 2.5]),
    "decimal": ("Location", ["position", "latitude"], "Location.position.latitude",
                [39.78, -89, 0, 1e-3], ["39.78", True, float("nan"), float("inf")]),
    "string": ("Patient", ["name", 0, "family"], "Patient.name[0].family",
               # The R4 regexes are Java's: \s is ASCII whitespace only, so a no-break space,
               # U+2009, U+3000 and U+2028 are text; control characters and lone surrogates
               # are not (datatypes.html#string).
               ["Doe", "O'Brien-Smith", " multi\nline ", "Ana\u00a0María", "a\u2009b",
                "x\u3000y", "line\u2028two", "tab\there"],
               ["", 5, ["Doe"], {"v": "Doe"}, "bad\x01", "nul\x00", "lone\ud800", "esc\x1b"]),
    "code": ("Patient", ["language"], "Patient.language",
             ["en-US", "x y", "x\u00a0y"], ["", " en", "en ", "a  b", 7]),
    "id": ("Patient", ["id"], "Patient.id",
           ["p-1.2", "A" * 64], ["", "a_b", "a b", "A" * 65, "é"]),
    "uri": ("Patient", ["implicitRules"], "Patient.implicitRules",
            ["http://example.org/rules", "urn:oid:1.2.3"], ["http://example.org/a b", 1]),
    "url": ("Endpoint", ["address"], "Endpoint.address",
            ["https://partner.example.org/fhir"], ["https://partner.example.org/ fhir"]),
    "canonical": ("CarePlan", ["instantiatesCanonical"], "CarePlan.instantiatesCanonical[0]",
                  ["http://example.org/PlanDefinition/x|1.0"], ["http://example.org/P D"]),
    "oid": ("Patient", ["extension", 0, "valueOid"], "Patient.extension[0].valueOid",
            ["urn:oid:2.16.840.1.113883"], ["2.16.840", "urn:oid:3.1", "urn:oid:1.02"]),
    "uuid": ("Patient", ["extension", 0, "valueUuid"], "Patient.extension[0].valueUuid",
             ["urn:uuid:0b7cbe4b-7a8e-4f5d-9c7f-2f0e1c1e4d11"],
             ["0b7cbe4b-7a8e-4f5d-9c7f-2f0e1c1e4d11",
              "urn:uuid:0B7CBE4B-7A8E-4F5D-9C7F-2F0E1C1E4D11"]),
    "date": ("Patient", ["birthDate"], "Patient.birthDate",
             ["1985", "1985-04", "1985-04-12", "2024-02-29"],
             ["1985-4-12", "85-04-12", "1985-04-12T10:00:00Z", "1985-13-01", "2023-02-29",
              "0000", 19850412]),
    "dateTime": ("CarePlan", ["created"], "CarePlan.created",
                 ["2024", "2024-01", "2024-01-28", "2024-01-28T09:00:00Z",
                  "2024-01-28T09:00:00.123+05:30", "2016-12-31T23:59:60Z"],
                 ["2024-01-28T09:00:00", "2024-01-28T09:00Z", "2024-01-28 09:00:00Z",
                  "2024-01-28T24:00:00Z", "2024-01-32"]),
    "instant": ("Provenance", ["recorded"], "Provenance.recorded",
                ["2024-01-28T09:01:12Z", "2024-01-28T09:01:12.345-06:00"],
                ["2024-01-28T09:01:12", "2024-01-28", "2024-01-28T09:01Z",
                 "2024-02-30T09:01:12Z"]),
    "time": ("PractitionerRole", ["availableTime", 0, "availableStartTime"],
             "PractitionerRole.availableTime[0].availableStartTime",
             ["09:00:00", "23:59:59.999"], ["9:00", "09:00", "24:00:00", "09:00:00Z"]),
    "base64Binary": ("DocumentReference", ["content", 0, "attachment", "data"],
                     "DocumentReference.content[0].attachment.data",
                     ["UmVm", "UmVm\nZXJy", "AAAA" * 1000],
                     ["UmV", "Um!m", "AAAA  " * 2000 + "!"]),
    "markdown": ("CarePlan", ["note", 0, "text"], "CarePlan.note[0].text",
                 ["**Reviewed** with Jane\n\n- goals"], ["", 3]),
    "xhtml": ("Patient", ["text", "div"], "Patient.text.div",
              ['<div xmlns="http://www.w3.org/1999/xhtml">ok</div>'], ["plain text", ""]),
}


def _cases(valid: bool) -> list:
    return [pytest.param(type_, value, id=f"{type_}-{value!r}"[:60])
            for type_, case in CASES.items() for value in case[3 if valid else 4]]


@pytest.mark.parametrize(("type_", "value"), _cases(valid=True))
def test_valid_primitive_values(validator: Validator, type_: str, value: object) -> None:
    name, path, _, _, _ = CASES[type_]
    resource = base_example(name)
    _set(path)(resource, value)
    assert validator.validate(resource) == []


@pytest.mark.parametrize(("type_", "value"), _cases(valid=False))
def test_invalid_primitive_values(validator: Validator, type_: str, value: object) -> None:
    name, path, expression, _, _ = CASES[type_]
    resource = base_example(name)
    _set(path)(resource, value)
    issues = validator.validate(resource)
    code = "structure" if isinstance(value, list | dict) else "value"
    assert located(issues) == {(code, expression)}, issues


def test_instant_without_timezone_says_so(validator: Validator) -> None:
    provenance = base_example("Provenance")
    provenance["recorded"] = "2024-01-28T09:01:12"
    (issue,) = validator.validate(provenance)
    assert (issue.code, issue.expression) == ("value", "Provenance.recorded")
    assert "timezone" in issue.diagnostics


def test_json_type_mismatch_is_named(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["active"] = "true"
    (issue,) = validator.validate(patient)
    assert issue.diagnostics == "Expected a JSON boolean (true or false) but found a string"


def test_primitive_extension_sibling_is_validated_as_element(validator: Validator) -> None:
    patient = base_example("Patient")
    patient["_gender"] = {"id": "g1", "extension": [{"valueString": "no url"}]}
    patient["_active"] = "not an object"
    assert located(validator.validate(patient)) == {
        ("required", "Patient.gender.extension[0].url"), ("structure", "Patient.active")}

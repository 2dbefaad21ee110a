"""HL7's public validator test cases (tests/validation/hl7_cases/): our validator says valid
where HL7's Java validator says valid, and invalid where it reports errors.

Each case we do not agree with is listed in hl7_cases/disagreements.json with why; the list is
checked too (a listed case that starts to agree fails, so the list stays true)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.fhir.errors import FhirError
from gateway.fhir.json_text import loads
from gateway.fhir.validation import Validator

CASES_DIR = Path(__file__).parent / "hl7_cases"
MANIFEST = json.loads((CASES_DIR / "manifest.json").read_text())

# Where we differ from HL7's Java validator, and why (also listed by make bench).
DISAGREEMENTS: dict[str, str] = json.loads(
    (CASES_DIR / "disagreements.json").read_text())["cases"]


def errors_of(text: str, validator: Validator) -> list[str]:
    try:
        resource = loads(text)
    except FhirError as error:
        return [issue["diagnostics"] for issue in error.issues]
    return [i.diagnostics for i in validator.validate(resource)
            if i.severity in ("error", "fatal")]


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda case: case["name"])
def test_we_agree_with_hl7_on_whether_the_content_is_valid(validator: Validator, case: dict
                                                           ) -> None:
    ours = errors_of((CASES_DIR / case["file"]).read_text(), validator)
    agrees = bool(ours) == (case["expected_errors"] > 0)
    if case["name"] in DISAGREEMENTS:
        assert not agrees, f"{case['name']} now agrees: take it off DISAGREEMENTS"
        return
    assert agrees, (f"HL7 expects {case['expected_errors']} errors {case['expected'][:3]}, "
                    f"we found {len(ours)} {ours[:3]}")


def test_the_cases_are_hl7s_and_enough_of_them():
    assert MANIFEST["source"].startswith("https://github.com/FHIR/fhir-test-cases")
    assert len(MANIFEST["cases"]) >= 55
    agreeing = len(MANIFEST["cases"]) - len(DISAGREEMENTS)
    assert agreeing / len(MANIFEST["cases"]) >= 0.95  # issue 13

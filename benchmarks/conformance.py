"""How far the validator agrees with HL7's own: the R4 cases of HL7's public validator test
suite kept in tests/validation/hl7_cases/ (see its README), each validated here and compared
with the errors HL7's Java validator reports for it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gateway.fhir.errors import FhirError
from gateway.fhir.json_text import loads
from gateway.fhir.validation import Validator

CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "validation" / "hl7_cases"
TARGET = 0.95  # issue 13: at least 95% agreement


@dataclass
class Conformance:
    source: str
    cases: int
    same_verdict: int  # both say valid, or both say invalid
    same_count: int  # and the same number of errors
    # (case, HL7's error count, ours, HL7's first error, why we differ)
    disagreements: list[tuple[str, int, int, str, str]] = field(default_factory=list)

    @property
    def verdict_share(self) -> float:
        return self.same_verdict / self.cases if self.cases else 0.0


def measure(validator: Validator) -> Conformance:
    manifest = json.loads((CASES_DIR / "manifest.json").read_text())
    reasons = json.loads((CASES_DIR / "disagreements.json").read_text())["cases"]
    result = Conformance(manifest["source"], len(manifest["cases"]), 0, 0)
    for case in manifest["cases"]:
        try:
            found = [i.diagnostics for i in validator.validate(
                loads((CASES_DIR / case["file"]).read_text()))
                     if i.severity in ("error", "fatal")]
        except FhirError as error:
            found = [issue["diagnostics"] for issue in error.issues]
        expected = case["expected_errors"]
        result.same_count += len(found) == expected
        if bool(found) == (expected > 0):
            result.same_verdict += 1
        else:
            hl7 = case["expected"][0] if case["expected"] else "valid"
            result.disagreements.append((case["name"], expected, len(found), hl7,
                                         reasons.get(case["name"], "not explained")))
    return result


def render(result: Conformance | None) -> str:
    if result is None:
        return "Not measured in this run.\n"
    rows = "\n".join(f"| {name} | {expected} | {ours} | {hl7[:120]} | {why} |"
                     for name, expected, ours, hl7, why in result.disagreements)
    verdict = "**PASS**" if result.verdict_share >= TARGET else "**MISS**"
    return (f"{result.cases} R4 JSON cases from {result.source}, those that need no IG "
            f"package, profile, terminology server or option of the Java validator. Same "
            f"verdict (valid, or invalid) as HL7's Java validator: {result.same_verdict} of "
            f"{result.cases} "
            f"({result.verdict_share:.0%}; target {TARGET:.0%}: {verdict}); the same number of "
            f"errors: {result.same_count} of {result.cases}. Where we differ, and why "
            f"(tests/validation/hl7_cases/disagreements.json):\n\n"
            "| case | HL7's errors | ours | HL7's first error | why |\n"
            "| --- | --- | --- | --- | --- |\n"
            f"{rows}\n")


if __name__ == "__main__":  # python -m benchmarks.conformance: this section alone
    from gateway.config import Config

    print(render(measure(Validator(Config().profiles_dir))))

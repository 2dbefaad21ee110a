"""ValidationIssue, has_errors and the OperationOutcome they become."""
from __future__ import annotations

from gateway.fhir.validation import (
    ValidationIssue,
    Validator,
    has_errors,
    outcome_from_issues,
)

from .helpers import base_example

ERROR = ValidationIssue("error", "required", "CarePlan.subject is required",
                        "CarePlan.subject")
WARNING = ValidationIssue("warning", "not-supported", "Unknown profile", "")


def test_issue_as_operation_outcome_issue() -> None:
    assert ERROR.to_issue() == {"severity": "error", "code": "required",
                                "diagnostics": "CarePlan.subject is required",
                                "expression": ["CarePlan.subject"]}
    assert "expression" not in WARNING.to_issue()


def test_has_errors() -> None:
    assert has_errors([WARNING, ERROR])
    assert has_errors([ValidationIssue("fatal", "exception", "x", "")])
    assert not has_errors([WARNING])
    assert not has_errors([])
    assert Validator.has_errors([ERROR])


def test_outcome_with_no_issues_is_all_ok(validator: Validator) -> None:
    outcome = outcome_from_issues([])
    assert outcome == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": "All OK"}]}
    assert validator.validate(outcome, expected_type="OperationOutcome") == []


def test_outcome_lists_every_issue_and_is_itself_valid(validator: Validator) -> None:
    care_plan = base_example("CarePlan")
    care_plan["status"] = "bogus"
    del care_plan["subject"]
    care_plan["meta"] = {"profile": ["http://example.org/StructureDefinition/other"]}
    issues = validator.validate(care_plan)
    outcome = outcome_from_issues(issues)
    assert [i["expression"] for i in outcome["issue"]] == [
        ["CarePlan.status"], ["CarePlan.subject"], ["CarePlan.meta.profile[0]"]]
    assert validator.validate(outcome) == []

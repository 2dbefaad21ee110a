"""Validation issues and their OperationOutcome form."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ERROR_SEVERITIES = frozenset({"fatal", "error"})


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem found in a resource, located by a FHIRPath expression."""

    severity: str  # "fatal" | "error" | "warning" | "information"
    code: str  # FHIR IssueType code, e.g. "structure", "required", "value", "code-invalid"
    diagnostics: str  # one human sentence
    expression: str  # FHIRPath location, e.g. "CarePlan.activity[0].detail.status"; "" if none

    def to_issue(self) -> dict:
        """This issue as an ``OperationOutcome.issue`` dict."""
        issue: dict = {"severity": self.severity, "code": self.code,
                       "diagnostics": self.diagnostics}
        if self.expression:  # OperationOutcome forbids empty strings, so omit a missing location
            issue["expression"] = [self.expression]
        return issue


def has_errors(issues: Iterable[ValidationIssue]) -> bool:
    """Whether any issue is an error or fatal, i.e. the resource must be rejected."""
    return any(issue.severity in ERROR_SEVERITIES for issue in issues)


def outcome_from_issues(issues: Sequence[ValidationIssue]) -> dict:
    """An OperationOutcome listing the issues; one information issue "All OK" if there are none."""
    if not issues:
        return {"resourceType": "OperationOutcome",
                "issue": [{"severity": "information", "code": "informational",
                           "diagnostics": "All OK"}]}
    return {"resourceType": "OperationOutcome", "issue": [issue.to_issue() for issue in issues]}

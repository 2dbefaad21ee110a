"""FHIR R4 validation: base specification and the gateway's own profiles.

    validator = Validator()
    issues = validator.validate(resource, expected_type="CarePlan")
    if has_errors(issues):
        return outcome_from_issues(issues), 422
"""
from .issues import ValidationIssue, has_errors, outcome_from_issues
from .profiles import ProfileError
from .validator import Validator

__all__ = ["ProfileError", "ValidationIssue", "Validator", "has_errors", "outcome_from_issues"]

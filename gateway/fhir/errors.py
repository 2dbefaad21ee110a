"""FHIR errors as values: every failure leaves the server as an OperationOutcome."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def outcome(issues: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def issue(severity: str, code: str, diagnostics: str,
          expression: str | Sequence[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        entry["expression"] = [expression] if isinstance(expression, str) else list(expression)
    return entry


class FhirError(Exception):
    """An error the client caused or must be told about, with its HTTP status."""

    def __init__(self, status: int, code: str, diagnostics: str,
                 expression: str | Sequence[str] | None = None, *,
                 issues: Sequence[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.issues = list(issues) if issues else [issue("error", code, diagnostics, expression)]
        self.headers = headers or {}

    @property
    def outcome(self) -> dict[str, Any]:
        return outcome(self.issues)


def not_found(resource_type: str, resource_id: str) -> FhirError:
    return FhirError(404, "not-found", f"{resource_type}/{resource_id} is not known")


def bad_request(diagnostics: str, expression: str | None = None, code: str = "invalid"
                ) -> FhirError:
    return FhirError(400, code, diagnostics, expression)

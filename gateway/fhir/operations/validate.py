"""``$validate`` (http://hl7.org/fhir/OperationDefinition/Resource-validate).

The body is the resource itself or a Parameters with ``resource`` (and optionally ``mode`` and
``profile``). The answer is 200 with an OperationOutcome whether or not the content is valid;
only a request that cannot be evaluated at all is an error.
"""
from __future__ import annotations

from typing import Any

from gateway.fhir.errors import FhirError
from gateway.fhir.operations import Operation, OperationCall, OperationResult
from gateway.fhir.validation import ValidationIssue, Validator, outcome_from_issues
from gateway.fhir.validation.model import base_model

MODES = ("create", "update", "delete")


def validate(validator: Validator) -> Operation:
    """``$validate`` on every R4 resource type (stored here or not) and instance, answered by
    ``validator``."""

    def run(call: OperationCall) -> OperationResult:
        return OperationResult(validate_operation(validator, call.resource_type or "", call.body,
                                                  call.query.get("profile"), call.resource_id))

    return Operation("validate", run, resource_types=frozenset(base_model().resources),
                     instance=True,
                     permission="r",
                     definition="http://hl7.org/fhir/OperationDefinition/Resource-validate")


def validate_operation(validator: Validator, resource_type: str, body: Any,
                       profile: str | None, resource_id: str | None) -> dict[str, Any]:
    resource, mode, profile = _arguments(body, profile)
    if mode == "delete":
        return outcome_from_issues([])
    issues = validator.validate(resource, expected_type=resource_type,
                                profiles=[profile] if profile else ())
    if mode == "update" and isinstance(resource, dict) and resource_id and \
            resource.get("id") != resource_id:
        issues.append(ValidationIssue("error", "invalid",
                                      f"the resource's id must be {resource_id!r} for an update",
                                      f"{resource_type}.id"))
    return outcome_from_issues(issues)


def _arguments(body: Any, profile: str | None) -> tuple[Any, str | None, str | None]:
    if not (isinstance(body, dict) and body.get("resourceType") == "Parameters"):
        return body, None, profile
    resource: Any = None
    mode = None
    for index, parameter in enumerate(body.get("parameter") or []):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name == "resource":
            resource = parameter.get("resource")
        elif name == "mode":
            mode = parameter.get("valueCode")
            if mode not in MODES:
                raise FhirError(400, "invalid", f"mode must be one of {', '.join(MODES)}",
                                f"Parameters.parameter[{index}].valueCode")
        elif name == "profile":
            profile = parameter.get("valueUri") or parameter.get("valueCanonical") or profile
    if resource is None and mode != "delete":
        raise FhirError(400, "required", "Parameters must carry a 'resource' parameter",
                        "Parameters.parameter")
    return resource, mode, profile

"""In-process validation rate: the gateway's ``Validator`` vs fhir.resources on the same dicts."""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.fhir.validation import Validator, has_errors


@dataclass(frozen=True)
class Rate:
    name: str
    calls: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def microseconds(self) -> float:
        return self.seconds / self.calls * 1e6


def reference_validator() -> tuple[str, Callable[[dict[str, Any]], Any]]:
    """fhir.resources' R4B CareTeam model: ``model_validate`` (pydantic 2 releases), else
    ``parse_obj`` (the same validation in the pydantic-1 releases, e.g. fhir.resources 7.1)."""
    from fhir.resources.R4B.careteam import CareTeam

    if hasattr(CareTeam, "model_validate"):
        return "CareTeam.model_validate", CareTeam.model_validate
    return "CareTeam.parse_obj", CareTeam.parse_obj


def timed_rate(name: str, function: Callable[[dict[str, Any]], Any],
               resources: list[dict[str, Any]], seconds: float) -> Rate:
    """Call ``function`` on the resources round-robin for about ``seconds``."""
    for resource in resources[:50]:  # warm caches
        function(resource)
    calls, began = 0, time.perf_counter()
    deadline = began + seconds
    while True:
        for resource in resources:
            function(resource)
        calls += len(resources)
        if time.perf_counter() >= deadline:
            break
    return Rate(name, calls, time.perf_counter() - began)


def compare(validator: Validator, resources: list[dict[str, Any]], seconds: float
            ) -> tuple[Rate, Rate]:
    """(gateway Validator rate, fhir.resources rate), after checking both accept every dict."""
    resources = copy.deepcopy(resources)
    reference_name, reference = reference_validator()
    for resource in resources:
        issues = validator.validate(resource, expected_type="CareTeam")
        if has_errors(issues):
            raise ValueError(f"generated CareTeam rejected by the Validator: {issues[:3]}")
        reference(resource)
    ours = timed_rate("Validator.validate",
                      lambda r: validator.validate(r, expected_type="CareTeam"),
                      resources, seconds)
    theirs = timed_rate(reference_name, reference, resources, seconds)
    return ours, theirs

"""Check a resource instance against one compiled profile."""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from decimal import Decimal

from gateway.fhir import json_text

from .issues import ValidationIssue
from .model import ElementDef, Kind, Model, Prop
from .primitives import show
from .profiles import Profile, Rule
from .references import reference_target
from .terminology import Expansion, code_problem, codeable_concept_problem, coding_problem

log = logging.getLogger(__name__)

Instance = tuple[object, str, Prop]  # (value or None for extension-only primitives, expr, prop)


def check_profile(profile: Profile, resource: dict, expression: str,
                  model: Model) -> list[ValidationIssue]:
    """Every way ``resource`` (located at ``expression``) fails ``profile``."""
    checker = _ProfileChecker(profile, resource, model)
    for rule in profile.rules:
        checker.rule(rule, expression)
    return checker.issues


def json_equal(value: object, fixed: object) -> bool:
    """JSON equality: booleans are not numbers, 1 equals 1.0, objects ignore key order."""
    if isinstance(fixed, bool) or isinstance(value, bool):
        return type(value) is type(fixed) and value == fixed
    if isinstance(fixed, dict):
        return isinstance(value, dict) and value.keys() == fixed.keys() and all(
            json_equal(value[key], fixed[key]) for key in fixed)
    if isinstance(fixed, list):
        return isinstance(value, list) and len(value) == len(fixed) and all(
            json_equal(v, f) for v, f in zip(value, fixed, strict=True))
    if isinstance(fixed, int | float | Decimal):
        return isinstance(value, int | float | Decimal) and value == fixed
    return type(value) is type(fixed) and value == fixed


def matches_pattern(value: object, pattern: object) -> bool:
    """FHIR pattern[x]: ``value`` has everything in ``pattern``; a pattern array's items must
    each match some item of the value's array."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches_pattern(value[key], part) for key, part in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(matches_pattern(item, part) for item in value) for part in pattern)
    return json_equal(value, pattern)


def _instances(obj: Mapping, element: ElementDef, expression: str) -> Iterator[Instance]:
    # Structural errors were already reported by the base walk; here odd shapes are skipped.
    for prop in element.variants:
        name = prop.json_name
        value = obj.get(name)
        if value is None:
            if prop.kind is Kind.PRIMITIVE and obj.get("_" + name) is not None:
                yield None, f"{expression}.{name}", prop  # present with extensions only
            continue
        if isinstance(value, list):
            if element.repeats:
                for index, item in enumerate(value):
                    if item is not None:
                        yield item, f"{expression}.{name}[{index}]", prop
        elif not element.repeats:
            yield value, f"{expression}.{name}", prop


class _ProfileChecker:
    """Collects the issues of one resource against one profile."""

    def __init__(self, profile: Profile, resource: dict, model: Model) -> None:
        self.profile = profile
        self.resource = resource
        self.model = model
        self.issues: list[ValidationIssue] = []

    def _issue(self, code: str, diagnostics: str, expression: str,
               severity: str = "error") -> None:
        self.issues.append(ValidationIssue(
            severity, code, f"{diagnostics} (profile {self.profile.url})", expression))

    def rule(self, rule: Rule, expression: str) -> None:
        if not rule.steps:
            self._invariants(rule, self.resource, expression)
            return
        parents: list[tuple[Mapping, str]] = [(self.resource, expression)]
        for step in rule.steps[:-1]:
            parents = [(value, expr) for obj, parent_expr in parents
                       for value, expr, _ in _instances(obj, step, parent_expr)
                       if isinstance(value, dict)]
        last = rule.steps[-1]
        for obj, parent_expr in parents:
            found = list(_instances(obj, last, parent_expr))
            self._cardinality(rule, last, found, f"{parent_expr}.{last.base_name}")
            for value, expr, prop in found:
                self._instance(rule, value, expr, prop)
            if rule.pattern is not None and found and last.repeats:
                key, pattern = rule.pattern
                if not any(matches_pattern(value, pattern) for value, _, _ in found):
                    self._issue("value", f"No {last.path} matches the required {key} "
                                f"{_brief(pattern)}", f"{parent_expr}.{last.base_name}")

    def _cardinality(self, rule: Rule, element: ElementDef, found: list[Instance],
                     expression: str) -> None:
        if rule.min is not None and len(found) < rule.min:
            self._issue("required", f"{element.path} requires at least {rule.min} "
                        f"(found {len(found)})", expression)
        if rule.max is not None and len(found) > rule.max:
            self._issue("structure", f"{element.path} allows at most {rule.max} "
                        f"(found {len(found)})", expression)

    def _instance(self, rule: Rule, value: object, expression: str, prop: Prop) -> None:
        if rule.types is not None and prop.type_code not in rule.types:
            self._issue("structure", f"{prop.type_code} is not an allowed type for "
                        f"{prop.element.path} (allowed: {', '.join(sorted(rule.types))})",
                        expression)
        if value is None:
            return
        if rule.targets is not None and prop.type_code == "Reference" \
                and isinstance(value, dict):
            self._target(rule, value, expression)
        if rule.fixed is not None:
            key, fixed = rule.fixed
            if not json_equal(value, fixed):
                self._issue("value", f"{prop.element.path} must be exactly {_brief(fixed)} "
                            f"({key}), not {_brief(value)}", expression)
        if rule.pattern is not None and not prop.element.repeats:
            key, pattern = rule.pattern
            if not matches_pattern(value, pattern):
                self._issue("value", f"{prop.element.path} does not match the required {key} "
                            f"{_brief(pattern)}", expression)
        if rule.binding is not None:
            self._binding(rule.binding, value, prop, expression)
        self._invariants(rule, value, expression)

    def _target(self, rule: Rule, value: Mapping, expression: str) -> None:
        reference = value.get("reference")
        target = None
        if isinstance(reference, str) and reference.startswith("#"):
            target = _contained_type(self.resource, reference[1:])
        elif isinstance(reference, str):
            target, _ = reference_target(reference, self.model.all_resource_types)
        if target is None and isinstance(value.get("type"), str):
            target = value["type"]
        if target is not None and target not in rule.targets:  # type: ignore[operator]
            self._issue("structure", f"{rule.path} may not refer to a {target} (allowed: "
                        f"{', '.join(sorted(rule.targets))})", expression)  # type: ignore[arg-type]

    def _binding(self, expansion: Expansion, value: object, prop: Prop,
                 expression: str) -> None:
        problem = None
        if prop.type_code == "Coding" and isinstance(value, dict):
            problem = coding_problem(value, expansion)
        elif prop.type_code == "CodeableConcept" and isinstance(value, dict):
            problem = codeable_concept_problem(value, expansion)
        elif isinstance(value, str):
            problem = code_problem(value, expansion)
        if problem is not None:
            self._issue("code-invalid", problem, expression)

    def _invariants(self, rule: Rule, value: object, expression: str) -> None:
        for invariant in rule.invariants:
            try:
                holds = invariant.holds(value, self.resource, rule.path)
            except Exception as exc:  # fhirpathpy raises bare Exceptions on unsupported input
                log.warning("invariant %s of %s failed to evaluate at %s: %r", invariant.key,
                            self.profile.url, expression, exc)
                self._issue("exception", f"{invariant.key}: could not be evaluated "
                            f"({type(exc).__name__})", expression, severity="warning")
                continue
            if not holds:
                self._issue("invariant", f"{invariant.key}: {invariant.human}", expression,
                            severity=invariant.severity)


def _contained_type(resource: Mapping, id_: str) -> str | None:
    contained = resource.get("contained")
    for item in contained if isinstance(contained, list) else ():
        if isinstance(item, dict) and item.get("id") == id_:
            resource_type = item.get("resourceType")
            return resource_type if isinstance(resource_type, str) else None
    return None


def _brief(value: object) -> str:
    try:
        return show(json_text.dumps(value, sort_keys=True), 120)
    except (TypeError, ValueError, RecursionError):
        return show(value, 120)

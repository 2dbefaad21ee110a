"""Helpers for the validation tests."""
from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from gateway.fhir.validation import ValidationIssue

EXAMPLES_DIR = Path(__file__).parent / "examples"
PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
PROFILE_BASE = "http://fhir-care-gateway.example/fhir/StructureDefinition/"


@cache
def _load(name: str) -> dict:
    return json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def example(name: str) -> dict:
    """A fresh, freely mutable copy of ``examples/<name>.json``."""
    return copy.deepcopy(_load(name))


def base_example(name: str) -> dict:
    """An example without meta.profile, to test base R4 rules alone."""
    resource = example(name)
    resource.get("meta", {}).pop("profile", None)
    if resource.get("meta") == {}:
        del resource["meta"]
    return resource


def example_names() -> list[str]:
    """The resource types that have an example file."""
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.json"))


def errors(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """The issues that make a resource invalid."""
    return [issue for issue in issues if issue.severity in ("error", "fatal")]


def located(issues: list[ValidationIssue]) -> set[tuple[str, str]]:
    """(code, expression) of each error, for exact assertions independent of wording."""
    return {(issue.code, issue.expression) for issue in errors(issues)}


def only(issues: list[ValidationIssue]) -> ValidationIssue:
    """The single issue; fails listing all of them otherwise."""
    assert len(issues) == 1, issues
    return issues[0]

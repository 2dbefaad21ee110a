"""validate() never raises: whatever JSON arrives, it answers with issues."""
from __future__ import annotations

import copy
import random

import pytest

from gateway.fhir.validation import ValidationIssue, Validator

from .helpers import example, example_names

GARBAGE: list[object] = [None, [], {}, "", " ", "x", 0, -1, 1.5, True, [None], [[]], [{}],
                         {"": None}, {"resourceType": "Patient"}, {"_": [1]}, "\u0000", 2 ** 80]


def _crashed(issues: list[ValidationIssue]) -> bool:
    # A fatal "exception" issue comes only from the last-resort handler, i.e. a validator bug.
    return any(issue.severity == "fatal" and issue.code == "exception" for issue in issues)


def _paths(value: object, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _mutate(resource: dict, rng: random.Random) -> dict:
    mutated = copy.deepcopy(resource)
    for _ in range(rng.randint(1, 4)):
        path = rng.choice(_paths(mutated)[1:])
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = copy.deepcopy(rng.choice(GARBAGE))
    return mutated


@pytest.mark.parametrize("name", example_names())
def test_mutated_examples_never_raise(validator: Validator, name: str) -> None:
    rng = random.Random(name)
    for _ in range(40):
        issues = validator.validate(_mutate(example(name), rng))
        assert all(isinstance(issue, ValidationIssue) for issue in issues)
        assert not _crashed(issues), issues


@pytest.mark.parametrize("value", GARBAGE + [{"resourceType": None}, {"resourceType": []}])
def test_garbage_input_never_raises(validator: Validator, value: object) -> None:
    issues = validator.validate(value, expected_type="Patient", profiles=["x", 5])  # type: ignore[list-item]
    assert issues and not _crashed(issues)


def test_profile_argument_may_be_a_single_string(validator: Validator) -> None:
    issues = validator.validate(example("Patient"), profiles="http://example.org/nope")
    assert [issue.expression for issue in issues] == ["Patient"]

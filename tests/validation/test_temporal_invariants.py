"""Invariants that compare dates and times compare points in time, not their text
(FHIRPath §6.1-6.2: seconds and milliseconds are one precision, time zones are honoured)."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

from .helpers import located


def task(authored_on: str, last_modified: str) -> dict:
    return {"resourceType": "Task", "status": "requested", "intent": "order",
            "authoredOn": authored_on, "lastModified": last_modified}


@pytest.mark.parametrize(("authored_on", "last_modified", "holds"), [
    # The flaky console case: the same second, one written with milliseconds.
    ("2026-12-07T18:25:29Z", "2026-12-07T18:25:29.900Z", True),
    ("2026-12-07T18:25:29.900Z", "2026-12-07T18:25:29Z", False),
    ("2026-12-07T18:25:29Z", "2026-12-07T18:25:29.000Z", True),
    # Other offsets: 10:00+02:00 is 08:00Z.
    ("2026-12-07T10:00:00+02:00", "2026-12-07T08:30:00Z", True),
    ("2026-12-07T08:30:00Z", "2026-12-07T10:00:00+02:00", False),
    ("2026-12-07T09:00:00Z", "2026-12-07T09:00:00Z", True),
])
def test_task_inv_1_compares_instants(validator: Validator, authored_on: str,
                                      last_modified: str, holds: bool) -> None:
    problems = located(validator.validate(task(authored_on, last_modified)))
    assert problems == (set() if holds else {("invariant", "Task")})


@pytest.mark.parametrize(("start", "end", "holds"), [
    ("2026-12-07T10:00:00Z", "2026-12-07T10:00:00.5Z", True),
    ("2026-12-07T10:00:00.5Z", "2026-12-07T10:00:00Z", False),
    ("2026-12-07T10:00:00+05:00", "2026-12-07T06:00:00Z", True),
    ("2026-12-07T10:00:00Z", "2026-12-07T06:00:00Z", False),
    ("2026-12-07", "2026-12-08", True),
    ("2026-12-08", "2026-12-07", False),
])
def test_period_per_1_compares_instants(validator: Validator, start: str, end: str,
                                        holds: bool) -> None:
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "IMP"},
                 "period": {"start": start, "end": end}}
    problems = located(validator.validate(encounter))
    assert problems == (set() if holds else {("invariant", "Encounter.period")})


def test_a_value_the_engine_cannot_compare_does_not_switch_the_rule_off(
        validator: Validator) -> None:
    garbage = task("2026-12-07T18:25:29Z", 0)  # type: ignore[arg-type]
    issues = validator.validate(garbage)
    assert located(issues) == {("value", "Task.lastModified")}
    assert [issue.severity for issue in issues
            if issue.code == "invariant" and issue.diagnostics.startswith("inv-1")] == ["warning"]
    # The next Task is still held to inv-1.
    later = task("2026-12-07T18:25:30Z", "2026-12-07T18:25:29Z")
    assert located(validator.validate(later)) == {("invariant", "Task")}


@pytest.mark.parametrize(("left", "right", "order"), [
    ("2026-12-07", "2026-12-08", -1),
    ("2026-12", "2026-12-07", None),          # equal as far as both go: unknown
    ("2026-11", "2026-12-07", -1),            # differs before the shorter one ends
    ("2026-12-07T10:00:00Z", "2026-12-07", None),
    ("2026-12-07T18:25:29Z", "2026-12-07T18:25:29.000Z", 0),
    ("2026-12-07T18:25:29.9Z", "2026-12-07T18:25:29.900Z", 0),
    ("2026-12-07T18:25:29Z", "2026-12-07T18:25:29.1Z", -1),
    ("2026-12-07T01:00:00+02:00", "2026-12-06T23:00:00Z", 0),   # across midnight in UTC
    ("2026-12-07T00:30:00-05:00", "2026-12-07T05:00:00Z", 1),
    ("10:00:00", "09:59:59.999", 1),
    ("10:00", "10:00:00", None),
    ("10:00:00", "2026-12-07", None),          # a time of day is no date
])
def test_temporal_comparison_follows_fhirpath(left: str, right: str, order: int | None) -> None:
    from gateway.fhir.validation.temporal import compare, moment

    first, second = moment(left), moment(right)
    assert first is not None and second is not None
    assert compare(first, second) == order
    flipped = compare(second, first)
    assert flipped == (None if order is None else -order)


def test_a_comparison_the_engine_cannot_type_is_left_to_it() -> None:
    # Two strings that are not dates compare as strings, as FHIRPath says.
    from gateway.fhir.validation.fhirpath import compile_invariant

    invariant = compile_invariant({"key": "x-1", "severity": "error", "human": "x",
                                   "expression": "name.family < name.given.first()"})
    patient = {"resourceType": "Patient", "name": [{"family": "Abel", "given": ["Zoe"]}]}
    assert invariant.holds(patient, patient, "Patient") is True

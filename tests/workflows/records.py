"""Local records for the workflow tests; every builder checks its record against the schema."""
from __future__ import annotations

from typing import Any

from gateway.local.schemas import record_problems

UPDATED = "2024-01-01T00:00:00Z"


def _valid(record: dict[str, Any]) -> dict[str, Any]:
    problems = record_problems(record)
    assert problems == [], problems
    return record


def consumer(id_: str = "C-1", *, application_date: str | None = "2024-01-01",
             **extra: Any) -> dict[str, Any]:
    record = {"type": "consumer", "id": id_, "updated_at": UPDATED,
              "name": {"family": "Rivera", "given": ["Ana"]}, "birth_date": "1990-05-05",
              "identifiers": {"agency_number": f"A-{id_}"}, **extra}
    if application_date is not None:
        record["application_date"] = application_date
    return _valid(record)


def assessment(id_: str, kind: str, completed_on: str | None, *, consumer: str = "C-1",
               status: str = "completed", **extra: Any) -> dict[str, Any]:
    record = {"type": "assessment", "id": id_, "updated_at": UPDATED, "consumer": consumer,
              "kind": kind, "status": status, **extra}
    if completed_on is not None:
        record["completed_on"] = completed_on
    return _valid(record)


def initial(id_: str, completed_on: str | None, **extra: Any) -> dict[str, Any]:
    return assessment(id_, "initial-comprehensive", completed_on, **extra)


def annual(id_: str, completed_on: str | None, **extra: Any) -> dict[str, Any]:
    return assessment(id_, "annual-reassessment", completed_on, **extra)


def review(id_: str, completed_on: str | None, **extra: Any) -> dict[str, Any]:
    return assessment(id_, "periodic-review", completed_on, **extra)


def plan(id_: str = "P-1", *, start: str = "2024-03-01", months: int | None = 3,
         status: str = "active", consumer: str = "C-1", **extra: Any) -> dict[str, Any]:
    record = {"type": "plan", "id": id_, "updated_at": UPDATED, "consumer": consumer,
              "status": status, "period": {"start": start}, "author": "S-1", **extra}
    if months is not None:
        record["review_frequency_months"] = months
    return _valid(record)


def assignment(id_: str, staff: str, *, role: str = "case-manager", start: str = "2024-01-01",
               consumer: str = "C-1", **extra: Any) -> dict[str, Any]:
    return _valid({"type": "assignment", "id": id_, "updated_at": UPDATED,
                   "consumer": consumer, "role": role, "member": {"staff": staff},
                   "start": start, **extra})

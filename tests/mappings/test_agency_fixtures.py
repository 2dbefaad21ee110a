"""Map every record in fixtures/agency/ and validate every resource that comes out.

JSON and NDJSON files are read here; the CSV files (the flat record types) through the file
adapter, which knows their column convention. Assessments have no FHIR mapping yet; they are
still checked against their schema.
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from gateway.config import PROJECT_ROOT
from gateway.fhir.validation import Validator
from gateway.local.schemas import record_problems
from gateway.mappings import (
    MappingContext,
    Terminology,
    care_plan_from_plan,
    care_team_from_assignments,
    consent_from_record,
    organization_from_record,
    patient_from_consumer,
    practitioner_from_staff,
    referral_from_record,
)

from .helpers import assert_valid

FIXTURES = PROJECT_ROOT / "fixtures" / "agency"
MAPPED = {"organization", "staff", "consumer", "assignment", "plan", "consent", "referral"}


def _json_records(path: Path) -> list[dict]:
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, list) else [data]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _records() -> list[dict]:
    records = [record for path in sorted(FIXTURES.glob("*.json"))
               + sorted(FIXTURES.glob("*.ndjson")) for record in _json_records(path)]
    if any(FIXTURES.glob("*.csv")):
        local_files = pytest.importorskip("gateway.adapters.local_files")
        for item in local_files.iter_records(sorted(FIXTURES.glob("*.csv"))):
            assert item.error is None, (item.source, item.error)
            records.append(item.record)
    return records


def _map(records: list[dict], terminology: Terminology) -> tuple[list[dict], set[str]]:
    """All resources, and the ``type/id`` of every record that produced some."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_type[record["type"]].append(record)
    agency = next(o["id"] for o in by_type["organization"] if o["kind"] == "agency")
    ctx = MappingContext(terminology, agency_organization=agency)
    today = date.fromisoformat(max(r["updated_at"][:10] for r in records))
    out: list[dict] = []
    mapped: set[str] = set()
    single = {"organization": organization_from_record, "staff": practitioner_from_staff,
              "consumer": patient_from_consumer, "plan": care_plan_from_plan,
              "referral": referral_from_record}
    for kind, mapping in single.items():
        for record in by_type[kind]:
            out += mapping(record, ctx)
            mapped.add(f"{kind}/{record['id']}")
    for record in by_type["consent"]:
        out += consent_from_record(record, ctx, today)
        mapped.add(f"consent/{record['id']}")
    assignments: dict[str, list[dict]] = defaultdict(list)
    for record in by_type["assignment"]:
        assignments[record["consumer"]].append(record)
    for consumer_id, items in sorted(assignments.items()):
        out += care_team_from_assignments(consumer_id, items,
                                          _natural_supports(by_type["plan"], consumer_id),
                                          ctx, today=today)
        mapped.update(f"assignment/{a['id']}" for a in items)
    return out, mapped


def _natural_supports(plans: list[dict], consumer_id: str) -> list[dict]:
    """The natural supports of the consumer's newest active plan (else newest plan)."""
    own = sorted((p for p in plans if p["consumer"] == consumer_id),
                 key=lambda p: (p["status"] == "active", p["period"]["start"]))
    return own[-1].get("natural_supports", []) if own else []


@pytest.fixture(scope="module")
def records() -> list[dict]:
    found = _records()
    if not found:
        pytest.skip("fixtures/agency/ has no records yet")
    return found


def test_fixture_records_pass_their_schema(records: list[dict]) -> None:
    problems = {f"{r.get('type')}/{r.get('id')}": record_problems(r) for r in records}
    assert {key: p for key, p in problems.items() if p} == {}


def test_every_fixture_record_maps_and_validates(records: list[dict],
                                                 terminology: Terminology,
                                                 validator: Validator) -> None:
    resources, mapped = _map(records, terminology)
    expected = {f"{r['type']}/{r['id']}" for r in records if r["type"] in MAPPED}
    assert expected - mapped == set()  # nothing skipped
    assert_valid(validator, resources)
    # An outside professional on several teams is emitted by each, always identically.
    seen: dict[str, dict] = {}
    for resource in resources:
        key = f"{resource['resourceType']}/{resource['id']}"
        assert seen.setdefault(key, resource) == resource, key

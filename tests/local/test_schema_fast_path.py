"""The compiled schema check (fastjsonschema) gives jsonschema's verdict, record for record:
on every demo-agency record, and on thousands of broken variants of a few of each type."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.adapters.local_files import iter_records
from gateway.local.schemas import SCHEMA_DIR, _fast_checks, _validators

AGENCY = Path(__file__).resolve().parents[2] / "fixtures" / "agency"
ODD_VALUES = (None, 12345, -1, "", "x", [], {}, True, "1988-13-40", "2026-02-30T10:00:00Z",
              "not-a-date", ["x"], [{}], {"x": 1})


def variants(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield record
    yield {**record, "unexpected": 1}
    for key in record:
        yield {k: v for k, v in record.items() if k != key}
        for value in ODD_VALUES:
            yield {**record, key: value}
        inner = record[key]
        if isinstance(inner, dict):
            for sub in inner:
                yield {**record, key: {k: v for k, v in inner.items() if k != sub}}
                for value in ODD_VALUES[:6]:
                    yield {**record, key: {**inner, sub: value}}
        if isinstance(inner, list) and inner and isinstance(inner[0], dict):
            for sub in inner[0]:
                changed = copy.deepcopy(inner)
                del changed[0][sub]
                yield {**record, key: changed}
                for value in ODD_VALUES[:6]:
                    changed = copy.deepcopy(inner)
                    changed[0][sub] = value
                    yield {**record, key: changed}


def test_the_fast_check_agrees_with_jsonschema_on_fixtures_and_broken_variants():
    fast = _fast_checks(SCHEMA_DIR)
    reference = _validators(SCHEMA_DIR)
    compared, refused, disagreements = 0, 0, []
    per_type: dict[str, int] = {}
    for item in iter_records([AGENCY]):
        record_type = item.record["type"]
        assert fast[record_type](item.record) and reference[record_type].is_valid(item.record)
        per_type[record_type] = per_type.get(record_type, 0) + 1
        if per_type[record_type] > 5:
            continue
        for variant in variants(item.record):
            record_type = variant.get("type") if isinstance(variant.get("type"), str) else None
            if record_type not in fast:
                continue
            expected = reference[record_type].is_valid(variant)
            compared += 1
            refused += not expected
            if fast[record_type](variant) != expected:
                disagreements.append((record_type, variant))
    assert compared > 3_000 and refused > 1_500  # the variants do break records
    assert not disagreements, disagreements[:3]

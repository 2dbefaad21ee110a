"""Every sample record: schema-valid input, FHIR-valid output, deterministic, and the
references between mapped resources resolve to resources the mappings produce."""
from __future__ import annotations

import copy
import json
from datetime import date

from gateway.fhir.validation import Validator
from gateway.local.schemas import record_problems
from gateway.mappings import (
    MappingContext,
    care_plan_from_plan,
    care_team_from_assignments,
    consent_from_record,
    organization_from_record,
    patient_from_consumer,
    practitioner_from_staff,
    referral_from_record,
)

from . import samples
from .helpers import assert_valid

TODAY = date(2024, 5, 2)


def map_all(ctx: MappingContext, records: list[dict] | None = None) -> list[dict]:
    records = samples.all_records() if records is None else records
    out: list[dict] = []
    assignments = [r for r in records if r["type"] == "assignment"]
    plans = [r for r in records if r["type"] == "plan"]
    for record in records:
        kind = record["type"]
        if kind == "organization":
            out += organization_from_record(record, ctx)
        elif kind == "staff":
            out += practitioner_from_staff(record, ctx)
        elif kind == "consumer":
            out += patient_from_consumer(record, ctx)
            supports = [s for p in plans if p["consumer"] == record["id"]
                        for s in p.get("natural_supports", [])]
            out += care_team_from_assignments(
                record["id"], [a for a in assignments if a["consumer"] == record["id"]],
                supports, ctx, today=TODAY)
        elif kind == "plan":
            out += care_plan_from_plan(record, ctx)
        elif kind == "consent":
            out += consent_from_record(record, ctx, TODAY)
        elif kind == "referral":
            out += referral_from_record(record, ctx)
    return out


def test_samples_are_valid_local_records() -> None:
    for record in samples.all_records():
        assert record_problems(record) == [], record["id"]


def test_every_mapped_resource_validates(ctx: MappingContext, validator: Validator) -> None:
    resources = map_all(ctx)
    assert len(resources) > 40
    assert_valid(validator, resources)


def test_same_records_same_output(ctx: MappingContext) -> None:
    first = json.dumps(map_all(ctx))
    # key order of the input must not matter either
    shuffled = [dict(reversed(list(copy.deepcopy(r).items()))) for r in samples.all_records()]
    assert json.dumps(map_all(ctx, shuffled)) == first
    assert json.dumps(map_all(ctx)) == first


def test_ids_unique_and_references_resolve(ctx: MappingContext) -> None:
    resources = map_all(ctx)
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(keys) == len(set(keys))
    known = set(keys)
    dangling = {ref for ref in _references(resources) if ref not in known}
    assert dangling == set()


def test_every_resource_carries_the_agency_identifier(ctx: MappingContext) -> None:
    for resource in map_all(ctx):
        systems = [i.get("system", "") for i in resource.get("identifier", [])]
        assert any(s.startswith(ctx.identifier_base + "/") for s in systems), resource["id"]


def _references(value: object) -> list[str]:
    found = []
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            found.append(reference)
        for item in value.values():
            found += _references(item)
    elif isinstance(value, list):
        for item in value:
            found += _references(item)
    return found

"""Deterministic ids and agency identifiers."""
from __future__ import annotations

import re

import pytest

from gateway.mappings import MappingContext, fhir_id, identifier_system

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def test_same_record_same_id() -> None:
    assert fhir_id("consumer", "C-1001") == fhir_id("consumer", "C-1001")


def test_id_is_a_valid_fhir_id_and_a_uuid() -> None:
    value = fhir_id("plan", "PLAN-2024")
    assert FHIR_ID.fullmatch(value)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        value)


def test_kind_and_base_separate_ids() -> None:
    assert fhir_id("consumer", "X-1") != fhir_id("staff", "X-1")
    assert fhir_id("consumer", "X-1") != fhir_id("consumer", "X-1",
                                                 "https://other-agency.example/agency-id")


def test_known_value_never_changes() -> None:
    # Ids are stored by partners; a change here would silently fork every resource.
    assert fhir_id("consumer", "C-1001") == "b3849e82-cb1e-55e2-b834-ad74fe0e7d9d"


@pytest.mark.parametrize(("kind", "local_id"), [("", "x"), ("Consumer", "x"), ("consumer", "")])
def test_rejects_bad_input(kind: str, local_id: str) -> None:
    with pytest.raises(ValueError):
        fhir_id(kind, local_id)


def test_identifier_system_and_context_base(ctx: MappingContext) -> None:
    assert identifier_system("consumer") == \
        "https://fhir-care-gateway.example/agency-id/consumer"
    other = MappingContext(ctx.terminology, "ORG-1",
                           identifier_base="https://county.example/ids/")
    assert other.identifier("staff", "S-1") == {"system": "https://county.example/ids/staff",
                                                "value": "S-1"}
    assert other.fhir_id("staff", "S-1") == fhir_id("staff", "S-1",
                                                    "https://county.example/ids/")

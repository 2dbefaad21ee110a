"""Fixtures for the mapping tests: the shipped terminology, a context, one validator."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import MappingContext, Terminology

from .samples import AGENCY


@pytest.fixture(scope="session")
def terminology() -> Terminology:
    return Terminology.load()


@pytest.fixture(scope="session")
def ctx(terminology: Terminology) -> MappingContext:
    return MappingContext(terminology, agency_organization=AGENCY,
                          medicaid_system="urn:oid:2.16.840.1.113883.3.999.26")


@pytest.fixture(scope="session")
def validator() -> Validator:
    return Validator()

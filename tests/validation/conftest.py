"""Fixtures for the validation tests: one Validator, compiled once per session."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

from .helpers import PROFILES_DIR


@pytest.fixture(scope="session")
def validator() -> Validator:
    return Validator(PROFILES_DIR)

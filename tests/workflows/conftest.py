"""One Validator over the project's profiles, compiled once per session."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator


@pytest.fixture(scope="session")
def validator() -> Validator:
    return Validator()


from tests.partners.conftest import demo_agency, get_token, partners  # noqa: E402, F401 - fixtures

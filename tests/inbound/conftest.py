"""Inbound fixtures: the demo agency with its partners, and a hospital's access token."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.conftest import clock, make_worker  # noqa: F401 - fixtures
from tests.partners.conftest import demo_agency, get_token, partners  # noqa: F401 - fixtures

# The public Da Vinci example, byte for byte as published (../shared/conformance/ holds the
# original beside the project; tests/inbound/test_conformance_copy.py checks they agree).
PROJECT = Path(__file__).resolve().parents[2]
DAVINCI_EXAMPLE = (PROJECT / "fixtures" / "conformance"
                   / "davinci-discharge-notification-message-bundle-01.json")
HOSPITAL = "hospital-stbrigid"


def davinci_example() -> dict[str, Any]:
    """The public Da Vinci discharge notification example, as published."""
    return json.loads(DAVINCI_EXAMPLE.read_text())


def variant(message_id: str, **changes: Any) -> dict[str, Any]:
    """The example with another MessageHeader id (a new message) and other changes:
    ``patient`` / ``encounter`` dicts are merged into those resources."""
    bundle = copy.deepcopy(davinci_example())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MessageHeader":
            resource["id"] = message_id
        for name in ("patient", "encounter"):
            if resource["resourceType"].lower() == name and name in changes:
                resource.update(changes[name])
    if "event" in changes:
        bundle["entry"][0]["resource"]["eventCoding"]["code"] = changes["event"]
    return bundle


@pytest.fixture
def hospital_headers(get_token) -> dict[str, str]:  # noqa: F811 - the fixture
    response = get_token(HOSPITAL, scope="system/Task.read system/ServiceRequest.read")
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}",
            "Content-Type": "application/fhir+json"}


@pytest.fixture
def referring_hospital(get_token) -> dict[str, str]:  # noqa: F811 - the fixture
    """The hospital's token to create referrals (Task + ServiceRequest) and read Tasks."""
    response = get_token(HOSPITAL, scope="system/Task.c system/ServiceRequest.c "
                                         "system/Task.read")
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}",
            "Content-Type": "application/fhir+json"}

"""The leak matrix's fixtures: the demo partners (shared with tests/partners) and the world."""
from __future__ import annotations

from typing import Any

import pytest

from tests.partners import conftest as partner_fixtures
from tests.partners.conftest import partner_file

from .leak_world import DIRECTORY, OPERATOR, PARTNERS, STATES, consent, consumer_resources

# The demo partners, registered, and their token requests (the partner tests' fixtures).
partners = partner_fixtures.partners
get_token = partner_fixtures.get_token


@pytest.fixture
def world(app, client, partners):
    organizations = [{"resourceType": "Organization", "id": p.organization, "name": p.name}
                     for p in partners.values()]
    everything: list[tuple[str | None, dict[str, Any]]] = [
        (None, r) for r in [*DIRECTORY, *organizations]]
    for state in STATES:
        everything += [(state, r) for r in consumer_resources(state)]
        for partner_id in PARTNERS:
            body = consent(state, f"p-{state}", partner_file(partner_id))
            if body is not None:
                everything.append((state, body))
    # Stored in an order where what is referred to exists first (a local reference must name
    # a stored resource): Goals before the CarePlan that lists them.
    for _, resource in sorted(everything, key=lambda item: item[1]["resourceType"] == "CarePlan"):
        if resource["resourceType"] == "AuditEvent":
            response = client.post("/fhir/AuditEvent", json=resource, headers=OPERATOR)
            resource["id"] = response.get_json()["id"]
        else:
            response = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}",
                                  json=resource, headers=OPERATOR)
        assert response.status_code in (200, 201), response.get_json()
    return everything

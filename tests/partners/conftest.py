"""Partner fixtures: the demo partners of fixtures/partners/, registered in the test database."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.local_files import iter_records
from gateway.demo import register_partners
from gateway.local.pipeline import RecordImporter, organizations_first
from gateway.local.translate import translator_for
from gateway.partners.client import client_assertion, load_private_jwk, token_request
from gateway.partners.registry import Partner, PartnerRegistry

PARTNERS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "partners"
TOKEN_URL = "http://testserver/auth/token"


def partner_file(partner_id: str) -> dict[str, Any]:
    return json.loads((PARTNERS_DIR / f"{partner_id}.json").read_text())


def private_key(partner_id: str) -> dict[str, Any]:
    return load_private_jwk(PARTNERS_DIR / f"{partner_id}.private.jwk.json")


@pytest.fixture
def partners(app) -> dict[str, Partner]:
    """Every demo partner, registered as ``gateway demo`` registers them."""
    state = app.extensions["gateway"]
    register_partners(state, PARTNERS_DIR)
    with state.session_factory() as session:
        return {partner.id: partner for partner in PartnerRegistry(session).all()}


@pytest.fixture
def get_token(client, partners):
    """get_token(partner_id, scope=...) -> the token endpoint's response."""

    def _get(partner_id: str, scope: str = "system/CareTeam.read", **assertion: Any):
        signed = client_assertion(private_key(partner_id), partner_id, TOKEN_URL, **assertion)
        return client.post("/auth/token", data=token_request(signed, scope))

    return _get


@pytest.fixture
def demo_agency(app, config, partners):
    """The demo agency's records imported, with the demo partners registered."""
    state = app.extensions["gateway"]
    agency = [config.fixtures_dir / "agency"]
    outcomes = list(RecordImporter(state, translator_for(config)).run(
        organizations_first(lambda: iter_records(agency))))
    assert all(o.status == "accepted" for o in outcomes)
    return partners

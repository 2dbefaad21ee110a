"""Console fixtures: operators of each role, and a test client signed in as one of them."""
from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.console.operators import OperatorStore
from tests.inbound.conftest import hospital_headers  # noqa: F401 - fixture
from tests.partners.conftest import demo_agency, get_token, partners  # noqa: F401 - fixtures

PASSWORD = "correct horse battery staple"
ROLE_OF = {"ines": "intake", "carl": "case-manager", "petra": "privacy-officer",
           "ada": "admin"}


@pytest.fixture
def operators(app: Flask) -> dict[str, str]:
    """One operator per role (name -> role), all with PASSWORD."""
    with app.extensions["gateway"].session_factory() as session, session.begin():
        store = OperatorStore(session)
        for name, role in ROLE_OF.items():
            store.add(name, role, PASSWORD)
    return ROLE_OF


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD, **extra: str):
    form = client.get("/console/").get_data(as_text=True)
    return client.post("/console/", data={"username": name, "password": password,
                                          "csrf_token": hidden(form, "csrf_token"), **extra})


@pytest.fixture
def signed_in(app: Flask, operators) -> Callable[[str], FlaskClient]:
    """signed_in(name) -> a fresh test client with that operator's session."""

    def _client(name: str) -> FlaskClient:
        client = app.test_client()
        answer = sign_in(client, name)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        return client

    return _client

"""Operators, passwords, sessions: sign-in, CSRF, throttling, the idle limit, roles."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from gateway.console import roles
from gateway.console.operators import OperatorError, OperatorStore, hash_password
from gateway.console.sessions import IDLE_LIMIT, MAX_FAILURES_PER_NAME
from gateway.db.models import OperatorRow, OperatorSessionRow
from tests.console.conftest import PASSWORD, hidden, sign_in


def test_passwords_are_argon2id_hashes_and_verify(app):
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    with app.extensions["gateway"].session_factory() as session, session.begin():
        store = OperatorStore(session)
        store.add("nora", "intake", PASSWORD)
        stored = session.scalars(select(OperatorRow.password_hash)).one()
        assert stored.startswith("$argon2id$") and stored != hashed  # salted
        assert store.authenticate("nora", PASSWORD).role == "intake"
        assert store.authenticate("nora", PASSWORD + "x") is None
        assert store.authenticate("nobody", PASSWORD) is None
        store.disable("nora")
        assert store.authenticate("nora", PASSWORD) is None


def test_short_passwords_bad_names_and_roles_are_refused(app):
    with app.extensions["gateway"].session_factory() as session, session.begin():
        store = OperatorStore(session)
        with pytest.raises(OperatorError, match="at least 12"):
            store.add("nora", "intake", "short")
        with pytest.raises(OperatorError, match="not a role"):
            store.add("nora", "boss", PASSWORD)
        with pytest.raises(OperatorError, match="not a valid operator name"):
            store.add("Nora Smith", "intake", PASSWORD)
        store.add("nora", "intake", PASSWORD)
        with pytest.raises(OperatorError, match="exists already"):
            store.add("nora", "admin", PASSWORD)


def test_sign_in_sets_a_strict_http_only_cookie_and_shows_home(app, operators):
    client = app.test_client()
    form = client.get("/console/")
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "Username" in page and "Password" in page
    assert ">Sign in</button>" in page
    answer = sign_in(client, "carl")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/console/home")
    cookie = next(c for c in answer.headers.getlist("Set-Cookie")
                  if c.startswith("gateway_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    home = client.get("/console/home")
    assert home.status_code == 200 and "What needs attention" in home.get_data(as_text=True)


def test_the_cookie_is_secure_when_the_base_url_is_https(config, operators, app):
    app.extensions["gateway"].config = config.with_overrides(base_url="https://gw.example")
    answer = sign_in(app.test_client(), "carl")
    cookie = next(c for c in answer.headers.getlist("Set-Cookie")
                  if c.startswith("gateway_console="))
    assert "Secure" in cookie


def test_a_wrong_password_is_refused_with_a_message(app, operators):
    answer = sign_in(app.test_client(), "carl", "wrong password here")
    assert answer.status_code == 401
    assert "do not match an active operator" in answer.get_data(as_text=True)


def test_sign_in_is_throttled_after_repeated_failures(app, operators):
    client = app.test_client()
    for _ in range(MAX_FAILURES_PER_NAME):
        assert sign_in(client, "carl", "wrong password here").status_code == 401
    refused = sign_in(client, "carl")  # the right password, too late
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert sign_in(app.test_client(), "ada").status_code == 303  # others are not locked out


def test_a_forged_sign_in_token_is_refused(app, operators):
    client = app.test_client()
    client.get("/console/")
    answer = client.post("/console/", data={"username": "carl", "password": PASSWORD,
                                            "csrf_token": "forged"})
    assert answer.status_code == 400
    assert "did not come from this page" in answer.get_data(as_text=True)


def test_a_form_without_the_session_csrf_token_changes_nothing(signed_in):
    client = signed_in("carl")
    answer = client.post("/console/sign-out", data={"csrf_token": "forged"})
    assert answer.status_code == 403
    assert "could not be verified" in answer.get_data(as_text=True)
    assert client.get("/console/home").status_code == 200  # still signed in
    page = client.get("/console/home").get_data(as_text=True)
    signed_out = client.post("/console/sign-out", data={"csrf_token": hidden(page, "csrf_token")})
    assert signed_out.status_code == 303
    assert client.get("/console/home").status_code == 303


def test_fifteen_idle_minutes_end_the_session(app, signed_in):
    client = signed_in("carl")
    assert client.get("/console/home").status_code == 200
    with app.extensions["gateway"].session_factory() as session, session.begin():
        session.execute(update(OperatorSessionRow).values(
            last_seen_at=datetime.now(UTC) - IDLE_LIMIT - timedelta(seconds=5)))
    answer = client.get("/console/home")
    assert answer.status_code == 303 and "reason=expired" in answer.headers["Location"]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "signed out after 15 minutes without activity" in page
    assert client.get("/console/home").status_code == 303  # the session is gone


def test_disabling_an_operator_ends_their_session(app, signed_in):
    client = signed_in("carl")
    with app.extensions["gateway"].session_factory() as session, session.begin():
        OperatorStore(session).disable("carl")
    assert client.get("/console/home").status_code == 303


def test_roles_allow_their_documented_pages_only(signed_in):
    assert roles.allows("privacy-officer", roles.CONSENTS_VIEW)
    assert not roles.allows("case-manager", roles.CONSENTS_VIEW)
    assert not roles.allows("privacy-officer", roles.REFERRALS_ACT)
    assert not roles.allows("nobody", roles.HOME)
    case_manager = signed_in("carl")
    refused = case_manager.get("/console/consents/problems")
    assert refused.status_code == 403
    assert "does not allow this page" in refused.get_data(as_text=True)
    assert "Consent problems" not in case_manager.get("/console/home").get_data(as_text=True) \
        .split("<main")[0]  # not in the navigation either
    assert signed_in("petra").get("/console/consents/problems").status_code == 200


def test_every_page_view_is_an_audit_event_naming_the_operator(app, signed_in, client, auth):
    signed_in("carl").get("/console/referrals")
    events = client.get("/fhir/AuditEvent?_count=200", headers=auth).get_json()
    notes = [e["resource"].get("outcomeDesc", "") for e in events.get("entry", [])
             if e["resource"]["agent"][0].get("name") == "carl"]
    assert any("console referral inbox" in note for note in notes), notes
    assert any("console sign-in" in note for note in notes), notes

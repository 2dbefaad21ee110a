"""HTTP for partners: SMART discovery and the token endpoint (both public, by design)."""
from __future__ import annotations

from typing import Protocol

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import Config
from gateway.db.engine import begin_write
from gateway.partners.smart import OAuthError, TokenService, smart_configuration

bp = Blueprint("partners", __name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenServices(Protocol):
    """What these endpoints need of the app's state (which sits above partners/)."""

    config: Config
    session_factory: sessionmaker[Session]


def gateway_state() -> TokenServices:
    return current_app.extensions["gateway"]


@bp.get("/fhir/.well-known/smart-configuration")
def smart_discovery() -> Response:
    return jsonify(smart_configuration(gateway_state().config.base_url))


@bp.post("/auth/token")
def token() -> tuple[Response, int, dict[str, str]]:
    """SMART Backend Services: a client assertion in, an access token out (RFC 6749 JSON)."""
    state = gateway_state()
    if request.mimetype != "application/x-www-form-urlencoded":
        error = OAuthError("invalid_request",
                           "the body must be application/x-www-form-urlencoded")
        return jsonify(error.body()), error.status, NO_STORE
    form = {key: request.form.get(key, "") for key in request.form}
    try:
        # A refused request commits nothing (its jti stays unrecorded); an issued token and
        # the jti that bought it commit together.
        with state.session_factory() as session, session.begin():
            # The token and its jti are written: take the write lock up front (SQLite's
            # BEGIN IMMEDIATE), not midway, where concurrent requests deadlock on it.
            begin_write(session)
            issued = TokenService(session, state.config.base_url).issue(form)
    except OAuthError as error:
        headers = dict(NO_STORE)
        if error.status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
        return jsonify(error.body()), error.status, headers
    return jsonify(issued.body()), 200, NO_STORE

"""How the gateway authenticates to a partner, per its registration's ``outbound_auth``:

- ``{"method": "none"}``;
- ``{"method": "bearer", "token": "..."}``: a static bearer token the partner issued us;
- ``{"method": "smart", "token_url": "...", "client_id": "...", "scope": "system/*.write"}``:
  SMART Backend Services as a client: we sign a client assertion with the gateway's own private
  key (``GATEWAY_CLIENT_KEY_FILE``) and exchange it for an access token, which is kept until
  shortly before it expires (or until the partner answers 401).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from gateway.partners.client import client_assertion, token_request
from gateway.partners.registry import Partner

# A token is renewed this long before the partner said it expires.
EXPIRY_MARGIN_SECONDS = 30.0


class OutboundAuthError(RuntimeError):
    """No credentials could be had (a token endpoint refused us, no key configured, ...)."""


@dataclass
class _Token:
    value: str
    expires_at: float


class OutboundAuth:
    """Authorization headers for requests to partners, with SMART tokens cached per partner."""

    def __init__(self, session: requests.Session, private_jwk: dict[str, Any] | None,
                 timeout: tuple[float, float] = (5.0, 30.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.private_jwk = private_jwk
        self.timeout = timeout
        self.clock = clock
        self._tokens: dict[str, _Token] = {}

    def headers(self, partner: Partner) -> dict[str, str]:
        settings = partner.outbound_auth
        method = settings.get("method", "none")
        if method == "none":
            return {}
        if method == "bearer":
            token = settings.get("token")
            if not isinstance(token, str) or not token:
                raise OutboundAuthError(f"partner {partner.id}: outbound_auth.token is missing")
            return {"Authorization": f"Bearer {token}"}
        if method == "smart":
            return {"Authorization": f"Bearer {self._smart_token(partner, settings)}"}
        raise OutboundAuthError(f"partner {partner.id}: unknown outbound_auth.method {method!r}")

    def forget(self, partner_id: str) -> None:
        """Drop a cached token (the partner answered 401: it may have revoked it early)."""
        self._tokens.pop(partner_id, None)

    def _smart_token(self, partner: Partner, settings: dict[str, Any]) -> str:
        cached = self._tokens.get(partner.id)
        if cached is not None and self.clock() < cached.expires_at:
            return cached.value
        if self.private_jwk is None:
            raise OutboundAuthError("the gateway has no private key for SMART client "
                                    "authentication (set GATEWAY_CLIENT_KEY_FILE)")
        token_url = settings.get("token_url") or partner.endpoints.get("token_url")
        client_id = settings.get("client_id")
        if not token_url or not client_id:
            raise OutboundAuthError(f"partner {partner.id}: outbound_auth needs token_url and "
                                    f"client_id for method smart")
        form = token_request(client_assertion(self.private_jwk, client_id, token_url),
                             settings.get("scope", "system/*.write"))
        try:
            response = self.session.post(token_url, data=form, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as error:
            raise OutboundAuthError(f"token endpoint {token_url} unreachable: {error}") from None
        if response.status_code != 200:
            raise OutboundAuthError(f"token endpoint {token_url} answered "
                                    f"{response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
            token, lifetime = body["access_token"], float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise OutboundAuthError(f"token endpoint {token_url} gave no access_token") from None
        self._tokens[partner.id] = _Token(token, self.clock() + lifetime - EXPIRY_MARGIN_SECONDS)
        return token

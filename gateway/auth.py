"""The authentication gate: who is calling, from the bearer token.

This module knows operator keys; partner access tokens (SMART Backend Services) plug into
``authenticate`` through the same gate, so every route sees one ``Principal``.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from gateway.config import Config
from gateway.fhir.errors import FhirError


@dataclass(frozen=True)
class Principal:
    kind: str  # "operator" or "partner"
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(authorization: str | None, config: Config) -> Principal:
    """The caller behind an ``Authorization`` header, or a 401 FhirError."""
    token = bearer_token(authorization)
    if token is None:
        raise unauthorized("a bearer token is required")
    for index, key in enumerate(config.operator_keys):
        # Constant-time comparison: a token check must not leak how much of a key matched.
        if hmac.compare_digest(token.encode(), key.encode()):
            return Principal(kind="operator", name=f"operator-key-{index + 1}",
                             scopes=frozenset({"system/*.*"}))
    raise unauthorized("the bearer token is not valid")


def unauthorized(diagnostics: str) -> FhirError:
    return FhirError(401, "login", diagnostics,
                     headers={"WWW-Authenticate": 'Bearer realm="fhir"'})

"""SMART Backend Services, client side: signing a client assertion with a private JWK.

Used by the demo (to show a partner getting a token), by the tests, and by the delivery engine
when the gateway authenticates to a partner's FHIR server.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt

from gateway.partners.smart import ASSERTION_TYPE


def load_private_jwk(path: Path) -> dict[str, Any]:
    jwk = json.loads(path.read_text())
    if not isinstance(jwk, dict) or "d" not in jwk:
        raise ValueError(f"{path} is not a private JWK")
    return jwk


def client_assertion(private_jwk: dict[str, Any], client_id: str, token_url: str, *,
                     lifetime_seconds: int = 240, jti: str | None = None,
                     now: float | None = None) -> str:
    """A signed JWT for ``client_credentials`` with ``private_key_jwt`` (alg from the JWK)."""
    algorithm = private_jwk.get("alg") or ("RS384" if private_jwk["kty"] == "RSA" else "ES384")
    key = jwt.PyJWK(private_jwk, algorithm=algorithm).key
    issued = int(now if now is not None else time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "iat": issued,
              "exp": issued + lifetime_seconds, "jti": jti or str(uuid.uuid4())}
    headers = {"typ": "JWT", "kid": private_jwk["kid"]} if "kid" in private_jwk else {"typ": "JWT"}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def token_request(assertion: str, scope: str) -> dict[str, str]:
    """The form fields of a token request."""
    return {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

"""The token endpoint under hostile or concurrent input: every answer an OAuth error or a
token, never a 500 (found by the security review: exp as a string or 2**70, a 300-character
jti, eight requests at once on SQLite)."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from gateway.partners.client import token_request

from .conftest import TOKEN_URL, private_key


def signed(partner_id: str, **claims) -> str:
    jwk = private_key(partner_id)
    algorithm = jwk.get("alg") or ("RS384" if jwk["kty"] == "RSA" else "ES384")
    now = int(time.time())
    body = {"iss": partner_id, "sub": partner_id, "aud": TOKEN_URL, "iat": now,
            "exp": now + 120, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(body, jwt.PyJWK(jwk, algorithm=algorithm).key, algorithm=algorithm,
                      headers={"kid": jwk["kid"]} if "kid" in jwk else None)


@pytest.mark.parametrize("claims", [
    {"exp": "tomorrow"}, {"exp": 2 ** 70}, {"exp": True}, {"jti": "j" * 300}, {"jti": 42}])
def test_bad_claims_are_oauth_errors_not_500s(client, partners, claims):
    response = client.post("/auth/token", data=token_request(signed("pcp-cedar", **claims),
                                                                 "system/CareTeam.read"))
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert response.get_json()["error"] in ("invalid_client", "invalid_request")


def test_concurrent_token_requests_all_get_tokens(app, client, partners):
    def request_token(_: int) -> int:
        with app.test_client() as own:
            return own.post("/auth/token", data=token_request(
                signed("pcp-cedar"), "system/CareTeam.read")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(request_token, range(24)))
    assert statuses == [200] * 24

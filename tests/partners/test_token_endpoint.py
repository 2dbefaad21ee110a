"""SMART Backend Services token endpoint: good assertions, and each bad one refused."""
from __future__ import annotations

import time

import jwt
import pytest

from gateway.partners.client import client_assertion, token_request

from .conftest import TOKEN_URL, private_key


def test_discovery_names_the_token_endpoint_without_a_token(client):
    response = client.get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert "client-confidential-asymmetric" in body["capabilities"]


@pytest.mark.parametrize("partner_id", ["pcp-cedar", "hospital-stbrigid"])  # RS384, ES384
def test_a_good_assertion_gets_a_short_lived_token(get_token, client, partner_id):
    response = get_token(partner_id, scope="system/CareTeam.read")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 300
    assert body["scope"] == "system/CareTeam.read"
    assert response.headers["Cache-Control"] == "no-store"
    # The token passes the gate (what it may see is the consent decision's business).
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    gated = client.get("/fhir/CareTeam", headers=bearer)
    assert gated.status_code != 401


def test_wildcard_scopes_narrow_to_what_the_partner_may_receive(get_token):
    body = get_token("school-walnut", scope="system/*.read").get_json()
    granted = set(body["scope"].split())
    assert "system/CareTeam.read" in granted
    assert "system/CarePlan.read" not in granted  # not among a school's resource types
    v2 = get_token("school-walnut", scope="system/*.rs").get_json()
    assert "system/CareTeam.rs" in v2["scope"].split()


def test_write_scopes_and_foreign_types_are_refused_with_invalid_scope(get_token):
    response = get_token("school-walnut", scope="system/CareTeam.write system/Consent.read")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def sign(partner_id, claims, alg=None, headers=None, key=None):
    jwk = key or private_key(partner_id)
    algorithm = alg or jwk["alg"]
    return jwt.encode(claims, jwt.PyJWK(jwk, algorithm=algorithm).key, algorithm=algorithm,
                      headers={"kid": jwk["kid"], **(headers or {})})


def claims(partner_id="pcp-cedar", **overrides):
    now = int(time.time())
    return {"iss": partner_id, "sub": partner_id, "aud": TOKEN_URL, "exp": now + 240,
            "jti": f"jti-{time.time_ns()}", **overrides}


def post(client, assertion, scope="system/CareTeam.read"):
    return client.post("/auth/token", data=token_request(assertion, scope))


def unsigned(body):
    return jwt.encode(body, None, algorithm="none")


BAD_ASSERTIONS = {
    "expired": lambda: sign("pcp-cedar", claims(exp=int(time.time()) - 60)),
    "wrong audience": lambda: sign("pcp-cedar", claims(aud="https://elsewhere.example/token")),
    "unsigned alg=none": lambda: unsigned(claims()),
    "wrong key": lambda: sign("pcp-cedar", claims(), key={**private_key("school-walnut"),
                                                          "kid": "pcp-cedar-demo-1"}),
    "unknown client": lambda: sign("pcp-cedar", claims(iss="nobody", sub="nobody")),
    "iss differs from sub": lambda: sign("pcp-cedar", claims(sub="school-walnut")),
    "exp more than five minutes ahead": lambda: sign("pcp-cedar",
                                                     claims(exp=int(time.time()) + 900)),
    "no jti": lambda: sign("pcp-cedar", {k: v for k, v in claims().items() if k != "jti"}),
    "HS256 with the public key as secret": lambda: jwt.encode(claims(), "s" * 32,
                                                              algorithm="HS256"),
    "not a JWT": lambda: "not-a-jwt",
}


@pytest.mark.parametrize("case", sorted(BAD_ASSERTIONS))
def test_bad_assertions_get_invalid_client(client, partners, case):
    response = post(client, BAD_ASSERTIONS[case]())
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_replayed_jti_is_refused(client, partners):
    assertion = client_assertion(private_key("pcp-cedar"), "pcp-cedar", TOKEN_URL, jti="once")
    assert post(client, assertion).status_code == 200
    replay = post(client, assertion)
    assert replay.status_code == 401
    assert "already used" in replay.get_json()["error_description"]


def test_a_replay_to_another_worker_is_refused_too(config, client, partners):
    from gateway.app import create_app

    other_worker = create_app(config).test_client()  # its own engine and connections
    assertion = client_assertion(private_key("hospital-stbrigid"), "hospital-stbrigid",
                                 TOKEN_URL, jti="shared")
    assert post(client, assertion).status_code == 200
    assert post(other_worker, assertion).status_code == 401


def test_a_refused_request_does_not_burn_its_jti(client, partners):
    assertion = client_assertion(private_key("pcp-cedar"), "pcp-cedar", TOKEN_URL, jti="kept")
    assert post(client, assertion, scope="system/Consent.read").status_code == 400
    assert post(client, assertion).status_code == 200


def test_a_disabled_partner_gets_no_token_and_its_tokens_stop_at_once(app, client, get_token):
    from gateway.partners.registry import PartnerRegistry

    token = get_token("pcp-cedar").get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/fhir/CareTeam", headers=headers).status_code != 401
    state = app.extensions["gateway"]
    with state.session_factory() as session, session.begin():
        PartnerRegistry(session).set_enabled("pcp-cedar", False)
    assert client.get("/fhir/CareTeam", headers=headers).status_code == 401
    refused = get_token("pcp-cedar")
    assert refused.status_code == 401 and "disabled" in refused.get_json()["error_description"]


@pytest.mark.parametrize("form, error", [
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "client_assertion_type": "x"}, "invalid_request"),
    ({"grant_type": "client_credentials",
      "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
     "invalid_request"),
])
def test_malformed_token_requests_get_oauth_errors(client, partners, form, error):
    response = client.post("/auth/token", data=form)
    assert response.status_code == 400
    assert response.get_json()["error"] == error


def test_a_json_body_is_not_a_token_request(client, partners):
    response = client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_an_unknown_access_token_is_a_401(client):
    response = client.get("/fhir/CareTeam", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_keys_can_be_registered_by_url(app, client):
    """A partner publishing its JWKS at a URL (a loopback server here) is checked against it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from gateway.partners.registry import Partner, PartnerRegistry

    from .conftest import partner_file

    public = partner_file("hospital-stbrigid")["jwks"]

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server interface
            body = json.dumps(public).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        described = {k: v for k, v in partner_file("hospital-stbrigid").items() if k != "jwks"}
        described["jwks_url"] = f"http://127.0.0.1:{server.server_port}/jwks.json"
        with app.extensions["gateway"].session_factory() as session, session.begin():
            PartnerRegistry(session).put(Partner.from_json(described))
        assertion = client_assertion(private_key("hospital-stbrigid"), "hospital-stbrigid",
                                     TOKEN_URL)
        assert post(client, assertion).status_code == 200
        # Signed with another key (the school's): no key at the URL matches.
        wrong = client_assertion(private_key("school-walnut"), "hospital-stbrigid", TOKEN_URL)
        assert post(client, wrong).status_code == 401
    finally:
        server.shutdown()


def test_a_jwks_url_must_be_https_except_on_loopback():
    from gateway.partners.registry import Partner, PartnerError

    from .conftest import partner_file

    described = {k: v for k, v in partner_file("pcp-cedar").items() if k != "jwks"}
    with pytest.raises(PartnerError):
        Partner.from_json({**described, "jwks_url": "http://keys.example.org/jwks.json"})
    assert Partner.from_json({**described, "jwks_url": "https://keys.example.org/jwks.json"})

"""Authenticating to partners: a static bearer token, and SMART Backend Services as a client
(our signed assertion exchanged at the partner's token endpoint, the token kept until it
expires or the partner refuses it)."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.delivery.outbound_auth import _Token
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.worker import DeliveryWorker, WorkerSettings
from gateway.demo.partner_server import ReceivingFhirServer

from .conftest import PCP_ORG, consent, consumer_records, pcp_partner, put, register


@dataclass
class TokenEndpoint:
    """A partner's token endpoint: checks our ES384 assertion, issues the receiver's token."""

    public_jwk: dict
    token: str = "first-token"
    issued: list[dict] = field(default_factory=list)

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        form = request.form
        key = jwt.PyJWK(self.public_jwk, algorithm="ES384").key
        try:
            claims = jwt.decode(form["client_assertion"], key, algorithms=["ES384"],
                                audience=request.base_url)
        except jwt.PyJWTError as error:
            return Response(json.dumps({"error": "invalid_client",
                                        "error_description": str(error)}), 401,
                            content_type="application/json")(environ, start_response)
        self.issued.append({"claims": claims, "scope": form["scope"],
                            "grant_type": form["grant_type"]})
        body = {"access_token": self.token, "token_type": "bearer", "expires_in": 300}
        return Response(json.dumps(body), content_type="application/json")(
            environ, start_response)


@pytest.fixture
def keys() -> tuple[dict, dict]:
    private = ec.generate_private_key(ec.SECP384R1())
    extra = {"kid": "gateway-1", "alg": "ES384"}
    return ({**json.loads(ECAlgorithm.to_jwk(private)), **extra},
            {**json.loads(ECAlgorithm.to_jwk(private.public_key())), **extra})


@pytest.fixture
def token_endpoint(keys) -> Iterator[tuple[TokenEndpoint, str]]:
    endpoint = TokenEndpoint(keys[1])
    server = make_server("127.0.0.1", 0, endpoint, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield endpoint, f"http://127.0.0.1:{server.server_port}/token"
    server.shutdown()


def consumers(app, count: int) -> None:
    for number in range(count):
        patient_id = f"p-auth-{number}"
        for resource in consumer_records(patient_id):
            put(app, resource)
        put(app, consent(patient_id, PCP_ORG))


def worker(app, private_jwk=None) -> DeliveryWorker:
    return DeliveryWorker(app.extensions["gateway"], "auth-worker",
                          WorkerSettings(read_timeout=2, connect_timeout=1,
                                         policy=RetryPolicy(max_attempts=2)),
                          private_jwk=private_jwk)


def test_a_static_bearer_token(app):
    with ReceivingFhirServer("bearer", require_bearer="s3cret") as partner:
        register(app, pcp_partner(partner.base_url,
                                  outbound_auth={"method": "bearer", "token": "s3cret"}))
        consumers(app, 2)
        assert worker(app).run(once=True).counts == {"sent": 2}
        assert {r.headers.get("Authorization") for r in partner.requests} == {"Bearer s3cret"}


def test_smart_backend_services_as_a_client(app, keys, token_endpoint):
    endpoint, token_url = token_endpoint
    with ReceivingFhirServer("smart", require_bearer="first-token") as partner:
        register(app, pcp_partner(partner.base_url, outbound_auth={
            "method": "smart", "token_url": token_url, "client_id": "our-gateway",
            "scope": "system/*.write"}))
        consumers(app, 3)
        assert worker(app, keys[0]).run(once=True).counts == {"sent": 3}
        # One token for all three sends; our assertion named us and their token endpoint.
        assert len(endpoint.issued) == 1
        claims = endpoint.issued[0]["claims"]
        assert claims["iss"] == claims["sub"] == "our-gateway" and claims["aud"] == token_url
        assert endpoint.issued[0]["scope"] == "system/*.write"
        assert endpoint.issued[0]["grant_type"] == "client_credentials"

    # The partner ends the token early: a 401, a fresh token, and the send goes through.
    with ReceivingFhirServer("smart", require_bearer="second-token") as partner:
        register(app, pcp_partner(partner.base_url, outbound_auth={
            "method": "smart", "token_url": token_url, "client_id": "our-gateway"}))
        endpoint.token = "second-token"
        put(app, {**consumer_records("p-auth-0")[3], "title": "changed"})
        run = worker(app, keys[0])
        run.fhir.auth._tokens["pcp-test"] = _Token("first-token", float("inf"))  # cached
        assert run.run(once=True).counts == {"sent": 1}
        assert len(endpoint.issued) == 2
        assert [r.status for r in partner.requests] == [401, 200]


def test_without_our_key_smart_partners_get_nothing_and_it_says_why(app, token_endpoint):
    _, token_url = token_endpoint
    with ReceivingFhirServer("smart", require_bearer="first-token") as partner:
        register(app, pcp_partner(partner.base_url, outbound_auth={
            "method": "smart", "token_url": token_url, "client_id": "our-gateway"}))
        consumers(app, 1)
        counts = worker(app, None).run(once=True).counts
        assert counts == {"retry": 1}
        assert partner.requests == []
    from sqlalchemy import select

    from gateway.db.models import DeliveryRow
    with app.extensions["gateway"].session_factory() as session:
        error = session.scalar(select(DeliveryRow.last_error))
    assert "GATEWAY_CLIENT_KEY_FILE" in error

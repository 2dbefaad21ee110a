"""What the consent decision point costs: ``GET CareTeam?patient=`` as a partner (SMART token,
consent checked, filtered in SQL and decided again per result) next to the same searches as an
operator (no consent work), on the same server and data, interleaved.

A benchmark partner (kind physical-health, ES384 key made here) is registered, and
``consented`` of the stored consumers get a Consent permitting it CareTeams for treatment; the
searches ask for those consumers, so both sides return the same one CareTeam each.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.load import Call, LoadResult, LoadSpec, fetch, run_interleaved
from benchmarks.servers import Server
from benchmarks.storage import system_repository
from gateway.db.engine import begin_write
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator
from gateway.partners.client import client_assertion, token_request
from gateway.partners.registry import Partner, PartnerRegistry
from gateway.partners.smart import token_endpoint

PARTNER_ID = "bench-pcp"
FORM = "application/x-www-form-urlencoded"
Log = Callable[[str], None]


def register_partner(sessions: sessionmaker[Session], organization: str) -> dict:
    """The benchmark partner; returns its private JWK."""
    key = ec.generate_private_key(ec.SECP384R1())
    extra = {"kid": f"{PARTNER_ID}-1", "alg": "ES384"}
    private = {**json.loads(ECAlgorithm.to_jwk(key)), **extra}
    public = {**json.loads(ECAlgorithm.to_jwk(key.public_key())), **extra}
    partner = Partner.from_json({
        "id": PARTNER_ID, "type": "physical-health", "name": "Benchmark clinic",
        "organization": organization, "jwks": {"keys": [public]}, "purposes": ["TREAT"],
        "resource_types": ["CareTeam", "Patient", "Practitioner", "Organization"]})
    with sessions() as session, session.begin():
        PartnerRegistry(session).put(partner)
    return private


def store_consents(sessions: sessionmaker[Session], validator: Validator,
                   registry: SearchParameterRegistry, fhir_base: str, organization: str,
                   patient_ids: list[str]) -> None:
    with sessions() as session, session.begin():
        begin_write(session)
        repository = system_repository(session, validator, registry, fhir_base)
        for patient_id in patient_ids:
            repository.create("Consent", consent(patient_id, organization))


def consent(patient_id: str, organization: str) -> dict:
    return {
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        # ppc-1 (R4): a Consent names a policy or a policyRule.
        "policyRule": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
            "code": "hipaa-auth"}]},
        "patient": {"reference": f"Patient/{patient_id}"},
        "provision": {
            "type": "permit", "period": {"start": "2020-01-01", "end": "2099-12-31"},
            "actor": [{"role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP"}]}, "reference": {"reference": f"Organization/{organization}"}}],
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                         "code": "TREAT"}],
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "CareTeam"}]}}


def token_form(private_jwk: dict, public_base_url: str) -> bytes:
    """The body of the partner's token request (a fresh client assertion each call)."""
    url = token_endpoint(public_base_url)
    return urlencode(token_request(client_assertion(private_jwk, PARTNER_ID, url),
                                   "system/CareTeam.read")).encode()


def partner_token(server: Server, private_jwk: dict, public_base_url: str) -> str:
    status, _, answer = fetch(server.port, Call("POST", "/auth/token",
                                                token_form(private_jwk, public_base_url)),
                              {"Content-Type": FORM})
    if status != 200:
        raise RuntimeError(f"the benchmark partner got no token: {status} {answer[:300]!r}")
    return json.loads(answer)["access_token"]


def measure(server: Server, calls: list[Call], operator_headers: dict[str, str],
            partner_headers: dict[str, str], spec: Callable[..., LoadSpec], rounds: int
            ) -> dict[str, LoadResult]:
    """Both sides, interleaved, on the same calls; every answer must hold one CareTeam."""
    for headers in (operator_headers, partner_headers):
        status, _, body = fetch(server.port, calls[0], headers)
        entries = json.loads(body).get("entry", []) if status == 200 else []
        if len(entries) != 1:
            raise RuntimeError(f"{calls[0].path} answered {status} with {len(entries)} "
                               f"entries")
    return run_interleaved({"search as operator": spec(operator_headers),
                            "search as partner": spec(partner_headers)}, rounds)

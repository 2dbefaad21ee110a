"""Write fixtures/partners/: the four demo partners and a demo key pair for each.

    .venv/bin/python scripts/generate_demo_partners.py [--out fixtures/partners]

Each partner gets ``<id>.json`` (registry entry with its public JWK Set) and
``<id>.private.jwk.json`` (its private key, for the demo and tests only: never a real secret).
The pcp and school sign with RS384 (RSA 2048), the hospital and court with ES384 (P-384), so
both algorithms are exercised. Re-running makes new keys.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.mappings.ids import fhir_id

# The FHIR types a partner of each kind may ever receive (the consent decides what it does).
DIRECTORY = ["Organization", "Practitioner", "PractitionerRole"]
PARTNERS: list[dict[str, Any]] = [
    {"id": "pcp-cedar", "type": "physical-health", "name": "Cedar Street Family Health",
     "local": "ORG-PCP-CEDAR", "alg": "RS384", "purposes": ["TREAT", "COC"],
     "resource_types": ["Patient", "CareTeam", "CarePlan", "Goal", "ServiceRequest",
                        "RelatedPerson", *DIRECTORY],
     "endpoints": {"fhir_base": "http://127.0.0.1:8091/fhir"}},
    {"id": "hospital-stbrigid", "type": "hospital", "name": "St. Brigid Regional Hospital",
     "local": "ORG-HOSP-STBRIGID", "alg": "ES384", "purposes": ["TREAT", "COC"],
     "resource_types": ["Patient", "CareTeam", "Task", "ServiceRequest", *DIRECTORY],
     "endpoints": {"fhir_base": "http://127.0.0.1:8092/fhir"}},
    {"id": "school-walnut", "type": "school", "name": "Walnut Hill K-8 Academy",
     "local": "ORG-SCH-WALNUT", "alg": "RS384", "purposes": ["COC"],
     "resource_types": ["Patient", "CareTeam", "Goal", "RelatedPerson", *DIRECTORY],
     "endpoints": {"drop_folder": "var/partners/school-walnut/inbox"}},
    {"id": "court-probate", "type": "court", "name": "Riverbend County Probate Court",
     "local": "ORG-COURT-PROBATE", "alg": "ES384", "purposes": ["HLEGAL"],
     "resource_types": ["Patient", "CareTeam", "CarePlan", "Encounter", *DIRECTORY],
     "endpoints": {"drop_folder": "var/partners/court-probate/inbox"}},
]


def key_pair(partner_id: str, alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public JWK, private JWK) for ``alg``, with kid and alg set."""
    if alg == "RS384":
        private_key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        to_jwk = RSAAlgorithm.to_jwk
    else:
        private_key = ec.generate_private_key(ec.SECP384R1())
        to_jwk = ECAlgorithm.to_jwk
    extra = {"kid": f"{partner_id}-demo-1", "alg": alg, "use": "sig"}
    private = {**json.loads(to_jwk(private_key)), **extra}
    public = {**json.loads(to_jwk(private_key.public_key())), **extra}
    return public, private


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("fixtures/partners"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for spec in PARTNERS:
        public, private = key_pair(spec["id"], spec["alg"])
        partner = {
            "id": spec["id"], "type": spec["type"], "name": spec["name"],
            "organization": fhir_id("organization", spec["local"]),
            "client_id": spec["id"],
            "patient_identifier_systems": [f"https://fhir-care-gateway.example/partner/"
                                           f"{spec['id']}/mrn"],
            "endpoints": spec["endpoints"], "outbound_auth": {"method": "none"},
            "jwks": {"keys": [public]}, "purposes": spec["purposes"],
            "resource_types": spec["resource_types"],
            # A court sends its orders here (gateway/workflows/court_orders.py).
            "submits": ["Task", "ServiceRequest"] if spec["type"] == "court" else [],
            "enabled": True,
        }
        (out / f"{spec['id']}.json").write_text(json.dumps(partner, indent=2) + "\n")
        (out / f"{spec['id']}.private.jwk.json").write_text(json.dumps(private, indent=2) + "\n")
        print(f"wrote {out / spec['id']}.json and its private key ({spec['alg']})")


if __name__ == "__main__":
    main()

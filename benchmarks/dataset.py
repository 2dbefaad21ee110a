"""Deterministic synthetic data: one Patient and one CareTeam per index, shaped like the demo.

Record ``n`` is always the same resource (apart from the ids the caller assigns), so every run
and both databases store the same data. Family names are three syllables from 48, about 110,000
of them, so a ``Patient?name=`` query matches a handful of patients at any size.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

AGENCY = "https://fhir-care-gateway.example/agency-id"
SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "sa", "ne", "ri", "bel", "do", "fa", "gu",
             "han", "is", "jo", "ku", "lem", "mar", "nor", "pe", "qui", "ros", "sil", "tam",
             "ul", "ven", "wil", "xa", "yor", "zen", "ab", "bri", "cor", "del", "el", "fin",
             "gar", "hol", "ing", "jen", "kel", "lin", "mon", "nas", "ol", "pra", "sto")
GIVEN = ("Elena", "Tyler", "Maria", "James", "Aisha", "Wei", "Olga", "Samuel", "Priya", "Diego",
         "Fatima", "Noah", "Grace", "Mateo", "Hannah", "Kofi", "Lucia", "Omar", "Zoe", "Ivan")
CITIES = (("Lansing", "48912"), ("East Lansing", "48823"), ("Okemos", "48864"),
          ("Mason", "48854"), ("Holt", "48842"))
ROLES = (("768820003", "Care coordinator"), ("224535009", "Registered nurse"),
         ("309343006", "Physician"), ("106328005", "Social worker"))


@dataclass(frozen=True)
class Record:
    """The ids of record ``n``: its Patient and its CareTeam."""

    index: int
    patient_id: str
    careteam_id: str


def make_ids(index: int, run_key: str) -> Record:
    """Server-style (UUID) ids, unique to this run and record."""
    return Record(index, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_key}/Patient/{index}")),
                  str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_key}/CareTeam/{index}")))


def family_name(index: int) -> str:
    rng = random.Random(index * 7919 + 17)
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


def patient(index: int, organization_id: str) -> dict[str, Any]:
    rng = random.Random(index)
    city, postal = rng.choice(CITIES)
    return {
        "resourceType": "Patient",
        "identifier": [{"system": f"{AGENCY}/consumer", "value": f"C-{index + 100000}"}],
        "active": True,
        "name": [{"use": "official", "family": family_name(index),
                  "given": [rng.choice(GIVEN)]}],
        "gender": rng.choice(("female", "male", "other")),
        "birthDate": f"{rng.randint(1940, 2015)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "telecom": [{"system": "phone", "value": f"555-{index % 10000:04d}", "use": "mobile"}],
        "address": [{"line": [f"{rng.randint(1, 999)} Elm St"], "city": city, "state": "MI",
                     "postalCode": postal}],
        "managingOrganization": {"reference": f"Organization/{organization_id}"},
    }


def careteam(index: int, patient_id: str, practitioner_ids: list[str],
             organization_id: str) -> dict[str, Any]:
    rng = random.Random(-index - 1)
    role_code, role_display = rng.choice(ROLES)
    start = f"202{rng.randint(0, 5)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "resourceType": "CareTeam",
        "identifier": [{"system": f"{AGENCY}/careteam", "value": f"CT-{index + 100000}"}],
        "status": "active",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LA27976-2",
                                  "display": "Encounter-focused care team"}]}],
        "name": f"Care team for {family_name(index)}",
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": start},
        "participant": [{
            "role": [{"coding": [{"system": "http://snomed.info/sct", "code": role_code,
                                  "display": role_display}]}],
            "member": {"reference": f"Practitioner/{rng.choice(practitioner_ids)}"},
            "onBehalfOf": {"reference": f"Organization/{organization_id}"},
            "period": {"start": start},
        }],
        "managingOrganization": [{"reference": f"Organization/{organization_id}"}],
    }


def organization() -> dict[str, Any]:
    return {"resourceType": "Organization", "active": True,
            "identifier": [{"system": f"{AGENCY}/org", "value": "AG-1"}],
            "name": "Ingham County Community Mental Health"}


def practitioner(index: int) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "active": True,
            "identifier": [{"system": f"{AGENCY}/staff", "value": f"S-{index}"}],
            "name": [{"family": family_name(900_000 + index), "given": [GIVEN[index % 20]]}]}

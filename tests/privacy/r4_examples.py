"""The twelve Consent examples of the FHIR R4 specification (hl7.org/fhir/R4/consent-examples,
``r4_consent_examples.json``: their elements as HL7 wrote them, narrative and
``sourceAttachment`` left out), pointed at the demo world, and what the R4 rules say each
permits.

Pointing them at the demo world changes only references and dates: each example's Patient is
a consumer of its own; ``Organization/f001`` is the agency where it is the custodian (``CST``
actors, ``Consent.organization``) and the demo primary care clinic where it is the recipient
(``PRCP``); Practitioners are a demo practitioner; ``Task/example3`` is the consumer's Task.
Every date moves 11 years on, so that 2015-2016 falls in 2026-2027 (today is in the consents'
era, as it was when HL7 wrote them).

The oracle reads the examples' *elements*, not their narratives (several narratives say the
opposite of what the elements encode; the elements are what a system acts on).
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

EXAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "r4_consent_examples.json").read_text())
AGENCY = "agency-r4"
RECIPIENT_PARTNER = "pcp-cedar"


def name_of(example: dict[str, Any]) -> str:
    return example["id"].removeprefix("consent-example-")


def patient_of(name: str) -> str:
    return f"p-r4-{name}"


def retargeted(example: dict[str, Any], recipient_organization: str) -> dict[str, Any]:
    name = name_of(example)
    consent = copy.deepcopy(example)
    consent["id"] = f"r4-{name}"

    def walk(element: Any, role: str | None = None) -> Any:
        if isinstance(element, list):
            return [walk(item, role) for item in element]
        if not isinstance(element, dict):
            return element
        codes = {c.get("code") for c in (element.get("role") or {}).get("coding", [])}
        role = "PRCP" if "PRCP" in codes else ("CST" if "CST" in codes else role)
        out = {}
        for key, value in element.items():
            if key == "reference" and isinstance(value, str):
                out[key] = _retarget(value, name, role, recipient_organization)
            elif key in ("start", "end", "dateTime") and isinstance(value, str):
                out[key] = re.sub(r"^\d{4}", lambda m: str(int(m.group()) + 11), value)
            else:
                out[key] = walk(value, role)
        return out

    return walk(consent)


def _retarget(reference: str, name: str, role: str | None, recipient: str) -> str:
    resource_type = reference.split("/")[0]
    if resource_type == "Patient":
        return f"Patient/{patient_of(name)}"
    if resource_type == "Organization":
        return f"Organization/{recipient}" if role == "PRCP" else f"Organization/{AGENCY}"
    if resource_type == "Practitioner":
        return "Practitioner/pr-1"
    if resource_type == "RelatedPerson":
        return f"RelatedPerson/relatedperson-main-{name}"
    if resource_type == "Task":
        return f"Task/task-main-{name}"
    return reference


# Which treating-provider partners a broad consent (no recipient named) reaches.
BROAD_KINDS = {"physical-health", "hospital"}


def permits(name: str, partner_kind: str, resource: dict[str, Any]) -> bool:
    """What the R4 rules (as README's "Consent semantics" restates them) say the example
    permits a partner of this kind for its own purpose, before minimum necessary."""
    sud = any(label["code"] in ("SUD", "ETH")
              for label in resource.get("meta", {}).get("security", []))
    if sud:
        return False  # none names SUD content and its recipient (42 CFR Part 2)
    if name in ("basic", "notAuthor"):
        # OPTIN; basic: a rule period covering today; notAuthor: its actor is the custodian.
        return partner_kind in BROAD_KINDS
    if name == "notThis":
        # OPTIN for the Task and what refers to it (data, meaning "related").
        return partner_kind in BROAD_KINDS and resource["id"] == "task-main-notThis"
    # Emergency, Out, grantor, pkb: opt-out (pkb cannot be read at all); notOrg: a root deny;
    # notThem, signature: a Practitioner recipient, no partner; notTime: its period is over;
    # smartonfhir: not in force until its half hour in 2027.
    return False


# The problems the gateway reports for each (a fragment of each message).
PROBLEMS = {
    "grantor": ["names Patient/"],
    "notOrg": ["at the root is not allowed in R4"],
    "notThem": ["names Practitioner/"],
    "pkb": ["type must be permit or deny"],
    "signature": ["names Practitioner/", "role is not a role", "urn:ietf:bcp:13",
                  "code is not evaluated"],
}

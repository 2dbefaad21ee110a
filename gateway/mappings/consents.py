"""consent record (a release of information) -> Consent (cmh-consent).

The provision permits disclosing the listed resource types to the recipient for the listed
purposes during the consent's period. Substance-use-disorder content is handled explicitly:
a 42 CFR Part 2 consent names it in a nested ``permit`` provision by its security labels; any
other consent excludes it with a nested ``deny``. A Part 2 consent is itself labelled as SUD
information, since its existence reveals treatment.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from .codes import (
    CONSENT_ACTION_DISCLOSE,
    CONSENT_CATEGORY,
    CONSENT_SCOPE,
    EXT_CONSENT_REVOKED,
    INFORMATION_RECIPIENT,
    PROFILE_CONSENT,
)
from .context import MappingContext
from .elements import codeable, period, prune
from .errors import MappingError
from .labels import add_security, substance_use_labels, substance_use_sensitivity
from .people import guardian_reference
from .records import expect_type, required
from .terminology import CONSENT_CATEGORY as CATEGORY_MAP
from .terminology import CONSENT_POLICY, CONSENT_PURPOSE

RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"


def consent_status(consent: Mapping[str, Any], today: date) -> str:
    """``inactive`` once revoked or past its expiry date (valid through ``expires``), else
    ``active``."""
    if consent.get("revoked_on"):
        return "inactive"
    expires = consent.get("expires")
    return "inactive" if expires and expires < today.isoformat() else "active"


def consent_from_record(consent: Mapping[str, Any], ctx: MappingContext,
                        today: date) -> list[dict]:
    """The Consent (a list, like every mapping)."""
    consent = expect_type(consent, "consent")
    consent_id = required(consent, "id")
    consumer_id = required(consent, "consumer")
    terminology = ctx.terminology
    part2 = consent.get("part2") is True
    purposes = [terminology.translate(CONSENT_PURPOSE, purpose, f"purposes[{index}]")
                for index, purpose in enumerate(required(consent, "purposes"))]
    revoked_on = consent.get("revoked_on")
    expires = consent.get("expires")
    # The consent stops at whichever comes first, revocation or expiry. One revoked before it
    # took effect never was in force: its period ends where it starts (R4 per-1: start <= end),
    # and its status is inactive; the revocation date stays in its extension.
    effective = required(consent, "effective")
    end = min(d for d in (revoked_on, expires) if d) if (revoked_on or expires) else None
    if end is not None and isinstance(effective, str) and end < effective:
        end = effective
    sud = substance_use_sensitivity(ctx)
    resource = prune({
        "resourceType": "Consent",
        "id": ctx.fhir_id("consent", consent_id),
        "meta": {"profile": [PROFILE_CONSENT]},
        "extension": [{"url": EXT_CONSENT_REVOKED, "valueDate": revoked_on}]
        if revoked_on else None,
        "identifier": [ctx.identifier("consent", consent_id)],
        "status": consent_status(consent, today),
        "scope": {"coding": [dict(CONSENT_SCOPE)]},
        "category": [{"coding": [dict(CONSENT_CATEGORY)]}],
        "patient": ctx.reference("Patient", "consumer", consumer_id),
        "dateTime": required(consent, "signed_on"),
        "performer": [_signer(consent, consumer_id, ctx)] if consent.get("signed_by") else None,
        "organization": [ctx.agency_reference()],
        "policyRule": codeable(terminology.translate(CONSENT_POLICY,
                                                     "part2" if part2 else "hipaa")),
        # The base decision is the policy's (R4: the root provision has no type).
        "provision": {
            "period": period(effective, end),
            "actor": [{"role": {"coding": [dict(INFORMATION_RECIPIENT)]},
                       "reference": ctx.reference("Organization", "organization",
                                                  required(consent, "recipient"))}],
            "action": [{"coding": [dict(CONSENT_ACTION_DISCLOSE)]}],
            "purpose": purposes,
            "class": [{"system": RESOURCE_TYPES_SYSTEM, "code": code}
                      for code in _resource_types(consent, ctx)],
            "provision": [{"type": "permit" if part2 else "deny", "securityLabel": sud}],
        },
    })
    if part2:
        add_security(resource, substance_use_labels(ctx))
    return [resource]


def _signer(consent: Mapping[str, Any], consumer_id: str, ctx: MappingContext) -> dict:
    signed_by = consent["signed_by"]
    if signed_by == "consumer":
        return ctx.reference("Patient", "consumer", consumer_id)
    if signed_by == "guardian":
        return guardian_reference(ctx, consumer_id)
    raise MappingError("signed_by", f"unknown signer {signed_by!r}")


def _resource_types(consent: Mapping[str, Any], ctx: MappingContext) -> list[str]:
    """The explicitly listed resource types, then those of each category, each once."""
    share = required(consent, "share")
    codes: dict[str, None] = {}
    for resource_type in share.get("resource_types") or ():
        codes[resource_type] = None
    for index, category in enumerate(share.get("categories") or ()):
        for coding in ctx.terminology.translate_all(CATEGORY_MAP, category,
                                                    f"share.categories[{index}]"):
            codes[coding["code"]] = None
    if not codes:
        raise MappingError("share", "a release of information must name what it shares")
    return list(codes)

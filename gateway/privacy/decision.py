"""The consent decision point: may this requester, for this purpose, see this resource?

``decide`` is the one function that answers, for every read, search match, include, history
entry, transaction response and outbound delivery (``enforcement.py`` applies it at the storage
boundary, so a route cannot skip it). Deny by default; the rules, in order:

1. The agency's operators see everything (and are audited like anyone).
2. A partner sees only the resource types it is registered for, never the gateway's own
   records (AuditEvent, Provenance, Subscription, Endpoint) and never Consents.
3. Minimum necessary by partner kind (``minimum_necessary.py``): types the kind is never shown
   are denied; shown ones are trimmed to the kind's elements and marked REDACTED.
4. Directory resources (Practitioner, PractitionerRole, Organization, Location) concern no
   consumer and are shown to a partner within 2 and 3.
5. Anything else belongs to a consumer (its Patient compartment) and needs that consumer's
   Consents, read the FHIR R4 way (``consent_rules.py``, ``consents.py``), to permit this
   partner, this purpose, this resource, today. Substance-use-disorder records (labelled
   SUD/ETH) need a consent that names them and the partner (42 CFR Part 2), and what is
   disclosed under Part 2 carries the re-disclosure notice of 42 CFR 2.32. Elements labelled
   SUD inline (a plan's reference to an SUD goal) are removed from what is disclosed without
   such a consent. Each decision names the Consent(s) it relied on.
6. The closed loop: a partner that made a referral (the referral Task's ``requester`` is its
   Organization) learns what became of it without a consent, as a treating provider may
   (HIPAA 45 CFR 164.506): the Task's status, its reason, who owns it, when it changed and
   what fulfilled it (``output``: the follow-up visit, BSeR feedback), nothing else
   (``REFERRAL_STATUS``). Not for substance-use-disorder referrals, which need
   a Part 2 consent like any SUD record.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.auth import Principal
from gateway.privacy.consents import SUD_LABELS, Grants, is_sud_content
from gateway.privacy.labels import labelled_paths, strip_labelled
from gateway.privacy.minimum_necessary import (
    DIRECTORY_TYPES,
    REFERRAL_STATUS,
    is_relevant,
    shape_for,
    shared_identifier,
    trimmed,
)

NEVER_TO_PARTNERS = frozenset({"AuditEvent", "Provenance", "Subscription", "Endpoint",
                               "Consent"})
OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
REDACTED = {"system": OBSERVATION_VALUE, "code": "REDACTED", "display": "redacted"}
REDISCLOSURE_NOTICE_URL = ("https://fhir-care-gateway.example/fhir/StructureDefinition/"
                           "redisclosure-notice")
# 42 CFR 2.32(a)(1), the short form of the notice that must accompany a Part 2 disclosure.
REDISCLOSURE_NOTICE = ("This record which has been disclosed to you is protected by federal "
                       "confidentiality rules (42 CFR part 2). These rules prohibit you from "
                       "using or disclosing this record, or testimony that describes the "
                       "information contained in this record, in any civil, criminal, "
                       "administrative, or legislative proceedings by any Federal, State, or "
                       "local authority, against the patient, unless authorized by the consent "
                       "of the patient, except as provided at 42 CFR 2.12(c)(5) or as "
                       "authorized by a court in accordance with 42 CFR 2.64 or 2.65. In "
                       "addition, the Federal rules prohibit you from making any other use or "
                       "disclosure of this record unless at least one of the following applies: "
                       "(i) Further use or disclosure is expressly permitted by the written "
                       "consent of the individual whose information is being disclosed in this "
                       "record or as otherwise permitted by 42 CFR part 2; (ii) You are a "
                       "covered entity or business associate and have received the record for "
                       "treatment, payment, or health care operations; or (iii) You have "
                       "received the record from a program in accordance with 42 CFR 2.12.")


@dataclass(frozen=True)
class Decision:
    effect: str  # permit | deny | redact (permit with elements removed)
    reason: str
    patient_id: str | None = None
    removed: tuple[str, ...] = field(default=())
    part2: bool = False  # disclosed as substance-use-disorder records
    strip_sud: bool = False  # remove elements labelled inline as SUD content
    referral_status: bool = False  # only the status of the partner's own referral (rule 6)
    consents: tuple[str, ...] = ()  # the Consent ids the decision relied on (or refused by)

    @property
    def permitted(self) -> bool:
        return self.effect != "deny"


def decide(requester: Principal, resource: Mapping[str, Any], patient_id: str | None,
           grants: Grants) -> Decision:
    """Permit, deny or redact ``resource`` (of consumer ``patient_id``, None for resources
    that belong to no consumer) for ``requester``, under the grants its consents give."""
    resource_type = str(resource.get("resourceType"))
    if requester.is_operator:
        return Decision("permit", "agency operator", patient_id)
    if resource_type in NEVER_TO_PARTNERS:
        return Decision("deny", f"{resource_type} is never disclosed to partners", patient_id)
    if resource_type not in requester.resource_types:
        return Decision("deny", f"{requester.name} is not registered to receive "
                                f"{resource_type}", patient_id)
    shape = shape_for(requester.partner_kind, resource_type)
    if shape is None:
        return Decision("deny", f"minimum necessary: a {requester.partner_kind} partner is "
                                f"not shown {resource_type}", patient_id)
    if not is_relevant(shape, resource):
        return Decision("deny", f"minimum necessary: this {resource_type} is not relevant to "
                                f"a {requester.partner_kind} partner", patient_id)
    sud = is_sud_content(resource)
    consents: tuple[str, ...] = ()
    if resource_type in DIRECTORY_TYPES and patient_id is None:
        reason = "directory information"
    else:
        if patient_id is None:
            return Decision("deny", "belongs to no consumer the partner has consent for", None)
        verdict = grants.verdict(patient_id, resource)
        if not verdict.permitted:
            if not sud and _own_referral(requester, resource):
                return _referral_status(requester, resource, patient_id)
            return Decision("deny", f"{verdict.reason} (for {requester.purpose})", patient_id,
                            consents=verdict.consents)
        reason, consents = verdict.reason, verdict.consents
    _, removed = trimmed(shape, resource, _identifier_filter(requester))
    # Elements labelled SUD inline go unless the consent would permit SUD content too (asked
    # only of resources that have such elements: most have none).
    inline = [] if sud and patient_id is not None else labelled_paths(resource, SUD_LABELS)
    if inline and patient_id is not None and grants.permits_sud(patient_id, resource):
        inline = []
    if removed or inline:
        notes = []
        if removed:
            notes.append(f"minimum necessary removed {', '.join(removed)}")
        if inline:
            notes.append(f"42 CFR Part 2: removed {', '.join(inline)} (labelled SUD)")
        return Decision("redact", f"{reason}; {'; '.join(notes)}", patient_id,
                        tuple(removed + inline), sud, strip_sud=bool(inline), consents=consents)
    return Decision("permit", reason, patient_id, (), sud, consents=consents)


def _own_referral(requester: Principal, resource: Mapping[str, Any]) -> bool:
    return (resource.get("resourceType") == "Task" and requester.organization is not None
            and (resource.get("requester") or {}).get("reference")
            == f"Organization/{requester.organization}")


def _referral_status(requester: Principal, resource: Mapping[str, Any], patient_id: str
                     ) -> Decision:
    _, removed = trimmed(REFERRAL_STATUS, resource)
    return Decision("redact", f"the status of a referral {requester.name} made; minimum "
                              f"necessary removed {', '.join(removed) or 'nothing'}",
                    patient_id, tuple(removed), referral_status=True)


def disclosed(requester: Principal, resource: Mapping[str, Any], decision: Decision
              ) -> dict[str, Any]:
    """What ``requester`` receives of a permitted ``resource``: trimmed, marked REDACTED when
    anything was removed, and carrying the re-disclosure notice when it is Part 2 content."""
    if requester.is_operator or decision.effect == "deny":
        return dict(resource)
    shape = REFERRAL_STATUS if decision.referral_status else shape_for(
        requester.partner_kind, str(resource.get("resourceType")))
    body, _ = trimmed(shape, resource, _identifier_filter(requester)) \
        if shape is not None else (dict(resource), [])
    if decision.strip_sud:
        body = strip_labelled(body, SUD_LABELS)
    if decision.removed or decision.part2:
        meta = dict(body.get("meta") or {})
        if decision.removed:
            security = [dict(s) for s in meta.get("security", [])]
            if not any(s.get("code") == "REDACTED" for s in security):
                security.append(dict(REDACTED))
            meta["security"] = security
        if decision.part2:
            meta["extension"] = [*meta.get("extension", []),
                                 {"url": REDISCLOSURE_NOTICE_URL,
                                  "valueString": REDISCLOSURE_NOTICE}]
        body["meta"] = meta
    return body


def _identifier_filter(requester: Principal) -> Callable[[Mapping[str, Any]], bool]:
    return lambda identifier: shared_identifier(requester.partner_kind,
                                                requester.identifier_systems, identifier)

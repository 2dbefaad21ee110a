"""Minimum necessary by partner kind (HIPAA 45 CFR 164.502(b); FERPA for schools).

Consent says whether a partner may receive a consumer's resource of some type; this module says
how much of it, whatever the consent: which resource types a kind of partner is ever shown, which
top-level elements of each survive (an allowlist: a new element is withheld until someone decides
it is needed), and which resources of a type are relevant at all (a school sees only goals
tagged as school-relevant). Elements a resource needs to stay valid FHIR are always kept.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.mappings.ids import identifier_system

GATEWAY_TAGS = "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-tag"
SCHOOL_RELEVANT = (GATEWAY_TAGS, "school-relevant")
# Kept in every shown resource: identity, metadata, and what FHIR requires of the type.
ALWAYS_KEPT = frozenset({"resourceType", "id", "meta", "identifier"})
REQUIRED = {
    "CarePlan": {"status", "intent", "subject"},
    "CareTeam": set(),
    "Goal": {"lifecycleStatus", "description", "subject"},
    "ServiceRequest": {"status", "intent", "subject"},
    "Task": {"status", "intent"},
    "PractitionerRole": set(),
    "RelatedPerson": {"patient"},
}
# Directory resources: about staff and organizations, not about any consumer.
DIRECTORY_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location"})


@dataclass(frozen=True)
class Shape:
    """What a partner kind is shown of one resource type: ``None`` elements means all."""

    elements: frozenset[str] | None = None
    required_tag: tuple[str, str] | None = None


def _only(*names: str) -> Shape:
    return Shape(frozenset(names))


CONTACT = ("name", "telecom", "active")
# Per partner kind: the resource types it is ever shown, and how much of each.
SHAPES: Mapping[str, Mapping[str, Shape]] = {
    # Primary care coordinates the person's whole health: the plan, goals and services.
    "physical-health": {
        "Patient": _only("active", "name", "telecom", "gender", "birthDate", "address",
                         "communication", "generalPractitioner", "managingOrganization"),
        "CareTeam": Shape(), "CarePlan": Shape(), "Goal": Shape(), "ServiceRequest": Shape(),
        "RelatedPerson": Shape(), "Practitioner": _only(*CONTACT, "qualification"),
        "PractitionerRole": Shape(), "Organization": Shape(), "Location": Shape(),
    },
    # A discharging hospital needs who to call and the follow-up it referred.
    "hospital": {
        "Patient": _only("active", "name", "telecom", "gender", "birthDate", "address"),
        "CareTeam": _only("status", "subject", "period", "participant", "managingOrganization",
                          "telecom", "name"),
        "Task": Shape(), "ServiceRequest": Shape(),
        "Practitioner": _only(*CONTACT), "PractitionerRole": Shape(),
        "Organization": Shape(), "Location": Shape(),
    },
    # A school: who is on the team and how to reach them, and school-relevant goals; no
    # diagnoses, no clinical reasons, no services.
    "school": {
        "Patient": _only("active", "name", "birthDate"),
        "CareTeam": _only("status", "subject", "period", "participant", "managingOrganization",
                          "telecom", "name"),
        "Goal": Shape(frozenset({"lifecycleStatus", "description", "subject", "target",
                                 "startDate"}), required_tag=SCHOOL_RELEVANT),
        "RelatedPerson": _only("active", "patient", "relationship", "name", "telecom"),
        "Practitioner": _only(*CONTACT), "PractitionerRole": _only(
            "active", "practitioner", "organization", "code", "telecom"),
        "Organization": _only("active", "name", "telecom", "address"),
    },
    # A court or probation: whether there is a plan, its status and period, who the team is,
    # and attendance (which appointments took place, when); no clinical content (no goals, no
    # activities, no reasons, no diagnoses, no visit types, no notes).
    "court": {
        "Patient": _only("active", "name", "birthDate"),
        "CarePlan": _only("status", "intent", "subject", "period", "created", "author",
                          "careTeam"),
        "Encounter": _only("status", "class", "subject", "period", "serviceProvider"),
        "CareTeam": _only("status", "subject", "period", "participant", "managingOrganization",
                          "name"),
        "Practitioner": _only(*CONTACT), "PractitionerRole": _only(
            "active", "practitioner", "organization", "code", "telecom"),
        "Organization": _only("active", "name", "telecom", "address"),
    },
    "other": {},
}


# What the partner that made a referral learns of it without a consent (decision rule 6).
REFERRAL_STATUS = _only("status", "statusReason", "businessStatus", "intent", "code",
                        "authoredOn", "lastModified", "requester", "owner", "executionPeriod",
                        "output")


def shape_for(partner_kind: str | None, resource_type: str) -> Shape | None:
    """How much of ``resource_type`` a partner of this kind is shown; None: nothing."""
    return SHAPES.get(partner_kind or "other", {}).get(resource_type)


def types_for(partner_kind: str | None) -> frozenset[str]:
    return frozenset(SHAPES.get(partner_kind or "other", {}))


def is_relevant(shape: Shape, resource: Mapping[str, Any]) -> bool:
    if shape.required_tag is None:
        return True
    tags = (resource.get("meta") or {}).get("tag", [])
    return any((t.get("system"), t.get("code")) == shape.required_tag for t in tags
               if isinstance(t, dict))


def trimmed(shape: Shape, resource: Mapping[str, Any],
            keep_identifier: Callable[[Mapping[str, Any]], bool] | None = None
            ) -> tuple[dict[str, Any], list[str]]:
    """The resource with only the shape's elements, and the names of those removed. A
    Patient's identifiers are kept only where ``keep_identifier`` says so."""
    if shape.elements is None:
        body, removed = dict(resource), []
    else:
        keep = (ALWAYS_KEPT | shape.elements
                | REQUIRED.get(str(resource.get("resourceType")), set()))
        removed = sorted(name for name in resource if name not in keep)
        body = {name: value for name, value in resource.items() if name in keep}
    identifiers = body.get("identifier")
    if (keep_identifier is not None and resource.get("resourceType") == "Patient"
            and isinstance(identifiers, list)):
        shared = [i for i in identifiers if isinstance(i, dict) and keep_identifier(i)]
        if len(shared) != len(identifiers):
            removed = sorted([*removed, "identifier (other organizations')"])
            if shared:
                body["identifier"] = shared
            else:
                del body["identifier"]
    return body, removed


# A consumer's identifiers a partner sees: its own (its MRN for the consumer), the agency's
# consumer number, and, for partners that bill for care, the Medicaid id; never another
# partner's (a school must not learn the court's case number, nor a court the clinic's MRN).
AGENCY_IDENTIFIER_SYSTEMS = frozenset({identifier_system("consumer"),
                                       identifier_system("agency-number")})
PAYER_KINDS = frozenset({"physical-health", "hospital"})


def shared_identifier(partner_kind: str | None, own_systems: frozenset[str],
                      identifier: Mapping[str, Any]) -> bool:
    system = identifier.get("system")
    return (system in own_systems or system in AGENCY_IDENTIFIER_SYSTEMS
            or (partner_kind in PAYER_KINDS and system == DEFAULT_MEDICAID_SYSTEM))

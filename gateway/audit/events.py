"""Disclosures as FHIR R4 AuditEvents: a pure builder (no clock, no database).

One AuditEvent per disclosure answers the questions an accounting of disclosures must (HIPAA,
42 CFR Part 2): who received what about whom, when, for which purpose, and whether the gateway
let it through. The requester is the requesting agent (a partner's Organization or an
operator), the gateway is the second agent, the consumers are Person entities and every
disclosed resource is a Domain Resource entity, so operators can search the log by ``patient``,
``agent``, ``entity``, ``type``, ``outcome`` and ``date``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
OPERATOR_SYSTEM = "https://fhir-care-gateway.example/operator"

# Beyond this many disclosed resources an event lists none further and says how many it left
# out: a bulk answer must not turn one audit record into megabytes.
MAX_RESOURCE_ENTITIES = 500

# "sender": someone who sent a message we could not attribute to a partner (an unknown HL7 v2
# facility, an unreadable message), named as the message or the connection names them.
REQUESTER_KINDS = ("partner", "operator", "sender")
ACTIONS = frozenset("CRUDE")
# The decision behind a disclosure, as audit-event-outcome codes: a refusal by policy is a
# minor failure (the request was fine, the answer was no), a fault is a serious one.
OUTCOMES = {"permit": "0", "deny": "4", "error": "8"}

_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class EventKind:
    """What ``AuditEvent.type`` (and, for REST, ``subtype``) says about an interaction."""

    type: dict[str, str]
    subtype: dict[str, str] | None = None


def _rest(interaction: str) -> EventKind:
    return EventKind({"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
                     {"system": RESTFUL_INTERACTION, "code": interaction, "display": interaction})


EVENT_KINDS: dict[str, EventKind] = {
    **{interaction: _rest(interaction) for interaction in (
        "read", "vread", "update", "patch", "delete", "history", "history-instance",
        "history-type", "history-system", "create", "search", "search-type", "search-system",
        "capabilities", "transaction", "batch", "operation")},
    # Pushed to a partner (delivery) and received from one (an inbound message).
    "delivery": EventKind({"system": DICOM, "code": "110106", "display": "Export"}),
    "inbound": EventKind({"system": DICOM, "code": "110107", "display": "Import"}),
}

_PATIENT_ENTITY = {
    "type": {"system": AUDIT_ENTITY_TYPE, "code": "1", "display": "Person"},
    "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
}
_CONSENT_ENTITY = {
    "type": {"system": "http://hl7.org/fhir/resource-types", "code": "Consent",
             "display": "Consent"},
    "role": {"system": OBJECT_ROLE, "code": "13", "display": "Security Resource"},
    "description": "the consent this disclosure relied on",
}
_RESOURCE_ENTITY = {
    "type": {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
    "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
}


_NOT_IN_FHIR_STRINGS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def fhir_text(value: str) -> str:
    """``value`` as a FHIR string: the characters R4 strings may not hold (control characters
    other than tab, CR and LF; unpaired surrogates) replaced by U+FFFD, and never blank."""
    value = _NOT_IN_FHIR_STRINGS.sub("\ufffd", value)
    return value if value.strip() else "(blank)"


def disclosure_event(*, requester_kind: str, requester_name: str,
                     requester_organization: str | None, purpose: str | None,
                     interaction: str, action: str, outcome: str, patients: list[str],
                     resources: list[str], recorded: datetime, description: str | None = None,
                     source_observer: str = "fhir-care-gateway",
                     consents: list[str] | None = None) -> dict[str, Any]:
    """The AuditEvent (without id or meta) for one disclosure, or one refused disclosure.

    ``requester_kind``: "partner" (``requester_organization`` is its FHIR Organization id) or
    "operator"; ``purpose``: a v3 ActReason code (TREAT, HPAYMT, ...); ``interaction``: a key of
    EVENT_KINDS; ``action``: C R U D or E; ``outcome``: "permit", "deny" or "error" (or the
    audit-event-outcome code itself); ``patients``: Patient ids; ``resources``: "Type/id"
    references; ``consents``: the Consent ids the disclosure relied on (one entity each, as
    IHE BALP's AuthZconsent pattern records the consent behind an authorization decision);
    ``recorded``: a timezone-aware time. ``description`` is free text about the
    outcome (R4 has no other place for it: ``outcomeDesc``). Raises ValueError for anything
    that would make the record unclear.
    """
    # Names and descriptions may quote what a sender sent (an HL7 field, MSH-4): made FHIR
    # strings, or the AuditEvent would be refused and the message go unaudited.
    requester_name = fhir_text(requester_name) if requester_name else requester_name
    description = fhir_text(description) if description else None
    kind = EVENT_KINDS.get(interaction)
    if kind is None:
        raise ValueError(f"unknown interaction {interaction!r}; expected one of "
                         f"{', '.join(sorted(EVENT_KINDS))}")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of C R U D E, got {action!r}")
    event: dict[str, Any] = {"resourceType": "AuditEvent", "type": kind.type}
    if kind.subtype is not None:
        event["subtype"] = [kind.subtype]
    event["action"] = action
    event["recorded"] = instant(recorded)
    event["outcome"] = outcome_code(outcome)
    if description:
        event["outcomeDesc"] = description
    if purpose:
        event["purposeOfEvent"] = [{"coding": [{"system": ACT_REASON, "code": purpose}]}]
    event["agent"] = [
        requester_agent(requester_kind, requester_name, requester_organization),
        {"who": {"display": source_observer}, "requestor": False},
    ]
    event["source"] = {"observer": {"display": source_observer}}
    entities = (patient_entities(patients) + resource_entities(resources)
                + consent_entities(consents or []))
    if entities:
        event["entity"] = entities
    return event


def outcome_code(outcome: str) -> str:
    """The audit-event-outcome code for "permit", "deny" or "error" (codes pass through)."""
    if outcome in OUTCOMES:
        return OUTCOMES[outcome]
    if outcome in OUTCOMES.values():
        return outcome
    raise ValueError(f"outcome must be one of permit, deny, error, got {outcome!r}")


def instant(moment: datetime) -> str:
    """An R4 instant in UTC with a Z (milliseconds, as ``meta.lastUpdated``)."""
    if moment.tzinfo is None:
        # A naive time could be local or UTC; an audit record must not guess.
        raise ValueError("recorded must be a timezone-aware datetime")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def requester_agent(kind: str, name: str, organization: str | None) -> dict[str, Any]:
    """The requesting agent: a partner as its Organization (the information recipient), an
    operator by name (operators have no FHIR resource of their own)."""
    if not name:
        raise ValueError("requester_name is required")
    if kind == "partner":
        if not organization or not _ID.match(organization):
            raise ValueError(f"a partner's requester_organization must be an Organization id, "
                             f"got {organization!r}")
        return {"type": {"coding": [{"system": PARTICIPATION_TYPE, "code": "IRCP",
                                     "display": "information recipient"}]},
                "who": {"reference": f"Organization/{organization}"},
                "name": name, "requestor": True}
    if kind == "operator":
        return {"who": {"identifier": {"system": OPERATOR_SYSTEM, "value": name},
                        "display": f"operator {name}"},
                "name": name, "requestor": True}
    if kind == "sender":
        return {"who": {"display": name}, "name": name, "requestor": True}
    raise ValueError(f"requester_kind must be one of {', '.join(REQUESTER_KINDS)}, got {kind!r}")


def patient_entities(patients: list[str]) -> list[dict[str, Any]]:
    """One Person entity per consumer (repeats dropped, order kept)."""
    entities = []
    for patient_id in dict.fromkeys(patients):
        if not _ID.match(patient_id):
            raise ValueError(f"{patient_id!r} is not a Patient id")
        entities.append({"what": {"reference": f"Patient/{patient_id}"}, **_PATIENT_ENTITY})
    return entities


def consent_entities(consents: list[str]) -> list[dict[str, Any]]:
    """One entity per Consent a disclosure relied on (IHE BALP AuthZconsent: the consent
    behind an authorization decision, ``what`` the Consent)."""
    entities = []
    for consent_id in dict.fromkeys(consents):
        if not _ID.match(consent_id):
            raise ValueError(f"{consent_id!r} is not a Consent id")
        entities.append({"what": {"reference": f"Consent/{consent_id}"}, **_CONSENT_ENTITY})
    return entities


def resource_entities(resources: list[str]) -> list[dict[str, Any]]:
    """One Domain Resource entity per disclosed resource, at most MAX_RESOURCE_ENTITIES of them;
    beyond that one more entity that says how many were left out."""
    unique = list(dict.fromkeys(resources))
    for reference in unique:
        if not _REFERENCE.match(reference):
            raise ValueError(f"{reference!r} is not a Type/id reference")
    listed = unique[:MAX_RESOURCE_ENTITIES]
    entities = [{"what": {"reference": reference}, **_RESOURCE_ENTITY} for reference in listed]
    left_out = len(unique) - len(listed)
    if left_out:
        entities.append({**_RESOURCE_ENTITY,
                         "description": f"{left_out} more disclosed resources not listed "
                                        f"(an event lists at most {MAX_RESOURCE_ENTITIES})"})
    return entities

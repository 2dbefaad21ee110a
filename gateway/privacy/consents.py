"""What a consumer's Consents allow a recipient: from FHIR Consent resources to grants.

A Consent (as ``gateway/mappings/consents.py`` writes it, or as a partner could send it) is
read as a privacy directive: status, patient, the base provision (``permit``, its period, the
recipient actors, purposes of use and resource-type classes) and nested provisions that carve
exceptions out of it (a ``deny`` of some classes or of content with some security labels) or
add to it (a ``permit`` of content labelled as substance-use-disorder records, which 42 CFR
Part 2 requires to be named explicitly).

``grants_for`` folds every directive of every consumer into ``Grants``: for each consumer, which
resource types the recipient may receive, and which of those also when they carry SUD labels.
The decision point (``decision.py``) and the search filter (``enforcement.py``) both read these
grants, so a search can never count what a read would refuse.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# Security labels that mark substance-use-disorder records (42 CFR Part 2).
SUD_LABELS = frozenset({(ACT_CODE, "SUD"), (ACT_CODE, "ETH")})
RECIPIENT_ROLES = frozenset({"IRCP", "PRCP"})  # information recipient, primary recipient


@dataclass(frozen=True)
class Carve:
    """A nested provision: permit or deny, for some classes and/or security labels."""

    type: str
    classes: frozenset[str]
    labels: frozenset[tuple[str, str]]

    def applies_to(self, resource_type: str) -> bool:
        return not self.classes or resource_type in self.classes


@dataclass(frozen=True)
class Directive:
    """One Consent, as far as disclosure decisions need it."""

    consent_id: str
    patient_id: str
    status: str
    start: date | None
    end: date | None
    recipients: frozenset[str]  # "Organization/<id>"
    purposes: frozenset[str]  # v3 ActReason codes
    classes: frozenset[str]  # resource types
    carves: tuple[Carve, ...] = ()

    def in_force(self, today: date) -> bool:
        return (self.status == "active" and (self.start is None or self.start <= today)
                and (self.end is None or today <= self.end))

    def why_not(self, recipient: str, purpose: str | None, today: date) -> str | None:
        """None when the directive covers this recipient and purpose today; else why not."""
        if recipient not in self.recipients:
            return "names another recipient"
        if self.status != "active":
            return f"is {self.status} (revoked or withdrawn)"
        if self.start is not None and today < self.start:
            return f"is not in force until {self.start.isoformat()}"
        if self.end is not None and today > self.end:
            return f"expired on {self.end.isoformat()}"
        if purpose not in self.purposes:
            return f"does not cover the purpose {purpose}"
        return None

    def types(self) -> tuple[frozenset[str], frozenset[str]]:
        """(types permitted for ordinary content, types permitted for SUD-labelled content)."""
        plain: set[str] = set()
        sud: set[str] = set()
        for resource_type in self.classes:
            carves = [c for c in self.carves if c.applies_to(resource_type)]
            if any(c.type == "deny" and not c.labels for c in carves):
                continue  # the whole class is carved out
            plain.add(resource_type)
            sud_denied = any(c.type == "deny" and c.labels & SUD_LABELS for c in carves)
            sud_permitted = any(c.type == "permit" and c.labels & SUD_LABELS for c in carves)
            if sud_permitted and not sud_denied:
                sud.add(resource_type)
        return frozenset(plain), frozenset(sud)


@dataclass(frozen=True)
class PatientGrant:
    plain: frozenset[str] = frozenset()  # resource types
    sud: frozenset[str] = frozenset()  # resource types, SUD-labelled content too
    consents: tuple[str, ...] = ()  # the Consent ids behind this grant


@dataclass
class Grants:
    """What one recipient may receive, per consumer (Patient id), for one purpose, today."""

    by_patient: dict[str, PatientGrant] = field(default_factory=dict)
    # Why consents that name the recipient did not count (for the audit trail), by patient.
    refused: dict[str, list[str]] = field(default_factory=dict)
    _patients: dict[tuple[str, bool], list[str]] = field(default_factory=dict, repr=False)
    # SQL conditions built from these grants (enforcement.py), reused while they hold.
    filters: dict[Any, Any] = field(default_factory=dict, repr=False)

    def permits(self, patient_id: str, resource_type: str, sud_content: bool) -> bool:
        grant = self.by_patient.get(patient_id)
        if grant is None:
            return False
        return resource_type in (grant.sud if sud_content else grant.plain)

    def patients_for(self, resource_type: str, sud_content: bool) -> list[str]:
        """The consumers whose grants cover ``resource_type`` (computed once per grants: the
        same grants serve many requests)."""
        key = (resource_type, sud_content)
        if key not in self._patients:
            self._patients[key] = sorted(
                patient for patient, grant in self.by_patient.items()
                if resource_type in (grant.sud if sud_content else grant.plain))
        return self._patients[key]


def directive_from(consent: Mapping[str, Any]) -> Directive | None:
    """The directive a Consent expresses; None when it is not a disclosure directive we can
    read (no patient, no base permit): such a consent permits nothing."""
    patient = _local_reference(consent.get("patient"), "Patient")
    provision = consent.get("provision")
    if patient is None or not isinstance(provision, dict) or provision.get("type") != "permit":
        return None
    period = provision.get("period") or {}
    recipients = frozenset(
        reference for actor in provision.get("actor", []) if isinstance(actor, dict)
        if _codes(actor.get("role"), PARTICIPATION_TYPE) & RECIPIENT_ROLES
        and (reference := (actor.get("reference") or {}).get("reference")))
    return Directive(
        consent_id=str(consent.get("id")), patient_id=patient,
        status=str(consent.get("status")),
        start=_date(period.get("start")), end=_date(period.get("end"), end=True),
        recipients=recipients,
        purposes=frozenset(c.get("code") for c in provision.get("purpose", [])
                           if isinstance(c, dict) and c.get("system") == ACT_REASON),
        classes=_classes(provision),
        carves=tuple(Carve(str(nested.get("type")), _classes(nested), _labels(nested))
                     for nested in provision.get("provision", []) if isinstance(nested, dict)))


def grants_for(consents: Iterable[Mapping[str, Any]], recipient: str, purpose: str | None,
               today: date) -> Grants:
    """Fold the consents (any consumers') into what ``recipient`` ("Organization/<id>") may
    receive for ``purpose`` today. Several consents for one consumer add up."""
    grants = Grants()
    for consent in consents:
        directive = directive_from(consent)
        if directive is None or recipient not in directive.recipients:
            continue
        reason = directive.why_not(recipient, purpose, today)
        if reason is not None:
            grants.refused.setdefault(directive.patient_id, []).append(
                f"Consent/{directive.consent_id} {reason}")
            continue
        plain, sud = directive.types()
        current = grants.by_patient.get(directive.patient_id, PatientGrant())
        grants.by_patient[directive.patient_id] = PatientGrant(
            current.plain | plain, current.sud | sud,
            (*current.consents, directive.consent_id))
    return grants


def is_sud_content(resource: Mapping[str, Any]) -> bool:
    """Whether ``meta.security`` labels the resource as substance-use-disorder records."""
    return bool(_labels(resource.get("meta") or {}, "security") & SUD_LABELS)


def _labels(element: Mapping[str, Any], key: str = "securityLabel") -> frozenset[tuple[str, str]]:
    return frozenset((c.get("system"), c.get("code")) for c in element.get(key, [])
                     if isinstance(c, dict))


def _classes(provision: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(c.get("code") for c in provision.get("class", [])
                     if isinstance(c, dict) and c.get("system") == RESOURCE_TYPES)


def _codes(concept: Any, system: str) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    return {c.get("code") for c in concept.get("coding", [])
            if isinstance(c, dict) and c.get("system") == system}


def _local_reference(reference: Any, resource_type: str) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(text, str) and text.startswith(f"{resource_type}/"):
        return text.split("/", 1)[1]
    return None


def _date(value: Any, *, end: bool = False) -> date | None:
    """A period bound as a date. FHIR allows a year or a year-month: as a start it counts from
    its first day, as an end to its last."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) >= 10:
            return date.fromisoformat(value[:10])
        parts = [int(part) for part in value.split("-")]
    except ValueError:
        return None
    year, month = parts[0], parts[1] if len(parts) > 1 else (12 if end else 1)
    try:
        if not end:
            return date(year, month, 1)
        following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return date.fromordinal(following.toordinal() - 1)
    except ValueError:
        return None

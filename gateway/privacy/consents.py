"""What a consumer's Consents allow one recipient: from directives to grants.

``consent_rules.py`` reads each Consent the R4 way. Here the consents of every consumer are
folded, for one recipient, purpose and day, into ``Grants``:

- **which consents count.** Only active consents in force today. Of those that name the
  recipient at their root (an IRCP/PRCP actor), the latest (``Consent.dateTime``) supersedes the
  earlier ones; of those that name no recipient (they reach any partner), likewise the latest.
  A consent that names no recipient reaches only treating providers (primary care and
  hospitals, for treatment under HIPAA); a school, a court or any other partner needs a consent
  that names it: FERPA (34 CFR 99.30) and disclosures outside treatment need the party named
  (stricter than R4, on purpose).
- **which consent decides.** The one that names the recipient, where any of its rules
  applies (the most specific exception wins); otherwise the one that names no recipient;
  otherwise nothing permits and the answer is deny.
- **42 CFR Part 2.** Content labelled as substance-use-disorder records (SUD/ETH) is disclosed
  only where a permit on the deciding path names that content by its security labels, in a
  consent that names the recipient (42 CFR 2.31: the recipient named, the SUD information
  described).

The decision point (``decision.py``) asks ``verdict`` for each resource; the search filter
(``enforcement.py``) asks ``coverage`` per consumer and type, which is exact wherever the
deciding consents do not look at a resource's content, so a search counts only what a read
would show; where they do (``data``, ``dataPeriod``, other labels), the filter decides those
consumers' rows one by one with ``verdict``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from gateway.privacy.consent_rules import (
    ACT_CODE,
    SUD_LABELS,
    Ask,
    Directive,
    directive_from,
    is_sud_content,
)

__all__ = ["SUD_LABELS", "Coverage", "Grants", "Verdict", "directive_from", "grants_for",
           "is_sud_content", "BROAD_CONSENT_KINDS"]

# Partner kinds that a consent naming no recipient reaches (treating providers).
BROAD_CONSENT_KINDS = frozenset({"physical-health", "hospital"})
Coverage = Literal["all", "none", "some"]
_SUD_META = {"security": [{"system": ACT_CODE, "code": "SUD"}]}


@dataclass(frozen=True)
class Verdict:
    permitted: bool
    reason: str
    consents: tuple[str, ...] = ()  # the Consent ids it relied on


@dataclass(frozen=True)
class Chosen:
    """The consents that count for one consumer: the one naming the recipient, and the one
    naming no recipient (each the latest of its kind), in the order they decide."""

    named: Directive | None = None
    broad: Directive | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(d for d in (self.named, self.broad) if d is not None)

    @property
    def consent_ids(self) -> tuple[str, ...]:
        return tuple(d.consent_id for d in self)


@dataclass
class Grants:
    """What one recipient may receive, per consumer (Patient id), for one purpose, today."""

    ask: Ask | None = None
    by_patient: dict[str, Chosen] = field(default_factory=dict)
    # Why consents that could have counted did not (for the audit trail), by patient.
    refused: dict[str, list[str]] = field(default_factory=dict)
    _coverage: dict[tuple[str, str, bool], Coverage] = field(default_factory=dict, repr=False)
    _patients: dict[tuple[str, bool, str], list[str]] = field(default_factory=dict, repr=False)
    # SQL conditions built from these grants (enforcement.py), reused while they hold.
    filters: dict[Any, Any] = field(default_factory=dict, repr=False)

    def verdict(self, patient_id: str, resource: Mapping[str, Any]) -> Verdict:
        """May ``resource`` of consumer ``patient_id`` be disclosed to the recipient?"""
        chosen = self.by_patient.get(patient_id)
        resource_type = resource.get("resourceType")
        if chosen is None or self.ask is None:
            refused = "; ".join(self.refused.get(patient_id, [])) or "no consent names them"
            return Verdict(False, f"no active consent permits {resource_type}: {refused}")
        sud = is_sud_content(resource)
        for directive in chosen:
            outcome = directive.evaluate(self.ask, resource)
            if outcome is None:
                continue
            cited = (directive.consent_id,)
            if outcome.effect == "deny":
                return Verdict(False, f"Consent/{directive.consent_id} denies "
                                      f"{resource_type}", cited)
            if sud and not (outcome.names_sud and not directive.broad):
                return Verdict(False, "substance-use-disorder records need a 42 CFR Part 2 "
                                      "consent that names them and the recipient", cited)
            return Verdict(True, f"consent Consent/{directive.consent_id}", cited)
        return Verdict(False, f"no active consent permits {resource_type}: "
                              f"Consent/{', Consent/'.join(chosen.consent_ids)} do not cover it",
                       chosen.consent_ids)

    def permits(self, patient_id: str, resource: Mapping[str, Any]) -> bool:
        return self.verdict(patient_id, resource).permitted

    def permits_sud(self, patient_id: str, resource: Mapping[str, Any]) -> bool:
        """Whether the same resource would be disclosed if it were labelled SUD content
        (elements labelled SUD inline are removed unless so)."""
        meta = dict(resource.get("meta") or {})
        meta["security"] = [*meta.get("security", []), *_SUD_META["security"]]
        return self.permits(patient_id, {**resource, "meta": meta})

    def coverage(self, patient_id: str, resource_type: str, sud_content: bool) -> Coverage:
        """Whether every, no, or only some resources of the type (ordinary, or SUD-labelled
        content) of this consumer may be disclosed."""
        key = (patient_id, resource_type, sud_content)
        known = self._coverage.get(key)
        if known is None:
            chosen = self.by_patient.get(patient_id)
            if chosen is None:
                known = "none"
            elif any(rule.reads_content for directive in chosen
                     for rule in directive.root.walk()):
                known = "some"
            else:
                sample: dict[str, Any] = {"resourceType": resource_type, "id": "-"}
                if sud_content:
                    sample["meta"] = _SUD_META
                known = "all" if self.permits(patient_id, sample) else "none"
            self._coverage[key] = known
        return known

    def patients_for(self, resource_type: str, sud_content: bool,
                     coverage: Coverage = "all") -> list[str]:
        """The consumers with this coverage of ``resource_type`` (computed once per grants:
        the same grants serve many requests)."""
        key = (resource_type, sud_content, coverage)
        if key not in self._patients:
            self._patients[key] = sorted(
                patient for patient in self.by_patient
                if self.coverage(patient, resource_type, sud_content) == coverage)
        return self._patients[key]


def grants_for(consents: Iterable[Mapping[str, Any]], recipient: str, purpose: str | None,
               today: date, partner_kind: str | None = None) -> Grants:
    """Fold the consents (any consumers') into what ``recipient`` ("Organization/<id>") of
    kind ``partner_kind`` may receive for ``purpose`` today."""
    ask = Ask(recipient, purpose, today)
    grants = Grants(ask=ask)
    named: dict[str, Directive] = {}
    broad: dict[str, Directive] = {}
    for consent in consents:
        directive = directive_from(consent)
        patient = directive.patient_id
        if patient is None:
            continue
        names_recipient = recipient in directive.recipients
        if not names_recipient and not directive.broad:
            continue  # names other recipients only
        reason = directive.why_not(ask)
        if reason is None and directive.broad and partner_kind not in BROAD_CONSENT_KINDS:
            reason = (f"names no recipient, and a {partner_kind or 'non-treating'} partner "
                      f"needs a consent that names it")
        if reason is not None:
            grants.refused.setdefault(patient, []).append(
                f"Consent/{directive.consent_id} {reason}")
            continue
        kept = named if names_recipient else broad
        earlier = kept.get(patient)
        if earlier is not None:
            later, superseded = sorted((earlier, directive), key=_order, reverse=True)
            grants.refused.setdefault(patient, []).append(
                f"Consent/{superseded.consent_id} is superseded by Consent/{later.consent_id}")
            kept[patient] = later
        else:
            kept[patient] = directive
    for patient in named.keys() | broad.keys():
        grants.by_patient[patient] = Chosen(named.get(patient), broad.get(patient))
    return grants


def _order(directive: Directive) -> tuple[str, str]:
    return directive.signed, directive.consent_id

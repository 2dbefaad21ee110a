"""For operators and the privacy officer: the Consents the gateway cannot read, and what each
partner would see of a consumer now, and why.

Neither answer is a disclosure (nothing leaves for a partner); both are asked of the same
decision point that decides real disclosures (``privacy.decision.decide`` through
``AccessPolicy``), so the preview is what a partner would get, not a restatement of it.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from gateway.auth import SYSTEM
from gateway.db.models import ResourceRow
from gateway.fhir import json_text
from gateway.fhir.errors import FhirError
from gateway.partners.registry import Partner, PartnerRegistry, principal_for
from gateway.privacy.consent_rules import RECIPIENT_ROLES, Directive, directive_from
from gateway.privacy.enforcement import PATIENT_ELEMENT, AccessPolicy
from gateway.state import GatewayState


@dataclass(frozen=True)
class ConsentProblem:
    consent_id: str
    patient_id: str | None
    status: str
    problems: tuple[str, ...]
    counts_as: str  # what the decision point makes of it

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "problems": list(self.problems)}


def consent_problems(state: GatewayState) -> list[ConsentProblem]:
    """Every stored Consent with something the gateway cannot read or act on, and why."""
    with state.reading(SYSTEM) as repository:
        session = repository.session
        partners = {f"Organization/{p.organization}" for p in PartnerRegistry(session).all()
                    if p.organization}
        rows = session.execute(select(ResourceRow.content).where(
            ResourceRow.resource_type == "Consent", ResourceRow.deleted.is_(False))
            .order_by(ResourceRow.id)).scalars()
        found = []
        for content in rows:
            directive = directive_from(json_text.loads_stored(content))
            problem = _problem(directive, partners)
            if problem is not None:
                found.append(problem)
    return found


def _problem(directive: Directive, partners: set[str]) -> ConsentProblem | None:
    unknown = sorted({reference for rule in directive.root.walk()
                      for role, reference in rule.actors
                      if role in RECIPIENT_ROLES and reference.startswith("Organization/")
                      and reference not in partners})
    problems = [*directive.problems,
                *(f"recipient {reference} is not a registered partner" for reference in unknown)]
    if not problems:
        return None
    if not directive.readable:
        counts_as = "deny: grants nothing"
    elif directive.recipients and not (directive.recipients & partners):
        counts_as = "deny: names no registered partner"
    else:
        counts_as = "read cautiously: what cannot be evaluated matches a deny, not a permit"
    return ConsentProblem(directive.consent_id, directive.patient_id, directive.status,
                          tuple(problems), counts_as)


@dataclass
class PartnerView:
    partner: str
    kind: str
    organization: str | None
    purpose: str | None
    sees: list[dict[str, Any]] = field(default_factory=list)
    withheld: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def disclosure_preview(state: GatewayState, patient_id: str, partner_id: str | None = None
                       ) -> list[PartnerView]:
    """For each partner (and each purpose it is registered for), what it would receive of
    the consumer's records now, as whom, and which consent allows it; what it would not,
    and why. A 404 FhirError for a consumer that does not exist or a partner unknown."""
    with state.reading(SYSTEM) as repository:
        session = repository.session
        patient = repository.read("Patient", patient_id).json()  # 404 when absent
        records = [patient] + [stored.json() for stored in repository.of_patient(
            patient_id, sorted(PATIENT_ELEMENT))]
        partners = PartnerRegistry(session).all()
        if partner_id is not None:
            partners = [p for p in partners if p.id == partner_id]
            if not partners:
                raise FhirError(404, "not-found", f"no partner {partner_id!r}")
        views = []
        for partner, purpose in _purposes(partners):
            policy = AccessPolicy(principal_for(partner, purpose), session,
                                  state.config.fhir_base_url)
            view = PartnerView(partner.id, partner.kind, partner.organization, purpose)
            for resource in records:
                decision = policy.decision(resource)
                entry = {"resource": f"{resource['resourceType']}/{resource['id']}",
                         "why": decision.reason,
                         "consents": [f"Consent/{c}" for c in decision.consents]}
                if decision.permitted:
                    view.sees.append({**entry, "as": decision.effect,
                                      "removed": list(decision.removed)})
                else:
                    view.withheld.append(entry)
            views.append(view)
    return views


def _purposes(partners: list[Partner]) -> Iterator[tuple[Partner, str | None]]:
    for partner in sorted(partners, key=lambda p: p.id):
        for purpose in partner.purposes or (None,):
            yield partner, purpose


"""The match review queue: hospital events whose person matched a consumer only uncertainly.

The referral workflow does not guess (gateway/workflows/referrals.py): the event waits here
with its scored candidates until an operator decides that it is one of them (``link``) or
someone new (``take_in_as_new``). Either way the event then becomes what it would have become
with a certain match (a referral, for a discharge), in one transaction with the decision, and
the decision is audited. A review is decided once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.audit.events import disclosure_event
from gateway.audit.log import record
from gateway.auth import SYSTEM, Principal
from gateway.db.models import MatchReviewRow
from gateway.fhir.errors import FhirError
from gateway.local.store import LocalRecordStore
from gateway.local.translate import translator_for
from gateway.partners.registry import PartnerRegistry
from gateway.workflows.referrals import (
    Taken,
    act_on,
    create_prospective,
    crosswalked,
    event_from_json,
    learn_identifiers,
)

if TYPE_CHECKING:
    from gateway.state import GatewayState

OPEN, LINKED, CREATED = "open", "linked", "created"
CANCELLED = "cancelled"  # the hospital cancelled the discharge (A13) before anyone decided


@dataclass(frozen=True)
class Review:
    id: int
    partner_id: str
    message_id: str
    status: str
    created_at: datetime
    kind: str
    person: dict[str, Any]
    candidates: list[dict[str, Any]]
    patient_id: str | None
    task_id: str | None
    resolved_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "partner": self.partner_id, "message": self.message_id,
                "status": self.status, "created_at": self.created_at.isoformat(),
                "event": self.kind, "person": self.person, "candidates": self.candidates,
                "patient_id": self.patient_id, "task_id": self.task_id,
                "resolved_by": self.resolved_by}


def reviews(state: GatewayState, status: str | None = OPEN, limit: int = 100) -> list[Review]:
    with state.session_factory() as session:
        statement = select(MatchReviewRow).order_by(MatchReviewRow.id).limit(limit)
        if status:
            statement = statement.where(MatchReviewRow.status == status)
        return [_review(row) for row in session.scalars(statement)]


def review_with_person(state: GatewayState, review_id: int
                       ) -> tuple[Review, dict[str, Any]] | None:
    """One review (any status) and the Patient as the message has it, every field, for an
    operator comparing it with the candidates; None when there is no such review."""
    with state.session_factory() as session:
        row = session.scalars(select(MatchReviewRow).where(MatchReviewRow.id == review_id)
                              ).one_or_none()
        if row is None:
            return None
        return _review(row), json.loads(row.event).get("patient") or {}


def link(state: GatewayState, review_id: int, patient_id: str, operator: Principal) -> Taken:
    """The person is consumer ``patient_id`` (any Patient, not only a listed candidate: the
    operator may have found them another way)."""
    return _resolve(state, review_id, operator, patient_id)


def take_in_as_new(state: GatewayState, review_id: int, operator: Principal) -> Taken:
    """The person is none of the candidates: a prospective consumer."""
    return _resolve(state, review_id, operator, None)


def _resolve(state: GatewayState, review_id: int, operator: Principal,
             patient_id: str | None) -> Taken:
    now = datetime.now(UTC)
    with state.writing(SYSTEM) as repository:
        session = repository.session
        row = session.scalars(select(MatchReviewRow).where(MatchReviewRow.id == review_id)
                              .with_for_update()).one_or_none()
        if row is None:
            raise FhirError(404, "not-found", f"match review {review_id} is not known")
        if row.status != OPEN:
            raise FhirError(409, "conflict", f"match review {review_id} was already decided "
                                             f"({row.status}, by {row.resolved_by})")
        partner = PartnerRegistry(session).get(row.partner_id)
        if partner is None:
            raise FhirError(409, "conflict", f"partner {row.partner_id} is no longer registered")
        event = event_from_json(row.event)
        ctx = translator_for(state.config).context(LocalRecordStore(session))
        probe = crosswalked(event.patient, partner, ctx)
        if patient_id is not None:
            patient = repository.read("Patient", patient_id).json()  # 404 when unknown
            written = learn_identifiers(repository, patient, probe, partner)
            taken = act_on(repository, partner, event, patient_id, ctx, now, written=written)
            row.status = LINKED
        else:
            new_id = create_prospective(repository, probe)
            taken = act_on(repository, partner, event, new_id, ctx, now,
                           written=(f"Patient/{new_id}",), prospective=True)
            row.status = CREATED
        row.resolved_by, row.resolved_at = operator.name, now
        row.patient_id, row.task_id = taken.patient_id, taken.task_id
        record(repository, disclosure_event(
            requester_kind="operator", requester_name=operator.name,
            requester_organization=None, purpose="TREAT", interaction="operation",
            action="U", outcome="permit",
            patients=[taken.patient_id] if taken.patient_id else [],
            resources=list(taken.written), recorded=now,
            description=f"match review {review_id} ({partner.id} message {row.message_id}) "
                        f"decided: {row.status}; {taken.detail}"[:1000]))
        return taken


def _review(row: MatchReviewRow) -> Review:
    event = json.loads(row.event)
    patient = event.get("patient") or {}
    name = (patient.get("name") or [{}])[0]
    person = {"name": " ".join([*name.get("given", []), name.get("family", "")]).strip(),
              "birth_date": patient.get("birthDate"), "gender": patient.get("gender")}
    return Review(row.id, row.partner_id, row.message_id, row.status, row.created_at,
                  event.get("kind", ""), person, json.loads(row.candidates), row.patient_id,
                  row.task_id, row.resolved_by)

"""The transactional outbox: the deliveries a change causes, written in the change's transaction.

The outbox is a hook of the repository (registered by the app factory, ``register``): every new
version of a resource, from a single write or the bulk import, passes through it. If
the resource belongs to a consumer and some outbound partner's kind listens to its type
(gateway/adapters/outbound.py), a delivery for that partner and consumer is marked pending in
the same transaction, so a committed change always has its deliveries and a rolled-back one has
none. At most one delivery per partner and consumer is pending: later changes fold into it
(``generation`` + 1), and the worker sends the consumer's current state, so the latest version
is what arrives. Nothing is decided here; consent is decided when the delivery is sent.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.adapters.outbound import TRIGGERS, WATCHED_TYPES, concerns
from gateway.db.models import DeliveryRow, PartnerRow
from gateway.fhir import json_text
from gateway.fhir.hooks import Change, RepositoryHooks
from gateway.fhir.repository import Repository
from gateway.privacy.consents import BROAD_CONSENT_KINDS, directive_from
from gateway.privacy.enforcement import patient_of

PENDING = "pending"
# A resource's content as the writers have it at hand: parsed, as stored JSON text, or none.
Version = Mapping[str, Any] | str | None
_deliveries = DeliveryRow.__table__


@dataclass(frozen=True)
class OutboundPartner:
    """A partner the gateway pushes to (or notifies): enabled, with a FHIR base, a drop folder
    or a webhook, of a kind with an adapter."""

    id: str
    organization: str
    triggers: frozenset[str]
    kind: str = ""


@dataclass(frozen=True)
class Pending:
    partner_id: str
    patient_id: str
    cause: str  # "Type/id" of the change


def outbound_partners(session: Session) -> list[OutboundPartner]:
    partners = []
    for row in session.execute(select(PartnerRow.id, PartnerRow.organization, PartnerRow.kind,
                                      PartnerRow.details).where(PartnerRow.enabled.is_(True))):
        triggers = TRIGGERS.get(row.kind)
        endpoints = json.loads(row.details).get("endpoints", {})
        if triggers and (endpoints.get("fhir_base") or endpoints.get("drop_folder")
                         or endpoints.get("webhook")):
            partners.append(OutboundPartner(row.id, row.organization, triggers, row.kind))
    return partners


def register(hooks: RepositoryHooks) -> None:
    """Mark the deliveries of every change in its transaction; write deferred ones before
    the commit."""
    hooks.stored.append(_mark_deliveries)
    hooks.on_before_commit(_flush)


def outbox_of(repository: Repository) -> Outbox:
    """The outbox of ``repository``'s transaction (made on first use)."""
    outbox = repository.extensions.get("outbox")
    if outbox is None:
        base_url = repository.base_url
        outbox = repository.extensions["outbox"] = Outbox(
            repository.session, lambda resource: patient_of(resource, base_url),
            repository.clock)
    return outbox


def _mark_deliveries(repository: Repository, changes: Sequence[Change]) -> None:
    if not any(change.resource_type in WATCHED_TYPES for change in changes):
        return
    outbox = outbox_of(repository)
    outbox.enqueue([pending for change in changes
                    for pending in outbox.pending_for(change.resource_type, change.id,
                                                      [change.content, change.previous])])


def _flush(repository: Repository) -> None:
    outbox = repository.extensions.get("outbox")
    if outbox is not None:
        outbox.flush()


class Outbox:
    """One transaction's view of the outbox (kept in its Repository's ``extensions``)."""

    def __init__(self, session: Session, patient_of: Callable[[Mapping[str, Any]], str | None],
                 clock: Callable[[], datetime]) -> None:
        self.session = session
        self.patient_of = patient_of
        self.clock = clock
        self._partners: list[OutboundPartner] | None = None
        # Deferred (``defer``): pending deliveries collected and written once, at ``flush``,
        # for writers that change several of one consumer's resources in a transaction.
        self._deferred: dict[tuple[str, str], Pending] | None = None

    def defer(self) -> None:
        self._deferred = {}

    def flush(self) -> None:
        """Write the deferred pending deliveries (in the caller's transaction)."""
        if self._deferred:
            deferred, self._deferred = list(self._deferred.values()), {}
            self._write(deferred)

    @property
    def partners(self) -> list[OutboundPartner]:
        # Read once per repository (a request, an import chunk): partners change rarely, and a
        # partner added now hears about changes committed after it was added.
        if self._partners is None:
            self._partners = outbound_partners(self.session)
        return self._partners

    def pending_for(self, resource_type: str, resource_id: str,
                    versions: Iterable[Version]) -> list[Pending]:
        if resource_type not in WATCHED_TYPES or not self.partners:
            return []
        cause = f"{resource_type}/{resource_id}"
        wanted: dict[tuple[str, str], Pending] = {}
        for version in versions:
            if not version:
                continue
            content = json_text.loads_stored(version) if isinstance(version, str) else version
            patient_id = self.patient_of(content)
            if patient_id is None:
                continue
            if resource_type == "Consent":
                # Those it names; one that names no recipient reaches every partner whose kind
                # such a consent can reach (privacy/consents.py).
                directive = directive_from(content)
                partners = [p for p in self.partners
                            if f"Organization/{p.organization}" in directive.recipients
                            or (directive.broad and p.kind in BROAD_CONSENT_KINDS)]
            else:
                partners = [p for p in self.partners if resource_type in p.triggers
                            and concerns(p.kind, p.organization, resource_type, content)]
            for partner in partners:
                wanted[(partner.id, patient_id)] = Pending(partner.id, patient_id, cause)
        return list(wanted.values())

    def enqueue(self, pending: Iterable[Pending]) -> None:
        """Mark deliveries pending (or fold the change into the pending one)."""
        if self._deferred is not None:
            for item in pending:
                self._deferred[(item.partner_id, item.patient_id)] = item
            return
        self._write(pending)

    def _write(self, pending: Iterable[Pending]) -> None:
        rows = [{"partner_id": p.partner_id, "patient_id": p.patient_id, "status": PENDING,
                 "generation": 1, "cause": p.cause[:200], "attempts": 0}
                for p in pending]
        if not rows:
            return
        now = self.clock()
        for row in rows:
            row.update(created_at=now, changed_at=now, next_attempt_at=now)
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(_deliveries)
        statement = statement.on_conflict_do_update(
            index_elements=[_deliveries.c.partner_id, _deliveries.c.patient_id],
            index_where=text("status = 'pending'"),  # the partial unique index's WHERE
            # The pending delivery keeps its place and its backoff: its next attempt sends the
            # consumer's state as it is then, this change included.
            set_={"generation": _deliveries.c.generation + 1,
                  "cause": statement.excluded.cause,
                  "changed_at": statement.excluded.changed_at})
        self.session.connection().execute(statement, rows)

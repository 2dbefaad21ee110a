"""Checking the audit chain: is every AuditEvent still exactly as it was recorded?

Walks ``audit_chain`` in order, a batch at a time (the log only grows), and recomputes each
link from the AuditEvent as it is stored now. The first link that does not hold is reported:
an AuditEvent changed or removed, a link edited, removed or inserted. Then it looks for
AuditEvents that have no link at all (written around the repository).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Row, and_, bindparam, select
from sqlalchemy.orm import Session

from gateway.audit.chain import GENESIS_HASH, entry_hash
from gateway.db.models import AuditChainRow, ResourceRow
from gateway.fhir import json_text

BATCH_SIZE = 1000

_chain = AuditChainRow.__table__
_resource = ResourceRow.__table__
_is_linked_event = and_(_resource.c.resource_type == "AuditEvent",
                        _resource.c.id == _chain.c.audit_event_id)
# Each link with its AuditEvent's current row (NULLs when the row is gone).
_LINKS_AFTER = (
    select(_chain.c.seq, _chain.c.audit_event_id, _chain.c.previous_hash, _chain.c.entry_hash,
           _resource.c.deleted, _resource.c.content)
    .select_from(_chain.outerjoin(_resource, _is_linked_event))
    .where(_chain.c.seq > bindparam("after"))
    .order_by(_chain.c.seq)
    .limit(bindparam("batch"))
)
_UNLINKED_EVENT = (
    select(_resource.c.id)
    .select_from(_resource.outerjoin(_chain, _is_linked_event))
    .where(_resource.c.resource_type == "AuditEvent", _chain.c.seq.is_(None))
    .order_by(_resource.c.pk)
    .limit(1)
)


@dataclass(frozen=True)
class BrokenLink:
    """Where the chain stops holding: ``seq`` is None for an AuditEvent with no link."""

    seq: int | None
    audit_event_id: str
    reason: str

    def __str__(self) -> str:
        if self.seq is None:
            return (f"audit chain broken: AuditEvent/{self.audit_event_id} is not linked "
                    f"into the chain: {self.reason}")
        return (f"audit chain broken at entry {self.seq} (AuditEvent/{self.audit_event_id}): "
                f"{self.reason}")


@dataclass(frozen=True)
class VerifyResult:
    entries: int  # links checked (up to and including a broken one)
    broken: BrokenLink | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_chain(session: Session, *, batch_size: int = BATCH_SIZE) -> VerifyResult:
    """Check every link in order; the count and the first broken link, or None."""
    connection = session.connection()
    expected_previous = GENESIS_HASH
    entries = 0
    after = 0
    while True:
        links = connection.execute(_LINKS_AFTER, {"after": after, "batch": batch_size}).all()
        for link in links:
            entries += 1
            reason = _link_problem(link, expected_previous)
            if reason is not None:
                return VerifyResult(entries, BrokenLink(link.seq, link.audit_event_id, reason))
            expected_previous = link.entry_hash
        if len(links) < batch_size:
            break
        after = links[-1].seq
    unlinked = connection.execute(_UNLINKED_EVENT).scalar_one_or_none()
    if unlinked is not None:
        return VerifyResult(entries, BrokenLink(None, unlinked, "it was stored without going "
                                                               "through the audit log"))
    return VerifyResult(entries, None)


def _link_problem(link: Row, expected_previous: str) -> str | None:
    """Why this link does not hold, or None."""
    if link.previous_hash != expected_previous:
        # The link before it was removed or edited, or this one was inserted or edited.
        return "its previous hash does not match the entry before it"
    if link.deleted is None:
        return "the AuditEvent is missing"
    if link.deleted or link.content is None:
        return "the AuditEvent was deleted"
    try:
        stored_event = json_text.loads_stored(link.content)
    except json.JSONDecodeError:
        return "the stored AuditEvent is not valid JSON"
    if entry_hash(link.previous_hash, stored_event) != link.entry_hash:
        return "the AuditEvent or its entry hash was changed after it was recorded"
    return None

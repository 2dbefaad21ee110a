"""Checking the audit trail: is everything a reader is served of each AuditEvent still
exactly what was recorded, and is nothing missing?

Walks ``audit_chain`` in order, a batch at a time (the log only grows), and for each link:
1. recomputes the link from the AuditEvent as it is stored now (the event as read): an
   AuditEvent changed or removed, a link edited, removed or inserted breaks it;
2. holds the event's version copy (vread, history) and its stored row's version and
   last-updated time to the event as recorded (copies.py);
3. recomputes the event's search index rows with the gateway's own indexer and compares them
   with those stored: a missing row hides the event from a search, an added one puts it in
   another's.
Then it looks for AuditEvents with no link at all (written around the repository) and index
rows that name AuditEvent but belong to none, and, given a checkpoint (checkpoint.py), that the
chain is at least as long as the checkpoint counted (its tail was not cut off) and that its
event at that position has the checkpointed hash (it was not recomputed). Every problem is
reported, each once.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, bindparam, exists, func, select
from sqlalchemy.orm import Session

from gateway.audit.chain import GENESIS_HASH, entry_hash
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.copies import (
    StoredCopies,
    expected_index,
    index_problems,
    load_copies,
    version_problems,
)
from gateway.db.models import INDEX_TABLES, AuditChainRow, ResourceRow
from gateway.fhir import json_text
from gateway.fhir.search.registry import SearchParameterRegistry

BATCH_SIZE = 1000

_chain = AuditChainRow.__table__
_resource = ResourceRow.__table__
_is_linked_event = and_(_resource.c.resource_type == "AuditEvent",
                        _resource.c.id == _chain.c.audit_event_id)
# Each link with its AuditEvent's current row (NULLs when the row is gone).
_LINKS_AFTER = (
    select(_chain.c.seq, _chain.c.audit_event_id, _chain.c.previous_hash, _chain.c.entry_hash,
           _resource.c.pk, _resource.c.version_id, _resource.c.last_updated,
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
# Index rows that would make a search return something as an AuditEvent that is none.
_STRAY_INDEX_ROWS = [
    select(func.count()).select_from(model.__table__).where(
        model.__table__.c.resource_type == "AuditEvent",
        ~exists().where(_resource.c.pk == model.__table__.c.resource_pk,
                        _resource.c.resource_type == "AuditEvent"))
    for model in INDEX_TABLES
]


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
class Problem:
    """One thing a reader would be served wrongly, or a sign of lost or rewritten events.

    ``kind``: chain-broken, unlinked-event, event-row, version-copy, index-rows,
    stray-index-rows, truncated or rewritten."""

    kind: str
    message: str
    audit_event_id: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message,
                "audit_event_id": self.audit_event_id, "entry": self.seq}


@dataclass(frozen=True)
class VerifyResult:
    entries: int  # links in the chain
    broken: BrokenLink | None  # the first link that does not hold
    problems: tuple[Problem, ...] = ()  # everything found, in the chain's order
    checkpoint: Checkpoint | None = None  # what the chain was checked against

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch_size: int = BATCH_SIZE,
                 checkpoint: Checkpoint | None = None,
                 registry: SearchParameterRegistry | None = None,
                 base_url: str | None = None) -> VerifyResult:
    """Check every link in order, each AuditEvent's version copy and index rows, and the
    chain against ``checkpoint``: the count, the first broken link and every problem."""
    connection = session.connection()
    walk = _Walk(registry or SearchParameterRegistry.load(), base_url, checkpoint)
    after = 0
    while True:
        links = connection.execute(_LINKS_AFTER, {"after": after, "batch": batch_size}).all()
        copies = load_copies(connection, [link.pk for link in links if link.pk is not None])
        for link in links:
            walk.step(link, copies)
        if len(links) < batch_size:
            break
        after = links[-1].seq
    unlinked = connection.execute(_UNLINKED_EVENT).scalar_one_or_none()
    if unlinked is not None:
        broken = BrokenLink(None, unlinked, "it was stored without going through the audit log")
        walk.found("unlinked-event", str(broken), unlinked, None)
        walk.broken = walk.broken or broken
    stray = sum(connection.execute(query).scalar_one() for query in _STRAY_INDEX_ROWS)
    if stray:
        walk.found("stray-index-rows", f"{stray} search index row(s) name AuditEvent but "
                   f"belong to no AuditEvent", None, None)
    walk.finish()
    return VerifyResult(walk.entries, walk.broken, tuple(walk.problems), checkpoint)


class _Walk:
    """The state of one walk along the chain."""

    def __init__(self, registry: SearchParameterRegistry, base_url: str | None,
                 checkpoint: Checkpoint | None) -> None:
        self.registry = registry
        self.base_url = base_url
        self.checkpoint = checkpoint
        self.expected_previous = GENESIS_HASH
        self.entries = 0
        self.broken: BrokenLink | None = None
        self.problems: list[Problem] = []

    def found(self, kind: str, message: str, audit_event_id: str | None,
              seq: int | None) -> None:
        self.problems.append(Problem(kind, message, audit_event_id, seq))

    def step(self, link: Row, copies: StoredCopies) -> None:
        self.entries += 1
        reason, event = _link_problem(link, self.expected_previous,
                                      copies.versions.get(link.pk, []))
        if reason is not None:
            broken = BrokenLink(link.seq, link.audit_event_id, reason)
            self.broken = self.broken or broken
            self.found("chain-broken", str(broken), link.audit_event_id, link.seq)
        # The next link follows this one as stored: one edit is reported once, not again at
        # every later link.
        self.expected_previous = link.entry_hash
        if self.checkpoint is not None and self.entries == self.checkpoint.count \
                and link.entry_hash != self.checkpoint.head:
            self.found("rewritten", f"event {self.entries} of the chain "
                       f"(AuditEvent/{link.audit_event_id}) is not the head of the "
                       f"{self.checkpoint.describe()}: the chain up to it was rewritten or "
                       f"recomputed", link.audit_event_id, link.seq)
        if event is None:  # nothing recorded to hold the copies to
            return
        where = f"AuditEvent/{link.audit_event_id} (entry {link.seq})"

        def same_event(content: str | None) -> bool:
            return _recorded(link, content) is not None

        for kind, message in version_problems(link, event, copies.versions.get(link.pk, []),
                                              same_event):
            self.found(kind, f"{where}: {message}", link.audit_event_id, link.seq)
        expected = expected_index(link.pk, event, self.registry, self.base_url)
        for message in index_problems(expected, copies.index.get(link.pk, Counter())):
            self.found("index-rows", f"{where}: {message}", link.audit_event_id, link.seq)

    def finish(self) -> None:
        checkpoint = self.checkpoint
        if checkpoint is not None and self.entries < checkpoint.count:
            missing = checkpoint.count - self.entries
            self.found("truncated", f"the chain has {self.entries} events, the "
                       f"{checkpoint.describe()} counted {checkpoint.count}: {missing} "
                       f"missing after event {self.entries} (the newest were removed)",
                       None, None)


def _link_problem(link: Row, expected_previous: str, versions: list[Any]
                  ) -> tuple[str | None, dict[str, Any] | None]:
    """Why this link does not hold (or None), and the event as recorded when some stored copy
    still is it (the event as read, or else its version copy)."""
    reason = None
    if link.previous_hash != expected_previous:
        # The link before it was removed or edited, or this one was inserted or edited.
        reason = "its previous hash does not match the entry before it"
    if link.deleted is None:
        return reason or "the AuditEvent is missing", None
    if link.deleted or link.content is None:
        return reason or "the AuditEvent was deleted", None
    event = _recorded(link, link.content)
    if event is not None:
        return reason, event
    try:
        json_text.loads_stored(link.content)
    except json.JSONDecodeError:
        reason = reason or "the stored AuditEvent is not valid JSON"
    reason = reason or "the AuditEvent or its entry hash was changed after it was recorded"
    # The event as read was changed; its version copy may still be the one recorded.
    for version in versions:
        event = _recorded(link, version.content)
        if event is not None:
            return reason, event
    return reason, None


def _recorded(link: Row, content: str | None) -> dict[str, Any] | None:
    """``content`` parsed, if it is the event the link's hash covers; else None."""
    if content is None:
        return None
    try:
        event = json_text.loads_stored(content)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or entry_hash(link.previous_hash, event) != link.entry_hash:
        return None
    return event

"""The hash chain over the AuditEvents: one step per committed batch.

The repository refuses to change or delete an AuditEvent, but whoever can write to the database
directly could still edit one. Every transaction that stores AuditEvents therefore appends one
step to ``audit_batch`` whose hash covers the step before it and each of its events exactly as
stored, in order: any later edit, removal or insertion of an event or a step shows up in
``gateway audit verify`` (verify.py). The events are collected by a hook of the repository
(``register``, called by the app factory) whoever creates them (the gateway's own accounting,
whose group-commit writer stores many requests' events in one transaction, a REST create, a
transaction entry), and the step is written just before that transaction commits, under the
chain's lock, which is therefore held only from there to the commit.

A step of one event has the hash a link of the earlier one-link-per-event chain had, so the
chain migrated from it (migration 0010) still extends the checkpoints signed before.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from gateway.db.models import AuditBatchRow
from gateway.fhir import json_text
from gateway.fhir.hooks import Change, RepositoryHooks
from gateway.fhir.repository import Repository
from gateway.fhir.versions import utc_now

# The previous hash of the first step.
GENESIS_HASH = "0" * 64
# The PostgreSQL advisory lock that serializes appends ("auditcha" in ASCII; any fixed bigint
# that no other part of the gateway uses).
CHAIN_LOCK_KEY = 0x6175646974636861

_chain = AuditBatchRow.__table__
_HEAD = select(_chain.c.batch_hash, _chain.c.total).order_by(_chain.c.seq.desc()).limit(1)
_APPEND = insert(_chain)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# Where a repository keeps the events of its transaction until the step is written.
_HELD = "audit_chain_events"
# The chain's before-commit hook runs after every other: its lock is then held only from
# there to the commit.
LAST = 100


def register(hooks: RepositoryHooks) -> None:
    """Collect every AuditEvent a repository stores; write their step last before the commit."""
    hooks.stored.append(_hold_audit_events)
    hooks.on_before_commit(flush_links, order=LAST)


def flush_links(repository: Repository) -> None:
    """Append one step for the AuditEvents this transaction stored (none: nothing)."""
    held = repository.extensions.pop(_HELD, None)
    if held:
        append_step(repository.session, held)


def _hold_audit_events(repository: Repository, changes: Sequence[Change]) -> None:
    for change in changes:
        if change.resource_type == "AuditEvent" and change.created \
                and change.content is not None:
            repository.extensions.setdefault(_HELD, []).append((change.id, change.content))


def append_step(session: Session, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Link just-stored AuditEvents ((id, event as stored) in order) into the chain as one
    step, in the caller's transaction."""
    _lock_chain(session)
    head = session.connection().execute(_HEAD).one_or_none()
    previous_hash, total = (GENESIS_HASH, 0) if head is None else (head.batch_hash, head.total)
    texts = [canonical_json(event) for _, event in events]
    session.connection().execute(_APPEND, {
        "total": total + len(events),
        "event_ids": " ".join(event_id for event_id, _ in events),
        "event_hashes": " ".join(_sha256(text) for text in texts),
        "previous_hash": previous_hash,
        "batch_hash": step_hash(previous_hash, texts),
        "committed_at": utc_now(),
    })


def step_hash(previous_hash: str, canonical_events: Sequence[str]) -> str:
    """SHA-256 over the previous step's hash and each event (canonical JSON, meta included),
    one per line: canonical JSON has no raw line break, so the lines cannot be re-cut."""
    return _sha256("\n".join([previous_hash, *canonical_events]))


def event_hash(stored_event: dict[str, Any]) -> str:
    """One event's own hash (what ``event_hashes`` lists)."""
    return _sha256(canonical_json(stored_event))


def canonical_json(resource: dict[str, Any]) -> str:
    """One spelling per JSON value, so the hash does not depend on key order or spacing."""
    return json_text.dumps(resource, sort_keys=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    # Two writers reading the same head would both link to it and fork the chain. PostgreSQL:
    # a transaction-scoped advisory lock, released at commit, so the next writer reads the new
    # head (READ COMMITTED takes a fresh snapshot per statement). SQLite: writing transactions
    # already hold the database's one write lock (BEGIN IMMEDIATE, see begin_write). The
    # unique previous_hash is the last line of defence either way.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": CHAIN_LOCK_KEY})

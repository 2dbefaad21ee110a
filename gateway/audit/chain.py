"""The hash chain over the AuditEvents.

The repository refuses to change or delete an AuditEvent, but whoever can write to the database
directly could still edit one. Each AuditEvent therefore gets a link in ``audit_chain`` whose
hash covers the event exactly as stored and the link before it: any later edit, removal or
insertion shows up in ``gateway audit verify`` (verify.py). The link is appended by a hook of the
repository (``register``, called by the app factory) in the same transaction as the AuditEvent
is stored, whoever creates it (the gateway's own accounting, a REST create, a transaction
entry).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from gateway.db.models import AuditChainRow
from gateway.fhir import json_text
from gateway.fhir.hooks import Change, RepositoryHooks
from gateway.fhir.repository import Repository

# The previous hash of the first link.
GENESIS_HASH = "0" * 64
# The PostgreSQL advisory lock that serializes appends ("auditcha" in ASCII; any fixed bigint
# that no other part of the gateway uses).
CHAIN_LOCK_KEY = 0x6175646974636861

_chain = AuditChainRow.__table__
_HEAD = select(_chain.c.entry_hash).order_by(_chain.c.seq.desc()).limit(1)
_APPEND = insert(_chain)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# Where a repository keeps the links it holds (``defer_links``).
_HELD = "audit_chain_links"
# The chain's before-commit hook runs after every other: its lock is then held only from
# there to the commit.
LAST = 100


def register(hooks: RepositoryHooks) -> None:
    """Link every AuditEvent a repository stores; write held links last before the commit."""
    hooks.stored.append(_link_audit_events)
    hooks.on_before_commit(flush_links, order=LAST)


def defer_links(repository: Repository) -> None:
    """Hold the links of this transaction's AuditEvents until just before the commit, rather
    than taking the chain's lock at the first one: for a writer whose transaction does more
    after storing its AuditEvent (the inbound message path)."""
    repository.extensions.setdefault(_HELD, [])


def flush_links(repository: Repository) -> None:
    held = repository.extensions.get(_HELD)
    while held:
        append_link(repository.session, *held.pop(0))


def _link_audit_events(repository: Repository, changes: Sequence[Change]) -> None:
    for change in changes:
        if change.resource_type != "AuditEvent" or not change.created \
                or change.content is None:
            continue
        held = repository.extensions.get(_HELD)
        if held is None:
            append_link(repository.session, change.id, change.last_updated, change.content)
        else:
            held.append((change.id, change.last_updated, change.content))


def append_link(session: Session, audit_event_id: str, stored_at: datetime,
                stored_event: dict[str, Any]) -> None:
    """Link a just-stored AuditEvent into the chain (in the caller's transaction)."""
    _lock_chain(session)
    previous_hash = session.connection().execute(_HEAD).scalar_one_or_none() or GENESIS_HASH
    session.connection().execute(_APPEND, {
        "audit_event_id": audit_event_id,
        "recorded_at": stored_at,
        "previous_hash": previous_hash,
        "entry_hash": entry_hash(previous_hash, stored_event),
    })


def entry_hash(previous_hash: str, stored_event: dict[str, Any]) -> str:
    """SHA-256 over the previous link's hash and the AuditEvent as stored (meta included)."""
    payload = previous_hash + "\n" + canonical_json(stored_event)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def canonical_json(resource: dict[str, Any]) -> str:
    """One spelling per JSON value, so the hash does not depend on key order or spacing."""
    return json_text.dumps(resource, sort_keys=True)


def _lock_chain(session: Session) -> None:
    # Two writers reading the same head would both link to it and fork the chain. PostgreSQL:
    # a transaction-scoped advisory lock, released at commit, so the next writer reads the new
    # head (READ COMMITTED takes a fresh snapshot per statement). SQLite: writing transactions
    # already hold the database's one write lock (BEGIN IMMEDIATE, see begin_write). The
    # unique previous_hash is the last line of defence either way.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": CHAIN_LOCK_KEY})

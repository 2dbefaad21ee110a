"""Checking the audit trail: is every AuditEvent a reader is served still exactly what was
recorded, and is nothing missing?

Walks ``audit_batch`` (the chain, one step per committed batch: chain.py) in order, a chunk of
steps at a time (the log only grows), and for each step:
1. its previous hash must be the step before it's hash, and its count must follow on: a step
   removed, inserted or edited breaks this;
2. each event it lists must be in the journal as recorded: its own hash (``event_hashes``)
   recomputed from the event as stored now finds an event changed or removed, and the step's
   hash recomputed from all its events finds its list or hashes edited;
3. for each event as recorded, the journal row's ``lastUpdated`` (what ``_lastUpdated``
   searches and history go by) must agree with it, and its search index rows must be exactly
   those the gateway's own indexer derives from it: a missing row hides the event from a
   search, an added one puts it in another's.
Then it looks for AuditEvents in the journal that no step lists (written around the audit log)
and journal index rows that belong to no event, and, given a checkpoint (checkpoint.py), that
the chain is at least as long as the checkpoint counted (its tail was not cut off) and that a
step ends at that count with the checkpointed hash (it was not recomputed). Every problem is
reported, each once. Events are numbered 1, 2, ... in the chain's order ("entry N").
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, exists, func, select
from sqlalchemy.orm import Session

from gateway.audit.chain import GENESIS_HASH, canonical_json, step_hash
from gateway.audit.checkpoint import Checkpoint
from gateway.db.models import JOURNAL_INDEX_TABLES, AuditBatchRow, JournalRow
from gateway.fhir import json_text
from gateway.fhir.journal import journal_index_rows
from gateway.fhir.search.registry import SearchParameterRegistry
from gateway.fhir.versions import as_utc, format_instant

BATCH_SIZE = 1000  # steps per chunk read

_steps = AuditBatchRow.__table__
_journal = JournalRow.__table__
# The columns that say what an index row finds (not its row id or owner).
_SKIPPED = {"row_id", "resource_pk"}


@dataclass(frozen=True)
class BrokenLink:
    """Where the chain stops holding: ``seq`` (the event's entry number) is None for an
    AuditEvent that no step lists."""

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

    ``kind``: chain-broken, unlinked-event, event-row, index-rows, stray-index-rows, truncated
    or rewritten."""

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
    entries: int  # events in the chain
    broken: BrokenLink | None  # the first place the chain does not hold
    problems: tuple[Problem, ...] = ()  # everything found, in the chain's order
    checkpoint: Checkpoint | None = None  # what the chain was checked against

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch_size: int = BATCH_SIZE,
                 checkpoint: Checkpoint | None = None,
                 registry: SearchParameterRegistry | None = None,
                 base_url: str | None = None) -> VerifyResult:
    """Check every step in order, each event as recorded and its journal row and index rows,
    and the chain against ``checkpoint``: the count, the first break and every problem."""
    connection = session.connection()
    walk = _Walk(registry or SearchParameterRegistry.load(), base_url, checkpoint)
    after = 0
    while True:
        steps = connection.execute(
            select(_steps).where(_steps.c.seq > after).order_by(_steps.c.seq)
            .limit(batch_size)).all()
        ids = [event_id for step in steps for event_id in step.event_ids.split()]
        entries = _load_entries(connection, ids)
        index = _load_index(connection, [entry.pk for entry in entries.values()])
        for step in steps:
            walk.step(step, entries, index)
        if len(steps) < batch_size:
            break
        after = steps[-1].seq
    walk.unlisted(connection)
    stray = sum(connection.execute(query).scalar_one() for query in _STRAY_INDEX_ROWS)
    if stray:
        walk.found("stray-index-rows", f"{stray} search index row(s) name AuditEvent but "
                   f"belong to no AuditEvent", None, None)
    walk.finish()
    return VerifyResult(walk.entries, walk.broken, tuple(walk.problems), checkpoint)


@dataclass
class _Walk:
    """The state of one walk along the chain."""

    registry: SearchParameterRegistry
    base_url: str | None
    checkpoint: Checkpoint | None
    expected_previous: str = GENESIS_HASH
    entries: int = 0  # events walked
    position: int = 0  # the chain's count of events after the step walked last
    broken: BrokenLink | None = None
    problems: list[Problem] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)

    def found(self, kind: str, message: str, audit_event_id: str | None,
              seq: int | None) -> None:
        self.problems.append(Problem(kind, message, audit_event_id, seq))

    def _break(self, seq: int, audit_event_id: str, reason: str) -> None:
        broken = BrokenLink(seq, audit_event_id, reason)
        self.broken = self.broken or broken
        self.found("chain-broken", str(broken), audit_event_id, seq)

    def step(self, step: Row, entries: Mapping[str, Row], index: Mapping[int, Counter]) -> None:
        ids, hashes = step.event_ids.split(), step.event_hashes.split()
        # Events are numbered as the chain recorded them (a removed step leaves a gap).
        recorded_first = step.total - len(ids) + 1
        first = recorded_first if recorded_first >= 1 else self.position + 1
        where = ids[0] if ids else "?"
        if step.previous_hash != self.expected_previous:
            # The step before it was removed or edited, or this one was inserted or edited.
            self._break(first, where, "its previous hash does not match the entry before it")
        elif len(ids) != len(hashes) or not ids or step.total != self.position + len(ids):
            self._break(first, where, "the step's list or count of events was edited")
        # The next step follows this one as stored: one edit is reported once, not again at
        # every later step.
        self.expected_previous = step.batch_hash
        self.position = step.total
        self.entries += len(ids)
        texts: list[str | None] = []
        recorded: list[tuple[int, str, dict[str, Any], Row]] = []
        for offset, event_id in enumerate(ids):
            seq = first + offset
            entry = entries.get(event_id)
            if event_id in self.listed:
                self._break(seq, event_id, "the event is listed twice in the chain")
            self.listed.add(event_id)
            if entry is None:
                self._break(seq, event_id, "the AuditEvent is missing")
                texts.append(None)
                continue
            text, event = _canonical(entry.content)
            texts.append(text)
            if text is None or event is None:
                self._break(seq, event_id, "the stored AuditEvent is not valid JSON")
            elif offset >= len(hashes) or _sha256(text) != hashes[offset]:
                self._break(seq, event_id, "the AuditEvent or its entry hash was changed "
                                           "after it was recorded")
            else:
                recorded.append((seq, event_id, event, entry))
        if len(recorded) == len(ids) and step_hash(
                step.previous_hash, [t for t in texts if t is not None]) != step.batch_hash:
            # Each event matches its listed hash, but not the step's: the list or the hash of
            # the step was edited.
            self._break(first, where, "the AuditEvent or its entry hash was changed after it "
                                      "was recorded")
        self._against_checkpoint(step, ids)
        for seq, event_id, event, entry in recorded:
            self._copies(seq, event_id, event, entry, index.get(entry.pk, Counter()))

    def _against_checkpoint(self, step: Row, ids: list[str]) -> None:
        checkpoint = self.checkpoint
        first = self.position - len(ids) + 1
        if checkpoint is None or not first <= checkpoint.count <= self.position:
            return
        if self.position != checkpoint.count or step.batch_hash != checkpoint.head:
            event_id = ids[checkpoint.count - first] if ids else "?"
            self.found("rewritten", f"event {checkpoint.count} of the chain "
                       f"(AuditEvent/{event_id}) is not the head of the "
                       f"{checkpoint.describe()}: the chain up to it was rewritten or "
                       f"recomputed", event_id, checkpoint.count)

    def _copies(self, seq: int, event_id: str, event: dict[str, Any], entry: Row,
                stored_index: Counter) -> None:
        """What a reader is served besides the event: the row's version and time (vread,
        history, _lastUpdated) and its search index rows."""
        where = f"AuditEvent/{event_id} (entry {seq})"
        meta = event.get("meta") or {}
        if str(meta.get("versionId", "1")) != "1" or (
                format_instant(as_utc(entry.last_updated)) != meta.get("lastUpdated")):
            self.found("event-row", f"{where}: its stored last-updated time or version differs "
                       f"from the event as recorded (_lastUpdated searches and history go by "
                       f"them)", event_id, seq)
        expected = _expected_index(entry.pk, event, self.registry, self.base_url)
        for message in _index_problems(expected, stored_index):
            self.found("index-rows", f"{where}: {message}", event_id, seq)

    def unlisted(self, connection: Connection) -> None:
        """AuditEvents in the journal that no step lists: stored around the audit log."""
        after = 0
        while True:
            rows = connection.execute(
                select(_journal.c.pk, _journal.c.id)
                .where(_journal.c.resource_type == "AuditEvent", _journal.c.pk > after)
                .order_by(_journal.c.pk).limit(BATCH_SIZE)).all()
            for row in rows:
                if row.id not in self.listed:
                    broken = BrokenLink(None, row.id, "it was stored without going through "
                                                      "the audit log")
                    self.broken = self.broken or broken
                    self.found("unlinked-event", str(broken), row.id, None)
            if len(rows) < BATCH_SIZE:
                return
            after = rows[-1].pk

    def finish(self) -> None:
        checkpoint = self.checkpoint
        if checkpoint is not None and self.entries < checkpoint.count:
            missing = checkpoint.count - self.entries
            self.found("truncated", f"the chain has {self.entries} events, the "
                       f"{checkpoint.describe()} counted {checkpoint.count}: {missing} "
                       f"missing after event {self.entries} (the newest were removed)",
                       None, None)


def _load_entries(connection: Connection, ids: Sequence[str]) -> dict[str, Row]:
    entries: dict[str, Row] = {}
    for start in range(0, len(ids), 500):
        for row in connection.execute(
                select(_journal.c.pk, _journal.c.id, _journal.c.last_updated,
                       _journal.c.content)
                .where(_journal.c.resource_type == "AuditEvent",
                       _journal.c.id.in_(ids[start:start + 500]))):
            entries[row.id] = row
    return entries


def _load_index(connection: Connection, pks: Sequence[int]) -> dict[int, Counter]:
    index: dict[int, Counter] = {}
    for start in range(0, len(pks), 500):
        chunk = pks[start:start + 500]
        for model in JOURNAL_INDEX_TABLES:
            table = model.__table__
            for row in connection.execute(select(table).where(table.c.resource_pk.in_(chunk))):
                mapping = row._mapping
                index.setdefault(mapping["resource_pk"], Counter())[
                    _index_key(table.name, mapping)] += 1
    return index


def _expected_index(pk: int, event: dict[str, Any], registry: SearchParameterRegistry,
                    base_url: str | None) -> Counter:
    """The journal index rows the gateway writes for ``event`` (as the journal would)."""
    row = JournalRow(pk=pk, resource_type="AuditEvent")
    expected: Counter = Counter()
    for model, rows in journal_index_rows(row, event, registry, base_url):
        for values in rows:
            expected[_index_key(model.__tablename__, values)] += 1
    return expected


def _index_problems(expected: Counter, stored: Counter) -> list[str]:
    problems = []
    missing, extra = expected - stored, stored - expected
    if missing:
        problems.append(f"{sum(missing.values())} search index row(s) missing "
                        f"({_params(missing)}): searches by them do not find it")
    if extra:
        problems.append(f"{sum(extra.values())} search index row(s) not derived from the event "
                        f"({_params(extra)}): searches by them find it wrongly")
    return problems


def _params(rows: Iterable[tuple[Any, ...]]) -> str:
    return ", ".join(sorted({f"{row[2]}" for row in rows}))


def _index_key(table: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    # (table, resource_type, param, the rest in column order), times compared in UTC (SQLite
    # hands them back naive).
    rest = tuple(as_utc(values[name]) if isinstance(values[name], datetime) else values[name]
                 for name in sorted(values)
                 if name not in _SKIPPED and name not in ("resource_type", "param"))
    return (table, values.get("resource_type"), values.get("param"), *rest)


def _canonical(content: str | None) -> tuple[str | None, dict[str, Any] | None]:
    """The stored event's canonical JSON and the event (None, None: not a JSON object)."""
    try:
        event = json_text.loads_stored(content or "")
    except (json.JSONDecodeError, ValueError):
        return None, None
    if not isinstance(event, dict):
        return None, None
    return canonical_json(event), event


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Journal index rows that would make a search return something as an AuditEvent that is none.
_STRAY_INDEX_ROWS = [
    select(func.count()).select_from(model.__table__).where(
        ~exists().where(_journal.c.pk == model.__table__.c.resource_pk))
    for model in JOURNAL_INDEX_TABLES
]

"""One pipeline for every way local records arrive (``gateway import``, ``POST /local/records``,
the database poller): check the record against its schema, map it to FHIR, validate and store
the FHIR, and record the outcome.

Each record is processed in its own savepoint, so a bad record is rolled back alone and never
blocks the good ones; records are committed in chunks, and an outcome is reported only once its
chunk is committed, so "accepted" always means stored.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gateway.adapters.local_files import SourceRecord
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.local.schemas import RecordProblem, record_problems
from gateway.local.store import LocalRecordStore, content_hash
from gateway.state import GatewayState


def in_dependency_order(items: list[SourceRecord]) -> list[SourceRecord]:
    """Organizations first (the agency's own is needed by other mappings), then the rest."""
    return sorted(items, key=lambda item: not _is_organization(item))


def organizations_first(read: Callable[[], Iterable[SourceRecord]]) -> Iterator[SourceRecord]:
    """Two streaming passes over a source: its organizations, then everything else."""
    yield from (item for item in read() if _is_organization(item))
    yield from (item for item in read() if not _is_organization(item))


def _key(record: Any) -> tuple[str, str] | None:
    """(type, id) of a record that has both as strings; None otherwise."""
    if isinstance(record, dict):
        record_type, local_id = record.get("type"), record.get("id")
        if isinstance(record_type, str) and isinstance(local_id, str):
            return record_type, local_id
    return None


def _is_organization(item: SourceRecord) -> bool:
    return isinstance(item.record, dict) and item.record.get("type") == "organization" \
        and item.error is None


class Translator(Protocol):
    """Turns one accepted local record into the FHIR resources it creates or changes."""

    def resources_for(self, record: dict[str, Any], store: LocalRecordStore
                      ) -> list[dict[str, Any]]: ...

    # Optional, for batched chunks: ``resources_for(record, store, aggregates=False)`` leaves
    # out the consumer's CareTeam and due Tasks, and ``aggregates_for(consumer_ids, store,
    # care_teams)`` yields (consumer_id, resources) for each (see AgencyTranslator).


# Record types whose consumer's CareTeam and due Tasks are rebuilt when they change.
AGGREGATE_SOURCES = ("consumer", "assignment", "plan", "assessment")


class _RebuildFailed(Exception):
    """A consumer's CareTeam or due Tasks could not be rebuilt at the end of a batched chunk."""


class RecordRejected(Exception):
    def __init__(self, problems: list[RecordProblem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Outcome:
    source: str
    record_type: str | None
    local_id: str | None
    status: str  # accepted | unchanged | rejected
    reasons: tuple[RecordProblem, ...] = ()
    resources: tuple[str, ...] = ()
    record: Any = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"source": self.source, "type": self.record_type,
                                "id": self.local_id, "status": self.status}
        if self.reasons:
            body["reasons"] = [r.as_dict() for r in self.reasons]
        if self.resources:
            body["resources"] = list(self.resources)
        return body


@dataclass
class Summary:
    accepted: int = 0
    unchanged: int = 0
    rejected: int = 0
    counted: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)

    def as_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "unchanged": self.unchanged, "rejected": self.rejected}


class RecordImporter:
    """Runs records through the pipeline against one gateway database."""

    def __init__(self, state: GatewayState, translator: Translator, *, chunk_size: int = 200,
                 on_committed: Callable[[list[Outcome]], None] | None = None) -> None:
        self.state = state
        self.translator = translator
        self.chunk_size = chunk_size
        self.on_committed = on_committed

    def run(self, items: Iterable[SourceRecord]) -> Iterator[Outcome]:
        chunk: list[SourceRecord] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= self.chunk_size:
                yield from self._run_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._run_chunk(chunk)

    def _run_chunk(self, chunk: list[SourceRecord]) -> list[Outcome]:
        # Batched: each consumer's CareTeam and due Tasks are rebuilt once, at the end of the
        # chunk, rather than once per record of theirs. Should any rebuild fail, the chunk is
        # rolled back and run again record by record, each rebuilding its consumer's resources
        # in its own savepoint, so the failure is pinned on the record that causes it.
        batched = callable(getattr(self.translator, "aggregates_for", None))
        try:
            outcomes = self._attempt(chunk, batched=batched)
        except _RebuildFailed:
            outcomes = self._attempt(chunk, batched=False)
        # Reached only when the chunk committed.
        if self.on_committed:
            self.on_committed(outcomes)
        return outcomes

    def _attempt(self, chunk: list[SourceRecord], *, batched: bool) -> list[Outcome]:
        outcomes = []
        with self.state.writing(defer_index=True) as repository:
            store = LocalRecordStore(repository.session)
            store.preload(key for item in chunk if (key := _key(item.record)) is not None)
            for item in chunk:
                outcomes.append(self._one(item, repository, store, batched))
            if batched:
                outcomes = self._rebuild_aggregates(outcomes, repository, store)
                outcomes = [replace(o, record=None) if o.status == "accepted" else o
                            for o in outcomes]
        return outcomes

    def _rebuild_aggregates(self, outcomes: list[Outcome], repository: Repository,
                            store: LocalRecordStore) -> list[Outcome]:
        """Rebuild the CareTeam and due Tasks of every consumer an accepted record of this
        chunk touched; their names join those records' outcomes."""
        dirty: dict[str, list[int]] = {}
        care_teams: set[str] = set()
        for index, outcome in enumerate(outcomes):
            if outcome.status != "accepted" or outcome.record_type not in AGGREGATE_SOURCES:
                continue
            consumer_id = (outcome.local_id if outcome.record_type == "consumer"
                           else outcome.record["consumer"])
            dirty.setdefault(consumer_id, []).append(index)
            if outcome.record_type in ("assignment", "plan"):
                care_teams.add(consumer_id)
        if not dirty:
            return outcomes
        outcomes = list(outcomes)
        try:
            for consumer_id, resources in self.translator.aggregates_for(  # type: ignore[attr-defined]
                    list(dirty), store, care_teams):
                written = self._store_fhir(resources, repository)
                for index in dirty[consumer_id]:
                    outcome = outcomes[index]
                    outcomes[index] = replace(outcome, resources=outcome.resources + written)
        except RecordRejected:
            raise _RebuildFailed() from None
        return outcomes

    def _one(self, item: SourceRecord, repository: Repository, store: LocalRecordStore,
             batched: bool = False) -> Outcome:
        record = item.record
        record_type = record.get("type") if isinstance(record, dict) else None
        local_id = record.get("id") if isinstance(record, dict) else None
        if item.error:
            return Outcome(item.source, record_type, local_id, "rejected",
                           (RecordProblem("", item.error),), record=record)
        # The same content as the stored copy (which passed these checks when it was accepted)
        # writes nothing: found before the schema check, the costliest step of an unchanged
        # record.
        key = _key(record)
        digest = content_hash(record) if key is not None else None
        if key is not None:
            stored = store.get_row(*key)
            if stored is not None and stored.content_hash == digest:
                return Outcome(item.source, record_type, local_id, "unchanged")
        problems = record_problems(record)
        if problems:
            return Outcome(item.source, record_type, local_id, "rejected", tuple(problems),
                           record=record)
        assert digest is not None  # a record that passed its schema has a string type and id
        savepoint = repository.session.begin_nested()
        held_index = repository.index.snapshot()
        try:
            store.put(record, digest)
            resources = (self.translator.resources_for(record, store, aggregates=False)
                         if batched and record["type"] in AGGREGATE_SOURCES
                         else self.translator.resources_for(record, store))
            written = self._store_fhir(resources, repository)
        except RecordRejected as rejected:
            savepoint.rollback()
            repository.index.restore(held_index)
            store.forget(record["type"], record["id"])
            return Outcome(item.source, record_type, local_id, "rejected",
                           tuple(rejected.problems), record=record)
        savepoint.commit()
        # A batched chunk needs the record once more, to find its consumer; dropped after.
        return Outcome(item.source, record_type, local_id, "accepted", resources=written,
                       record=record if batched else None)

    @staticmethod
    def _store_fhir(resources: list[dict[str, Any]], repository: Repository) -> tuple[str, ...]:
        written = []
        for resource in resources:
            resource_type, resource_id = resource["resourceType"], resource["id"]
            try:
                repository.update(resource_type, resource_id, resource)
            except FhirError as error:
                raise RecordRejected([
                    RecordProblem(", ".join(i.get("expression") or [f"{resource_type}"]),
                                  f"maps to invalid FHIR: {i.get('diagnostics')}")
                    for i in error.issues if i.get("severity") in ("error", "fatal")
                ]) from None
            written.append(f"{resource_type}/{resource_id}")
        return tuple(written)

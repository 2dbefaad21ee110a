"""One pipeline for every way local records arrive (``gateway import``, ``POST /local/records``,
the database poller): check the record against its schema, map it to FHIR, validate and store
the FHIR, and record the outcome.

Records are committed in chunks, and an outcome is reported only once its chunk is committed, so
"accepted" always means stored. A chunk is written in bulk (every record checked and mapped
first, then a few statements per table) or, when that fails as a whole, record by record, each
in its own savepoint; either way a bad record is left out alone and never blocks the good ones.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gateway.auth import SYSTEM
from gateway.fhir.bulk import BulkWriter
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.local.learned import keep_learned_identifiers
from gateway.local.schemas import RecordProblem, record_problems
from gateway.local.sources import SourceRecord
from gateway.local.store import LocalRecordStore, consumer_of, content_hash
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


class _NotInBulk(Exception):
    """A chunk that cannot be written in bulk; it is run again record by record."""


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
    record: Any = None  # kept for the rejects file
    digest: str | None = None  # while a chunk runs: the content hash of a record to store

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

    def __init__(self, state: GatewayState, translator: Translator, *, chunk_size: int = 500,
                 on_committed: Callable[[list[Outcome]], None] | None = None) -> None:
        self.state = state
        self.translator = translator
        self.chunk_size = chunk_size
        self.on_committed = on_committed
        self._chunks_committed = 0

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
        # In bulk when the translator can rebuild consumers' CareTeams and due Tasks for a
        # whole chunk; record by record (each in its own savepoint) when it cannot, or when
        # the bulk attempt fails as a whole (a rebuild that fails, duplicate records, a
        # concurrent writer), so that a failure is pinned on the record that causes it.
        outcomes = None
        if callable(getattr(self.translator, "aggregates_for", None)):
            try:
                outcomes = self._in_bulk(chunk)
            except _NotInBulk:
                outcomes = None
        if outcomes is None:
            outcomes = self._record_by_record(chunk)
        # Reached only when the chunk committed.
        self._chunks_committed += 1
        if self._chunks_committed & (self._chunks_committed - 1) == 0:
            # After chunks 1, 2, 4, 8, ...: a bulk load outgrows the planner's statistics far
            # faster than autovacuum refreshes them, and stale ones make PostgreSQL scan where
            # an index would answer. log2(n) refreshes in all.
            self.state.refresh_statistics()
        if self.on_committed:
            self.on_committed(outcomes)
        return outcomes

    # -- in bulk -----------------------------------------------------------------------------

    def _in_bulk(self, chunk: list[SourceRecord]) -> list[Outcome]:
        """Check and map every record before writing anything, then write the chunk with a few
        statements per table (BulkWriter), then rebuild each touched consumer's CareTeam and
        due Tasks once. Raises _NotInBulk (rolling the chunk back) when that cannot be done."""
        keys = [key for item in chunk if (key := _key(item.record)) is not None]
        if len(set(keys)) != len(keys):
            raise _NotInBulk()  # a record twice in one chunk: each version in turn
        try:
            with self.state.writing(SYSTEM, defer_index=True) as repository:
                store = LocalRecordStore(repository.session)
                store.preload(keys)
                writer = BulkWriter(repository)
                outcomes, mapped = self._map_chunk(chunk, store)
                writer.prefetch((r["resourceType"], r["id"])
                                for resources in mapped.values() for r in resources)
                for index, resources in list(mapped.items()):
                    problems = _fhir_problems(writer, resources)
                    if problems:
                        outcome = outcomes[index]
                        outcomes[index] = replace(outcome, status="rejected",
                                                  reasons=tuple(problems),
                                                  record=chunk[index].record)
                        del mapped[index]
                accepted = [(chunk[index].record, outcomes[index].digest) for index in mapped]
                store.put_many(accepted)
                for index, resources in mapped.items():
                    outcomes[index] = replace(outcomes[index], resources=writer.stage(resources))
                self._rebuild_in_bulk(outcomes, chunk, store, writer)
                writer.flush()
        except FhirError:  # a concurrent writer (409)
            raise _NotInBulk() from None
        return [replace(outcome, digest=None) for outcome in outcomes]

    def _map_chunk(self, chunk: list[SourceRecord], store: LocalRecordStore
                   ) -> tuple[list[Outcome], dict[int, list[dict[str, Any]]]]:
        """Each record's outcome so far, and the resources of those still in the running."""
        outcomes: list[Outcome] = []
        mapped: dict[int, list[dict[str, Any]]] = {}
        for index, item in enumerate(chunk):
            outcome = self._precheck(item, store)
            if outcome.status == "accepted":
                try:
                    mapped[index] = self.translator.resources_for(  # type: ignore[call-arg]
                        item.record, store, aggregates=False)
                except RecordRejected as rejected:
                    outcome = replace(outcome, status="rejected",
                                      reasons=tuple(rejected.problems), record=item.record)
            outcomes.append(outcome)
        keep_learned_identifiers(store.session,
                                 [r for resources in mapped.values() for r in resources])
        return outcomes, mapped

    def _rebuild_in_bulk(self, outcomes: list[Outcome], chunk: list[SourceRecord],
                         store: LocalRecordStore, writer: BulkWriter) -> None:
        """Rebuild the CareTeam and due Tasks of every consumer an accepted record of this
        chunk touched; their names join those records' outcomes."""
        dirty: dict[str, list[int]] = {}
        care_teams: set[str] = set()
        for index, outcome in enumerate(outcomes):
            if outcome.status != "accepted" or outcome.record_type not in AGGREGATE_SOURCES:
                continue
            record = chunk[index].record
            consumer_id = consumer_of(record)
            dirty.setdefault(consumer_id, []).append(index)
            if record["type"] in ("assignment", "plan"):
                care_teams.add(consumer_id)
        if not dirty:
            return
        try:
            rebuilt = list(self.translator.aggregates_for(  # type: ignore[attr-defined]
                list(dirty), store, care_teams))
        except RecordRejected:  # rerun record by record, to pin it on its record
            raise _NotInBulk() from None
        writer.prefetch((r["resourceType"], r["id"]) for _, resources in rebuilt
                        for r in resources)
        for consumer_id, resources in rebuilt:
            if _fhir_problems(writer, resources):
                raise _NotInBulk()
            written = writer.stage(resources)
            for index in dirty[consumer_id]:
                outcome = outcomes[index]
                outcomes[index] = replace(outcome, resources=outcome.resources + written)

    # -- record by record --------------------------------------------------------------------

    def _record_by_record(self, chunk: list[SourceRecord]) -> list[Outcome]:
        outcomes = []
        with self.state.writing(SYSTEM, defer_index=True) as repository:
            store = LocalRecordStore(repository.session)
            store.preload(key for item in chunk if (key := _key(item.record)) is not None)
            for item in chunk:
                outcomes.append(self._one(item, repository, store))
        return outcomes

    def _precheck(self, item: SourceRecord, store: LocalRecordStore) -> Outcome:
        """The outcome of the checks before mapping: rejected, unchanged, or (so far)
        accepted, with the record's content hash."""
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
        return Outcome(item.source, record_type, local_id, "accepted", digest=digest)

    def _one(self, item: SourceRecord, repository: Repository, store: LocalRecordStore
             ) -> Outcome:
        outcome = self._precheck(item, store)
        if outcome.status != "accepted":
            return outcome
        record, digest = item.record, outcome.digest
        assert digest is not None  # a record that passed its schema has a string type and id
        savepoint = repository.session.begin_nested()
        held_index = repository.index.snapshot()
        try:
            store.put(record, digest)
            resources = self.translator.resources_for(record, store)
            keep_learned_identifiers(repository.session, resources)
            written = self._store_fhir(resources, repository)
        except RecordRejected as rejected:
            savepoint.rollback()
            repository.index.restore(held_index)
            store.forget(record["type"], record["id"])
            return replace(outcome, status="rejected", reasons=tuple(rejected.problems),
                           record=record, digest=None)
        savepoint.commit()
        return replace(outcome, resources=written, digest=None)

    @staticmethod
    def _store_fhir(resources: list[dict[str, Any]], repository: Repository) -> tuple[str, ...]:
        written = []
        for resource in resources:
            resource_type, resource_id = resource["resourceType"], resource["id"]
            try:
                repository.update(resource_type, resource_id, resource)
            except FhirError as error:
                raise RecordRejected(_as_problems(error, resource_type)) from None
            written.append(f"{resource_type}/{resource_id}")
        return tuple(written)


def _fhir_problems(writer: BulkWriter, resources: list[dict[str, Any]]) -> list[RecordProblem]:
    """Why these resources (one record's) cannot be stored; empty when they can."""
    problems: list[RecordProblem] = []
    for resource in resources:
        try:
            writer.check(resource)
        except FhirError as error:
            problems += _as_problems(error, resource["resourceType"])
    return problems


def _as_problems(error: FhirError, resource_type: str) -> list[RecordProblem]:
    return [RecordProblem(", ".join(i.get("expression") or [resource_type]),
                          f"maps to invalid FHIR: {i.get('diagnostics')}")
            for i in error.issues if i.get("severity") in ("error", "fatal")]

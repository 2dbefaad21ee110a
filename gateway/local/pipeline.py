"""One pipeline for every way local records arrive (``gateway import``, ``POST /local/records``,
the database poller): check the record against its schema, map it to FHIR, validate and store
the FHIR, and record the outcome.

Each record is processed in its own savepoint, so a bad record is rolled back alone and never
blocks the good ones; records are committed in chunks, and an outcome is reported only once its
chunk is committed, so "accepted" always means stored.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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


def _is_organization(item: SourceRecord) -> bool:
    return isinstance(item.record, dict) and item.record.get("type") == "organization" \
        and item.error is None


class Translator(Protocol):
    """Turns one accepted local record into the FHIR resources it creates or changes."""

    def resources_for(self, record: dict[str, Any], store: LocalRecordStore
                      ) -> list[dict[str, Any]]: ...


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
        outcomes = []
        with self.state.writing() as repository:
            store = LocalRecordStore(repository.session)
            for item in chunk:
                outcomes.append(self._one(item, repository, store))
        # Reached only when the chunk committed.
        if self.on_committed:
            self.on_committed(outcomes)
        return outcomes

    def _one(self, item: SourceRecord, repository: Repository, store: LocalRecordStore
             ) -> Outcome:
        record = item.record
        record_type = record.get("type") if isinstance(record, dict) else None
        local_id = record.get("id") if isinstance(record, dict) else None
        if item.error:
            return Outcome(item.source, record_type, local_id, "rejected",
                           (RecordProblem("", item.error),), record=record)
        problems = record_problems(record)
        if problems:
            return Outcome(item.source, record_type, local_id, "rejected", tuple(problems),
                           record=record)
        digest = content_hash(record)
        stored = store.get_row(record["type"], record["id"])
        if stored is not None and stored.content_hash == digest:
            return Outcome(item.source, record_type, local_id, "unchanged")
        savepoint = repository.session.begin_nested()
        try:
            store.put(record, digest)
            written = self._store_fhir(self.translator.resources_for(record, store), repository)
        except RecordRejected as rejected:
            savepoint.rollback()
            return Outcome(item.source, record_type, local_id, "rejected",
                           tuple(rejected.problems), record=record)
        savepoint.commit()
        return Outcome(item.source, record_type, local_id, "accepted", resources=written)

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

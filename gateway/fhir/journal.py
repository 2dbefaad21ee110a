"""The append-only journal: where entries of the append-only types (AuditEvent) are stored.

One is written for every request the gateway answers, so it is stored as cheaply as it can be
while still being served as any FHIR resource is (read, vread, history, search): one row in
``journal`` with the JSON exactly as served (its only version, never deleted) and its search
values in the journal's own index tables (only the parameters the registry offers for the type,
search/registry.py ``OFFERED_ONLY``). No version copy is written: the entry is its version 1.

Entries are inserted at once, or, once ``defer()`` was called (the audit writer, which stores
many requests' events in one transaction), held and written together by ``flush()`` (see
journal_insert.py: one statement on PostgreSQL). The repository flushes before it reads or
searches and before the commit.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db.models import JOURNAL_INDEX, JournalRow
from gateway.fhir.errors import FhirError
from gateway.fhir.journal_insert import insert_entries
from gateway.fhir.search.index import index_rows
from gateway.fhir.search.registry import SearchParameterRegistry
from gateway.fhir.versions import StoredResource


class Journal:
    """The journal as one writing session sees it."""

    def __init__(self, session: Session, registry: SearchParameterRegistry,
                 base_url: str | None) -> None:
        self.session = session
        self.registry = registry
        self.base_url = base_url
        # (row values, the entry as a dict) held until flush(), or None: written at once.
        self._held: list[tuple[dict[str, Any], dict[str, Any]]] | None = None

    def defer(self) -> None:
        if self._held is None:
            self._held = []

    def append(self, resource_type: str, resource_id: str, last_updated: datetime,
               text: str, entry: dict[str, Any]) -> StoredResource:
        """Store ``entry`` (its JSON ``text``, meta filled in); what a reader will be served."""
        values = {"resource_type": resource_type, "id": resource_id,
                  "last_updated": last_updated, "content": text}
        if self._held is None:
            self._write([(values, entry)])
        else:
            self._held.append((values, entry))
        return StoredResource(resource_type, resource_id, 1, last_updated, False, text, "POST")

    def flush(self) -> None:
        """Write every held entry: one statement for them and one per index table."""
        if self._held:
            held, self._held = self._held, []
            self._write(held)

    def _write(self, entries: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        index = [new_entry_index_rows(values["resource_type"], entry, self.registry,
                                      self.base_url) for values, entry in entries]
        try:
            insert_entries(self.session.connection(), [values for values, _ in entries], index)
        except IntegrityError:
            ids = ", ".join(f"{v['resource_type']}/{v['id']}" for v, _ in entries)
            raise FhirError(409, "conflict", f"{ids}: an entry with this id exists") from None

    def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        self.flush()
        row = self.session.scalars(select(JournalRow).where(
            JournalRow.resource_type == resource_type, JournalRow.id == resource_id)
        ).one_or_none()
        return None if row is None else StoredResource.from_row(row)

    def history(self, resource_type: str, resource_id: str | None, since: datetime | None,
                count: int, offset: int) -> tuple[list[StoredResource], int]:
        """Entries newest first (each is its only version), and how many in all."""
        self.flush()
        conditions = [JournalRow.resource_type == resource_type]
        if resource_id is not None:
            conditions.append(JournalRow.id == resource_id)
        if since is not None:
            conditions.append(JournalRow.last_updated >= since)
        total = self.session.scalar(select(func.count()).select_from(JournalRow)
                                    .where(*conditions)) or 0
        rows = self.session.scalars(
            select(JournalRow).where(*conditions)
            .order_by(JournalRow.last_updated.desc(), JournalRow.pk.desc())
            .limit(count).offset(offset)).all()
        return [StoredResource.from_row(row) for row in rows], total


def journal_index_rows(row: Any, entry: dict[str, Any], registry: SearchParameterRegistry,
                       base_url: str | None) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The journal index rows of one entry (``row``: its pk and resource_type), by table."""
    return [(JOURNAL_INDEX[table], rows)
            for table, rows in index_rows(row, entry, registry, base_url)]


def new_entry_index_rows(resource_type: str, entry: dict[str, Any],
                         registry: SearchParameterRegistry, base_url: str | None
                         ) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The index rows of an entry not stored yet, by index Table, as ``insert_entries`` takes
    them (it fills ``resource_pk`` in)."""
    return [(table.__table__, rows) for table, rows in journal_index_rows(
        _Unstored(resource_type), entry, registry, base_url)]


class _Unstored:
    """An entry not yet stored, as index_rows reads it: no pk yet."""

    def __init__(self, resource_type: str) -> None:
        self.pk = None
        self.resource_type = resource_type

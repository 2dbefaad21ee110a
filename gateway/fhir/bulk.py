"""Writing many resources with a few statements: the local-record import's way into storage.

``Repository.update`` writes one resource at a time: a select, an insert or a compare-and-set
update, a history row and the search index, half a dozen statements each. An import of 100,000
records would make about a million round trips. A BulkWriter takes a chunk's resources, reads
their current rows with one query, validates only those that changed, and writes them with one
statement per table. It stores exactly what ``Repository.update`` stores: the same ``meta``,
versions, history rows (method PUT) and index rows.

Usage: ``prefetch`` the keys of everything about to be written, ``check`` each resource (its
validation problems, before anything is written), ``stage`` the ones to keep, ``flush`` before
the transaction commits. Nothing reaches the database before ``flush``, so a caller can still
drop a record whose resources fail the check. The repository's index writer must be deferring.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from gateway.db.models import ResourceRow, ResourceVersionRow
from gateway.fhir.errors import FhirError
from gateway.fhir.hooks import Change
from gateway.fhir.repository import Repository
from gateway.fhir.search.index import insert_rows
from gateway.fhir.versions import as_utc, comparable, same_content, to_json, with_meta

_RESOURCES = ResourceRow.__table__
_VERSIONS = ResourceVersionRow.__table__
_CURRENT = select(_RESOURCES.c.pk, _RESOURCES.c.resource_type, _RESOURCES.c.id,
                  _RESOURCES.c.version_id, _RESOURCES.c.last_updated, _RESOURCES.c.deleted,
                  _RESOURCES.c.content)
_INSERT = insert(_RESOURCES).returning(_RESOURCES.c.pk, sort_by_parameter_order=True)
_UPDATE = (update(_RESOURCES)
           .where(_RESOURCES.c.pk == bindparam("b_pk"),
                  _RESOURCES.c.version_id == bindparam("b_previous"))
           .values(version_id=bindparam("b_version"), last_updated=bindparam("b_moment"),
                   deleted=False, content=bindparam("b_content")))
_PREFETCH_BATCH = 400

Key = tuple[str, str]


@dataclass(frozen=True)
class _Current:
    """A resource's stored row, as far as a write needs it."""

    pk: int
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None


@dataclass(frozen=True)
class _Staged:
    key: Key
    content: dict[str, Any]
    version: int
    moment: datetime
    previous: _Current | None


class BulkWriter:
    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self._current: dict[Key, _Current | None] = {}
        self._staged: dict[Key, _Staged] = {}

    def prefetch(self, keys: Iterable[Key]) -> None:
        """Read the current rows of ``keys`` (those not read yet) in a few queries."""
        wanted = sorted({key for key in keys if key not in self._current})
        connection = self.repository.session.connection()
        for start in range(0, len(wanted), _PREFETCH_BATCH):
            batch = wanted[start:start + _PREFETCH_BATCH]
            for key in batch:
                self._current[key] = None
            # Separate IN lists on both columns: the (resource_type, id) index answers them
            # (SQLite scans the table for a row-value IN). Extra pairs are dropped here.
            types = sorted({resource_type for resource_type, _ in batch})
            ids = sorted({resource_id for _, resource_id in batch})
            asked = set(batch)
            for row in connection.execute(_CURRENT.where(_RESOURCES.c.resource_type.in_(types),
                                                         _RESOURCES.c.id.in_(ids))):
                if (row.resource_type, row.id) in asked:
                    self._current[(row.resource_type, row.id)] = _Current(
                        row.pk, row.version_id, row.last_updated, row.deleted, row.content)

    def check(self, resource: dict[str, Any]) -> None:
        """Raise the repository's FhirError (422, every issue) when ``resource`` would be
        stored and is invalid; an unchanged resource was validated when it was stored."""
        if not self._unchanged(resource):
            self.repository.validate_for_write(resource, resource["resourceType"])

    def stage(self, resources: Iterable[dict[str, Any]]) -> tuple[str, ...]:
        """Queue checked resources for ``flush``; their ``Type/id`` names."""
        names = []
        for resource in resources:
            key = (resource["resourceType"], resource["id"])
            names.append(f"{key[0]}/{key[1]}")
            if key in self._staged:
                self.flush()  # a second write of one resource in a chunk: the first goes first
            if key not in self._current:
                self.prefetch([key])
            if self._unchanged(resource):
                continue
            previous = self._current[key]
            moment = self.repository.clock()
            if previous is not None:
                moment = max(moment, as_utc(previous.last_updated))
            version = 1 if previous is None else previous.version_id + 1
            self._staged[key] = _Staged(key, with_meta(resource, key[0], key[1], version, moment),
                                        version, moment, previous)
        return tuple(names)

    def flush(self) -> None:
        """Write everything staged: resource rows, history rows, index rows."""
        if not self._staged:
            return
        staged, self._staged = list(self._staged.values()), {}
        connection = self.repository.session.connection()
        texts = {item.key: to_json(item.content) for item in staged}
        created = [item for item in staged if item.previous is None]
        changed = [item for item in staged if item.previous is not None]
        pks: dict[Key, int] = {}
        if created:
            result = connection.execute(_INSERT, [
                {"resource_type": item.key[0], "id": item.key[1], "version_id": 1,
                 "last_updated": item.moment, "deleted": False, "content": texts[item.key]}
                for item in created])
            pks.update(zip((item.key for item in created), result.scalars(), strict=True))
        if changed:
            result = connection.execute(_UPDATE, [
                {"b_pk": item.previous.pk, "b_previous": item.previous.version_id,
                 "b_version": item.version, "b_moment": item.moment,
                 "b_content": texts[item.key]}
                for item in changed if item.previous is not None])
            if result.rowcount != len(changed):
                raise FhirError(409, "conflict", "resources of this import were changed "
                                                 "concurrently by another writer; retry")
            pks.update((item.key, item.previous.pk) for item in changed
                       if item.previous is not None)
            self.repository.index.clear_many([pks[item.key] for item in changed])
        insert_rows(connection, _VERSIONS, [
            {"resource_pk": pks[item.key], "version_id": item.version,
             "resource_type": item.key[0], "id": item.key[1], "last_updated": item.moment,
             "method": "PUT", "content": texts[item.key]}
            for item in staged])
        self._announce(staged)
        for item in staged:
            row = ResourceRow(pk=pks[item.key], resource_type=item.key[0], id=item.key[1],
                              version_id=item.version, last_updated=item.moment, deleted=False,
                              content=texts[item.key])
            self.repository.index.reindex(row, item.content, fresh=True)
            self._current[item.key] = _Current(pks[item.key], item.version, item.moment, False,
                                               texts[item.key])

    def _announce(self, staged: list[_Staged]) -> None:
        """The ``stored`` hooks for these changes, as Repository writes run them (one call for
        the chunk: the outbox marks its deliveries with one statement)."""
        self.repository.stored([
            Change(item.key[0], item.key[1], item.content,
                   item.previous.content if item.previous else None, item.moment,
                   created=item.previous is None)
            for item in staged])

    def _unchanged(self, resource: dict[str, Any]) -> bool:
        key = (resource["resourceType"], resource["id"])
        staged = self._staged.get(key)
        if staged is not None:
            return comparable(staged.content) == comparable(resource)
        current = self._current.get(key)
        return (current is not None and not current.deleted and current.content is not None
                and same_content(current.content, resource))

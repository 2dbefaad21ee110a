"""The repository: the one owner of stored resources, their versions and their indexes.

Every write goes through here, so validation, versioning and indexing cannot be skipped by a
route. The repository never commits: the caller owns the transaction, which is how a
``transaction`` Bundle stays atomic.
"""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db.models import ReferenceIndex, ResourceRow, ResourceVersionRow
from gateway.fhir import json_text, search
from gateway.fhir.access import AccessControl
from gateway.fhir.errors import FhirError, not_found
from gateway.fhir.hooks import Change, RepositoryHooks
from gateway.fhir.integrity import (
    DanglingReferences,
    LocalReference,
    local_references,
    missing,
)
from gateway.fhir.journal import Journal
from gateway.fhir.resource_types import APPEND_ONLY_TYPES, is_supported
from gateway.fhir.validation import Validator, has_errors
from gateway.fhir.versions import (
    StoredResource,
    WriteResult,
    as_utc,
    parse_etag,
    same_content,
    to_json,
    utc_now,
    with_meta,
)

log = logging.getLogger(__name__)

# A partner's history is decided version by version; it sees at most this many.
MAX_PARTNER_HISTORY = 2000
ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class Repository:
    """Reads and writes FHIR resources in one SQLAlchemy session, for one requester.

    ``access`` is the consent decision point for that requester (every resource this
    repository hands out passes it); ``hooks`` are the domain's (gateway/fhir/hooks.py).
    """

    def __init__(self, session: Session, validator: Validator,
                 registry: search.SearchParameterRegistry, base_url: str, *,
                 access: AccessControl,
                 hooks: RepositoryHooks | None = None,
                 check_references: bool = False,
                 clock: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.session = session
        # Referential integrity (gateway/fhir/integrity.py): the local references of what this
        # repository writes, checked before the commit. Off for the gateway's own writers
        # (the import of local records arrives in any order; the local system is the source
        # of truth).
        self._references: list[LocalReference] | None = [] if check_references else None
        self.access = access
        self.hooks = hooks or RepositoryHooks()
        # What hooks keep for this repository's transaction, by hook (as Flask's extensions).
        self.extensions: dict[str, Any] = {}
        self.validator = validator
        self.registry = registry
        # Our own FHIR base: absolute references to it are indexed as local ones.
        self.base_url = base_url
        self.clock = clock
        self.new_id = new_id
        self.index = search.IndexWriter(session, registry, base_url)
        # The append-only types' own storage (AuditEvent): fhir/journal.py.
        self.journal = Journal(session, registry, base_url)
        # Version rows: written as each change is made, or held (``defer_versions``) and
        # written with one statement by ``flush_versions``.
        self._held_versions: list[dict[str, Any]] | None = None

    # -- reads -------------------------------------------------------------------------------

    def _row(self, resource_type: str, resource_id: str, *, for_update: bool = False
             ) -> Any:
        """The current row (a Core row: its columns as attributes), or None."""
        return self.session.connection().execute(
            _SELECT_FOR_UPDATE if for_update else _SELECT,
            {"resource_type": resource_type, "id": resource_id}).one_or_none()

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        if resource_type in APPEND_ONLY_TYPES:
            entry = self.journal.read(resource_type, resource_id)
            if entry is None:
                raise not_found(resource_type, resource_id)
            return self._admitted(entry)
        # A plain Core select, compiled once: a read needs the columns, not an ORM object.
        row = self._row(resource_type, resource_id)
        if row is None:
            raise not_found(resource_type, resource_id)
        return self._admitted(StoredResource.from_row(row))

    def _admitted(self, stored: StoredResource) -> StoredResource:
        """``stored`` as the requester may see it; a hidden resource is 404 Not Found, the
        same answer as one that does not exist (a deletion is 410 only for operators)."""
        shown = self._visible(stored)
        if shown is None:
            raise not_found(stored.resource_type, stored.id)
        if shown.deleted:
            raise gone(shown)
        return shown

    def _visible(self, stored: StoredResource) -> StoredResource | None:
        """``stored`` in the form the requester receives, or None when hidden from it."""
        visible, content = self.access.admit(stored.resource_type, stored.id, stored.content)
        if not visible:
            return None
        return stored if content == stored.content else replace(stored, content=content)

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> StoredResource:
        self.flush_versions()
        # A version id is a positive integer that fits the column (2**63 - 1 at most).
        if not version_id.isascii() or not version_id.isdigit() or len(version_id) > 18:
            raise not_found(f"{resource_type}/{resource_id}/_history", version_id)
        if resource_type in APPEND_ONLY_TYPES:  # an entry is its only version
            entry = self.journal.read(resource_type, resource_id)
            if entry is None or int(version_id) != entry.version_id:
                raise not_found(f"{resource_type}/{resource_id}/_history", version_id)
            return self._admitted(entry)
        row = self.session.scalars(
            select(ResourceVersionRow).where(ResourceVersionRow.resource_type == resource_type,
                                             ResourceVersionRow.id == resource_id,
                                             ResourceVersionRow.version_id == int(version_id))
        ).one_or_none()
        if row is None:
            raise not_found(f"{resource_type}/{resource_id}/_history", version_id)
        return self._admitted(StoredResource.from_row(row))

    def history(self, resource_type: str | None, resource_id: str | None, *,
                since: datetime | None, count: int, offset: int
                ) -> tuple[list[StoredResource], int]:
        """Versions newest first, and how many there are in all. The whole system's history
        holds the versioned resources; an append-only type's entries (each its only version)
        are in that type's history and its instances'."""
        self.flush_versions()
        if resource_type in APPEND_ONLY_TYPES:
            entries, total = self.journal.history(resource_type, resource_id, since, count,
                                                  offset)
            return [shown for entry in entries
                    if (shown := self._visible(entry)) is not None], total
        conditions = []
        if resource_type:
            conditions.append(ResourceVersionRow.resource_type == resource_type)
        if resource_id:
            conditions.append(ResourceVersionRow.id == resource_id)
        if since:
            conditions.append(ResourceVersionRow.last_updated >= since)
        if not self.access.requester.is_operator:
            return self._partner_history(conditions, count, offset)
        total = self.session.scalar(select(func.count()).select_from(ResourceVersionRow)
                                    .where(*conditions)) or 0
        rows = self.session.scalars(
            select(ResourceVersionRow).where(*conditions)
            .order_by(ResourceVersionRow.last_updated.desc(),
                      ResourceVersionRow.version_id.desc())
            .limit(count).offset(offset)
        ).all()
        # Operators see every version; _visible notes each for the AuditEvent.
        return [shown for row in rows
                if (shown := self._visible(StoredResource.from_row(row))) is not None], total

    def _partner_history(self, conditions: list[Any], count: int, offset: int
                         ) -> tuple[list[StoredResource], int]:
        """History as a partner sees it: only versions of resources it may see now (the SQL
        filter), each version then decided on its own content; counted after deciding."""
        visible_now = select(ResourceRow.pk).where(self.access.sql_filter(ResourceRow, None))
        rows = self.session.scalars(
            select(ResourceVersionRow)
            .where(*conditions, ResourceVersionRow.resource_pk.in_(visible_now))
            .order_by(ResourceVersionRow.last_updated.desc(),
                      ResourceVersionRow.version_id.desc())
            .limit(MAX_PARTNER_HISTORY)).all()
        shown = [stored for row in rows
                 if (stored := self._visible(StoredResource.from_row(row))) is not None]
        return shown[offset:offset + count], len(shown)

    def search(self, request: search.SearchRequest) -> search.SearchResult:
        """``request`` run as the requester: a partner's matches, totals, chains and includes
        are filtered by its grants in SQL (an operator's, or the gateway's own ``SYSTEM``'s,
        are not: they may see everything), and every row handed out passes ``decide``. This is
        the one place a search is run for a requester; there is no unfiltered form."""
        self.index.flush()
        self.journal.flush()
        partner = not self.access.requester.is_operator
        result = search.execute_search(
            self.session, request, self.registry,
            access_filter=self.access.sql_filter if partner else None)
        # Decided again one by one (the filter and decide() read the same grants), and handed
        # out as detached copies in their disclosed form. Operators see everything, but what
        # they saw is noted the same way, for their AuditEvent.
        rows = [s for row in result.rows
                if (s := self._visible(StoredResource.from_row(row))) is not None]
        included = [s for row in result.included
                    if (s := self._visible(StoredResource.from_row(row))) is not None]
        if partner and (len(rows) != len(result.rows) or len(included) != len(result.included)):
            log.error("the consent filter admitted %d resources that decide() refused",
                      len(result.rows) + len(result.included) - len(rows) - len(included))
        return replace(result, rows=rows, included=included)

    def of_patient(self, patient_id: str, resource_types: Collection[str]
                   ) -> list[StoredResource]:
        """The consumer's current resources of ``resource_types`` (those whose ``patient``
        search parameter names them) that the requester may see, in the form it may see
        them: one query for all the types (what a delivery reads for each consumer). Each row
        passes decide(), as every read does; with no paging or totals to get right, the SQL
        form of the grants (which carries every consented consumer's id) is not needed."""
        self.index.flush()
        types = sorted(resource_types)
        resources = ResourceRow.__table__
        statement = (select(resources).where(
            resources.c.resource_type.in_(types), resources.c.deleted.is_(False),
            resources.c.pk.in_(select(ReferenceIndex.resource_pk).where(
                ReferenceIndex.resource_type.in_(types), ReferenceIndex.param == "patient",
                ReferenceIndex.target_type == "Patient", ReferenceIndex.target_id == patient_id)))
            .order_by(resources.c.resource_type, resources.c.pk))
        return [shown for row in self.session.connection().execute(statement)
                if (shown := self._visible(StoredResource.from_row(row))) is not None]

    def find(self, resource_type: str, query: str) -> list[StoredResource]:
        """Matches of a conditional query (``identifier=sys|val``) for If-None-Exist,
        ``ifNoneExist``, conditional references and conditional URLs: a search made for the
        requester, so it needs the token's search permission on the type (403 otherwise, for
        any data) and goes through the same access filter and decision point as ``search``.
        A match the requester may not see is no match, so it answers as no resource at all;
        a match it may see is handed out trimmed and noted for the request's AuditEvent, as a
        read is. More than two is as bad as two, so at most two are fetched."""
        params = _parse_query(query)
        if not params:
            raise FhirError(400, "invalid", f"the conditional query {query!r} has no criteria")
        self.access.requester.authorize(resource_type, "s")
        request = search.parse_search(resource_type, params, self.registry, lenient=False,
                                      default_count=2, max_count=2, base_url=self.base_url)
        request.count, request.offset, request.total_mode = 2, 0, "none"
        request.includes, request.revincludes = [], []
        return self.search(request).rows

    # -- writes ------------------------------------------------------------------------------

    def validate_for_write(self, resource: Any, resource_type: str) -> None:
        issues = self.validator.validate(resource, expected_type=resource_type)
        if has_errors(issues):
            raise FhirError(422 if isinstance(resource, dict) else 400, "processing",
                            "the resource is not valid",
                            issues=[i.to_issue() for i in issues])

    def create(self, resource_type: str, resource: Any, *, if_none_exist: str | None = None,
               resource_id: str | None = None) -> WriteResult:
        """Create with a server-assigned id (or ``resource_id``, used by transactions that
        assigned ids to ``urn:uuid:`` entries up front)."""
        _check_type(resource_type)
        if if_none_exist:
            matches = self.find(resource_type, if_none_exist)
            if len(matches) > 1:
                raise FhirError(412, "duplicate",
                                f"If-None-Exist {if_none_exist!r} matches more than one "
                                f"{resource_type}")
            if matches:
                return WriteResult(matches[0], created=False, changed=False)
        self._before_write(resource_type, None, resource)
        self.validate_for_write(resource, resource_type)
        if resource_type in APPEND_ONLY_TYPES:
            return self._append(resource_type, resource_id or self.new_id(), resource)
        return self._insert(resource_type, resource_id or self.new_id(), resource, "POST")

    def update(self, resource_type: str, resource_id: str, resource: Any, *,
               if_match: str | None = None) -> WriteResult:
        """Update, or create at a client-chosen id (create-on-update)."""
        _check_type(resource_type)
        _check_mutable(resource_type)
        if not ID_PATTERN.match(resource_id):
            raise FhirError(400, "invalid", f"{resource_id!r} is not a valid FHIR id")
        if isinstance(resource, dict):
            body_id = resource.get("id")
            if body_id is None:
                raise FhirError(400, "required", "an update must carry the resource's id",
                                f"{resource_type}.id")
            if body_id != resource_id:
                raise FhirError(400, "invalid",
                                f"the body's id {body_id!r} differs from the URL's {resource_id!r}",
                                f"{resource_type}.id")
        row = self._row(resource_type, resource_id, for_update=True)
        # An update that changes nothing (the same content as the current version, which was
        # validated when it was stored) is answered before the costlier validation.
        if (if_match is None and isinstance(resource, dict) and row is not None
                and not row.deleted and row.content is not None
                and same_content(row.content, resource)):
            return WriteResult(StoredResource.from_row(row), created=False, changed=False)
        self._before_write(resource_type, None if row is None or row.deleted else row.content,
                           resource)
        self.validate_for_write(resource, resource_type)
        if if_match is not None:
            expected = parse_etag(if_match)
            if row is None or row.version_id != expected:
                current = "none" if row is None else f'W/"{row.version_id}"'
                raise FhirError(412, "conflict",
                                f"If-Match {if_match} does not match the current version "
                                f"({current})")
        if row is None:
            return self._insert(resource_type, resource_id, resource, "PUT")
        if not row.deleted and row.content is not None and same_content(row.content, resource):
            return WriteResult(StoredResource.from_row(row), created=False, changed=False)
        was_deleted = row.deleted
        result = self._new_version(row, resource, "PUT")
        # Bringing a deleted resource back is a create, as far as the client is concerned.
        return WriteResult(result.stored, created=was_deleted)

    def conditional_update(self, resource_type: str, query: str, resource: Any, *,
                           if_match: str | None = None) -> WriteResult:
        """``PUT Type?query`` (R4 http.html#cond-update): no match creates (at the body's id,
        if it has one that is not taken: 409 if it is), one match is updated (400 if the
        body names another id), more than one is 412. The search is the requester's own."""
        matches = self.find(resource_type, query)
        if len(matches) > 1:
            raise FhirError(412, "multiple-matches", f"the conditional update's criteria "
                            f"{query!r} match more than one {resource_type}")
        body_id = resource.get("id") if isinstance(resource, dict) else None
        if not matches:
            if body_id is None:
                return self.create(resource_type, resource)
            if self._row(resource_type, str(body_id)) is not None:
                raise FhirError(409, "conflict", f"{resource_type}/{body_id} exists but does "
                                f"not match the criteria {query!r}", f"{resource_type}.id")
            return self.update(resource_type, str(body_id), resource, if_match=if_match)
        match = matches[0]
        if body_id is not None and body_id != match.id:
            raise FhirError(400, "invalid", f"the body's id {body_id!r} is not the matching "
                            f"{resource_type}'s ({match.id!r})", f"{resource_type}.id")
        if isinstance(resource, dict) and body_id is None:
            resource = {**resource, "id": match.id}
        return self.update(resource_type, match.id, resource, if_match=if_match)

    def conditional_delete(self, resource_type: str, query: str) -> StoredResource | None:
        """``DELETE Type?query`` (R4 http.html#3.1.0.7.1): the one match is deleted; none is
        nothing to do; more than one is 412 (this server deletes one resource at a time)."""
        matches = self.find(resource_type, query)
        if len(matches) > 1:
            raise FhirError(412, "multiple-matches", f"the conditional delete's criteria "
                            f"{query!r} match more than one {resource_type}")
        return self.delete(resource_type, matches[0].id) if matches else None

    def conditional_patch(self, resource_type: str, query: str,
                          change: Callable[[dict[str, Any]], dict[str, Any]], *,
                          if_match: str | None = None) -> WriteResult:
        """``PATCH Type?query``: the one match is patched; none is 404, several 412."""
        matches = self.find(resource_type, query)
        if len(matches) != 1:
            raise FhirError(412 if matches else 404,
                            "multiple-matches" if matches else "not-found",
                            f"a conditional patch's criteria must match exactly one "
                            f"{resource_type}; {query!r} matches {len(matches)}")
        return self.patch(resource_type, matches[0].id, change, if_match=if_match)

    def patch(self, resource_type: str, resource_id: str,
              change: Callable[[dict[str, Any]], dict[str, Any]], *,
              if_match: str | None = None) -> WriteResult:
        """``PATCH``: ``change`` applied to the current version, stored as an update (validated
        like one). Without If-Match the version read is the one patched: a concurrent change
        in between is a 409, never a lost update. A requester shown only part of the resource
        (minimum necessary) cannot patch it: what it does not see would be lost."""
        _check_type(resource_type)
        _check_mutable(resource_type)
        row = self._row(resource_type, resource_id)
        if row is None:
            raise not_found(resource_type, resource_id)
        shown = self._admitted(StoredResource.from_row(row))
        if shown.content != row.content:
            raise FhirError(403, "forbidden", f"{resource_type}/{resource_id} is shown to this "
                            f"client only in part; it cannot be patched")
        patched = change(shown.json())
        if not isinstance(patched, dict) or patched.get("resourceType") != resource_type \
                or patched.get("id") != resource_id:
            raise FhirError(422, "processing", "a patch may not change the resource's type "
                                               "or id")
        expected = if_match if if_match is not None else shown.etag
        try:
            return self.update(resource_type, resource_id, patched, if_match=expected)
        except FhirError as error:
            if if_match is None and error.status == 412:
                raise FhirError(409, "conflict", f"{resource_type}/{resource_id} was changed "
                                "while it was being patched; retry") from None
            raise

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """Soft delete: a new, empty version. None when it was already deleted."""
        _check_type(resource_type)
        _check_mutable(resource_type)
        row = self._row(resource_type, resource_id, for_update=True)
        if row is None:
            raise not_found(resource_type, resource_id)
        if row.deleted:
            return None
        return self._new_version(row, None, "DELETE").stored

    # -- internals ---------------------------------------------------------------------------

    def _before_write(self, resource_type: str, previous: str | None, resource: Any) -> None:
        """The ``before_write`` hooks (a referral Task's state machine): before validation,
        so that a refusal names what the hook refused."""
        for hook in self.hooks.before_write:
            hook(self, resource_type, previous, resource)

    def stored(self, changes: Sequence[Change]) -> None:
        """Run the ``stored`` hooks for versions just written (the bulk writer calls this for
        what it wrote)."""
        for hook in self.hooks.stored:
            hook(self, changes)

    def check_references(self) -> None:
        """A 422 FhirError naming each element whose local reference names no stored
        resource (of everything written since the last check)."""
        if not self._references:
            return
        pending, self._references = self._references, []
        absent = missing(self.session, pending)
        if absent:
            raise DanglingReferences(absent)

    def before_commit(self) -> None:
        """Check references, write what is held (index rows, version rows), then run the
        ``before_commit`` hooks; the writer that owns the transaction calls this just before
        committing."""
        self.check_references()
        self.index.flush()
        self.flush_versions()
        self.journal.flush()
        for hook in self.hooks.before_commit:
            hook(self)

    def after_commit(self) -> None:
        for hook in self.hooks.after_commit:
            hook(self)

    def _insert(self, resource_type: str, resource_id: str, resource: dict[str, Any],
                method: str) -> WriteResult:
        now = self.clock()
        content = with_meta(resource, resource_type, resource_id, 1, now)
        values = {"resource_type": resource_type, "id": resource_id, "version_id": 1,
                  "last_updated": now, "deleted": False, "content": to_json(content)}
        # A Core insert (the ORM unit of work costs several times more); the row object below
        # is a detached snapshot for the version, the index and the answer.
        try:
            result = self.session.connection().execute(_INSERT_RESOURCE, values)
        except IntegrityError:
            # Another writer created the same id first (create-on-update race).
            raise FhirError(409, "conflict", f"{resource_type}/{resource_id} was created "
                            f"concurrently by another request; retry") from None
        row = ResourceRow(pk=result.inserted_primary_key[0], **values)
        self._record_version(row, method)
        self.index.reindex(row, content, fresh=True)
        if self._references is not None:
            self._references += local_references(content, self.base_url)
        self.stored([Change(resource_type, resource_id, content, None, now, created=True)])
        return WriteResult(StoredResource.from_row(row), created=True)

    def append_own(self, resource_type: str, resource: dict[str, Any]) -> WriteResult:
        """Store a record of an append-only type that the gateway built itself (its own
        AuditEvents, from pure builders whose every shape the tests validate), skipping the
        validation a client's content gets: one is written for every request, and validating
        it cost more than storing it. Anything a client sends goes through ``create``."""
        if resource_type not in APPEND_ONLY_TYPES:
            raise ValueError(f"{resource_type} is not an append-only type")
        return self._append(resource_type, self.new_id(), resource)

    def _append(self, resource_type: str, resource_id: str, resource: dict[str, Any]
                ) -> WriteResult:
        """A new entry of an append-only type, in the journal. An AuditEvent records what was
        asked for, which need not exist (a refused read): its references are not checked."""
        now = self.clock()
        content = with_meta(resource, resource_type, resource_id, 1, now)
        stored = self.journal.append(resource_type, resource_id, now, to_json(content), content)
        self.stored([Change(resource_type, resource_id, content, None, now, created=True)])
        return WriteResult(stored, created=True)

    def _new_version(self, row: Any, resource: dict[str, Any] | None, method: str
                     ) -> WriteResult:
        now = max(self.clock(), as_utc(row.last_updated))
        previous = row.content
        version = row.version_id + 1
        content = (None if resource is None
                   else to_json(with_meta(resource, row.resource_type, row.id, version, now)))
        # Compare-and-set on the version: a concurrent writer that got here first wins and
        # this one reports a conflict instead of silently overwriting it.
        result = self.session.execute(
            update(ResourceRow)
            .where(ResourceRow.pk == row.pk, ResourceRow.version_id == row.version_id)
            .values(version_id=version, last_updated=now, deleted=resource is None,
                    content=content)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise FhirError(409, "conflict",
                            f"{row.resource_type}/{row.id} was changed concurrently; retry")
        # What was just written (no need to read it back).
        row = ResourceRow(pk=row.pk, resource_type=row.resource_type, id=row.id,
                          version_id=version, last_updated=now, deleted=resource is None,
                          content=content)
        self._record_version(row, method)
        stored = None if content is None else json_text.loads_stored(content)
        if stored is None:
            self.index.clear(row.pk)
        else:
            self.index.reindex(row, stored)
            if self._references is not None:
                self._references += local_references(stored, self.base_url)
        self.stored([Change(row.resource_type, row.id, stored, previous, now, created=False)])
        return WriteResult(StoredResource.from_row(row), created=False)

    def _record_version(self, row: ResourceRow, method: str) -> None:
        # A Core insert in the session's transaction: versions are never loaded back as
        # objects in the writing session, and the ORM unit of work costs several times more.
        values = {"resource_pk": row.pk, "version_id": row.version_id,
                  "resource_type": row.resource_type, "id": row.id,
                  "last_updated": row.last_updated, "method": method, "content": row.content}
        if self._held_versions is None:
            self.session.connection().execute(_INSERT_VERSION, values)
        else:
            self._held_versions.append(values)

    def defer_versions(self) -> None:
        """Hold the version rows of this transaction's changes until ``flush_versions``, and
        write them with one statement there (for a writer that makes several changes and reads
        no history before committing: GatewayState.writing flushes them before the commit;
        vread and history flush first). Not for writers that roll back to savepoints."""
        if self._held_versions is None:
            self._held_versions = []

    def flush_versions(self) -> None:
        if self._held_versions:
            self.session.connection().execute(_INSERT_VERSION, self._held_versions)
            self._held_versions.clear()


# One statement object each, so SQLAlchemy compiles them once (values go as parameters).
_SELECT = select(ResourceRow.__table__).where(
    ResourceRow.__table__.c.resource_type == bindparam("resource_type"),
    ResourceRow.__table__.c.id == bindparam("id"))
_SELECT_FOR_UPDATE = _SELECT.with_for_update()
_INSERT_RESOURCE = insert(ResourceRow.__table__)
_INSERT_VERSION = insert(ResourceVersionRow.__table__)


def gone(stored: StoredResource) -> FhirError:
    return FhirError(410, "deleted",
                     f"{stored.resource_type}/{stored.id} was deleted (version "
                     f"{stored.version_id})",
                     headers={"ETag": stored.etag})


def _check_type(resource_type: str) -> None:
    if not is_supported(resource_type):
        raise FhirError(404, "not-supported",
                        f"resource type {resource_type!r} is not supported by this server")


def _check_mutable(resource_type: str) -> None:
    if resource_type in APPEND_ONLY_TYPES:
        raise FhirError(403, "forbidden",
                        f"{resource_type} records are append-only; they cannot be changed or "
                        f"deleted")


def _parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query.lstrip("?"), keep_blank_values=True)


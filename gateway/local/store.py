"""The last accepted version of each local record, in the gateway's database."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from gateway.db.models import LocalRecordRow


def content_hash(record: dict[str, Any]) -> str:
    """A hash of the record's content, independent of key order and whitespace."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def consumer_of(record: dict[str, Any]) -> str | None:
    """The consumer a record belongs to (the consumer itself for a consumer record)."""
    return record["id"] if record.get("type") == "consumer" else record.get("consumer")


_UNITS = "organization units"  # the session.info key; dropped when records are put


def organization_units(session: Session) -> dict[str, dict[str, Any]]:
    """The agency's own organization record (``"agency"``) and its Local Access unit's
    (``"local-access"``), the first of each kind in local-id order, when stored; read once per
    session. The store writes records as compact JSON, so only rows whose text names one of
    those kinds are read and decoded, not every school, court and clinic."""
    units = session.info.get(_UNITS)
    if units is None:
        units = session.info[_UNITS] = {}
        content = LocalRecordRow.content
        for text in session.scalars(select(content).where(
                LocalRecordRow.record_type == "organization",
                content.contains('"kind":"agency"') | content.contains('"kind":"local-access"'))
                .order_by(LocalRecordRow.local_id)):
            record = json.loads(text)
            if record.get("kind") in ("agency", "local-access"):
                units.setdefault(record["kind"], record)
    return units


@dataclass(frozen=True)
class StoredRecord:
    """What the store keeps of one record: enough to tell an unchanged copy and to read it."""

    pk: int
    content_hash: str
    content: str


_TABLE = LocalRecordRow.__table__
_INSERT = insert(_TABLE)
_INSERT_RETURNING = insert(_TABLE).returning(_TABLE.c.pk, sort_by_parameter_order=True)
_UPDATE = update(_TABLE).where(_TABLE.c.pk == bindparam("row_pk"))
_COLUMNS = (_TABLE.c.pk, _TABLE.c.record_type, _TABLE.c.local_id, _TABLE.c.content_hash,
            _TABLE.c.content)


class LocalRecordStore:
    """Reads and writes local records in one session; the caller owns the transaction.

    Plain SQL (Core) rather than ORM objects: an import writes hundreds of thousands of these
    rows and never needs them as objects.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        # Rows (or None: known absent) by (type, id), loaded in bulk by preload(); kept in step
        # with put() and forget(), for one session's transaction.
        self._rows: dict[tuple[str, str], StoredRecord | None] = {}

    def preload(self, keys: Iterable[tuple[str, str]]) -> None:
        """Load the stored rows of many records in one query (a chunk's, before it runs)."""
        wanted = {key for key in keys if key not in self._rows}
        if not wanted:
            return
        # Both columns' IN lists, so the (record_type, local_id) index answers (a row-value IN,
        # or local_id alone, would scan the table: quadratic over an import).
        types = sorted({record_type for record_type, _ in wanted})
        ids = sorted({local_id for _, local_id in wanted})
        found = {(row.record_type, row.local_id): _stored(row)
                 for row in self.session.execute(select(*_COLUMNS).where(
                     _TABLE.c.record_type.in_(types), _TABLE.c.local_id.in_(ids)))}
        for key in wanted:
            self._rows[key] = found.get(key)

    def forget(self, record_type: str, local_id: str) -> None:
        """Drop what is known of one record (its savepoint was rolled back)."""
        self._rows.pop((record_type, local_id), None)

    def get_row(self, record_type: str, local_id: str) -> StoredRecord | None:
        key = (record_type, local_id)
        if key in self._rows:
            return self._rows[key]
        found = self.session.execute(select(*_COLUMNS).where(
            _TABLE.c.record_type == record_type, _TABLE.c.local_id == local_id)).one_or_none()
        row = _stored(found) if found is not None else None
        self._rows[key] = row
        return row

    def get(self, record_type: str, local_id: str) -> dict[str, Any] | None:
        row = self.get_row(record_type, local_id)
        return json.loads(row.content) if row else None

    def for_consumer(self, consumer_id: str, record_type: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(select(LocalRecordRow).where(
            LocalRecordRow.consumer_id == consumer_id, LocalRecordRow.record_type == record_type
        ).order_by(LocalRecordRow.local_id)).all()
        return [json.loads(row.content) for row in rows]

    def put(self, record: dict[str, Any], digest: str) -> None:
        self.session.info.pop(_UNITS, None)
        key = (record["type"], record["id"])
        row = self.get_row(*key)
        content = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        values = {"consumer_id": consumer_of(record), "content_hash": digest, "content": content,
                  "updated_at": record["updated_at"], "imported_at": datetime.now(UTC)}
        if row is None:
            result = self.session.connection().execute(
                _INSERT, {"record_type": key[0], "local_id": key[1], **values})
            pk = result.inserted_primary_key[0]
        else:
            self.session.connection().execute(_UPDATE, {"row_pk": row.pk, **values})
            pk = row.pk
        self._rows[key] = StoredRecord(pk, digest, content)

    def put_many(self, records: list[tuple[dict[str, Any], str | None]]) -> None:
        """put() for many (record, content hash) pairs of distinct records: one statement for
        the new ones and one for the changed."""
        self.session.info.pop(_UNITS, None)
        created, changed = [], []
        now = datetime.now(UTC)
        for record, digest in records:
            assert digest is not None
            key = (record["type"], record["id"])
            row = self.get_row(*key)
            content = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            values = {"consumer_id": consumer_of(record), "content_hash": digest,
                      "content": content, "updated_at": record["updated_at"], "imported_at": now}
            if row is None:
                created.append((key, {"record_type": key[0], "local_id": key[1], **values}))
            else:
                changed.append((key, {"row_pk": row.pk, **values}))
        connection = self.session.connection()
        if created:
            result = connection.execute(_INSERT_RETURNING, [values for _, values in created])
            for (key, values), pk in zip(created, result.scalars(), strict=True):
                self._rows[key] = StoredRecord(pk, values["content_hash"], values["content"])
        if changed:
            connection.execute(_UPDATE, [values for _, values in changed])
            for key, values in changed:
                self._rows[key] = StoredRecord(values["row_pk"], values["content_hash"],
                                               values["content"])


def _stored(row: Any) -> StoredRecord:
    return StoredRecord(row.pk, row.content_hash, row.content)


def recently_imported(session: Session, limit: int = 5000) -> list[tuple[str, datetime]]:
    """(record type, when accepted) of the last ``limit`` records accepted, newest first:
    what the console groups into recent imports."""
    rows = session.execute(select(LocalRecordRow.record_type, LocalRecordRow.imported_at)
                           .order_by(LocalRecordRow.imported_at.desc()).limit(limit))
    return [(record_type, moment) for record_type, moment in rows]

"""The last accepted version of each local record, in the gateway's database."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import LocalRecordRow


def content_hash(record: dict[str, Any]) -> str:
    """A hash of the record's content, independent of key order and whitespace."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def consumer_of(record: dict[str, Any]) -> str | None:
    """The consumer a record belongs to (the consumer itself for a consumer record)."""
    return record["id"] if record.get("type") == "consumer" else record.get("consumer")


class LocalRecordStore:
    """Reads and writes local records in one session; the caller owns the transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # Rows (or None: known absent) by (type, id), loaded in bulk by preload(); kept in step
        # with put() and forget(), for one session's transaction.
        self._rows: dict[tuple[str, str], LocalRecordRow | None] = {}

    def preload(self, keys: Iterable[tuple[str, str]]) -> None:
        """Load the stored rows of many records in one query (a chunk's, before it runs)."""
        wanted = {key for key in keys if key not in self._rows}
        if not wanted:
            return
        ids = sorted({local_id for _, local_id in wanted})
        found = {(row.record_type, row.local_id): row for row in self.session.scalars(
            select(LocalRecordRow).where(LocalRecordRow.local_id.in_(ids)))}
        for key in wanted:
            self._rows[key] = found.get(key)

    def forget(self, record_type: str, local_id: str) -> None:
        """Drop what is known of one record (its savepoint was rolled back)."""
        self._rows.pop((record_type, local_id), None)

    def get_row(self, record_type: str, local_id: str) -> LocalRecordRow | None:
        key = (record_type, local_id)
        if key in self._rows:
            return self._rows[key]
        row = self.session.scalars(select(LocalRecordRow).where(
            LocalRecordRow.record_type == record_type,
            LocalRecordRow.local_id == local_id)).one_or_none()
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
        row = self.get_row(record["type"], record["id"])
        content = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        if row is None:
            row = LocalRecordRow(
                record_type=record["type"], local_id=record["id"], consumer_id=consumer_of(record),
                content_hash=digest, content=content, updated_at=record["updated_at"],
                imported_at=now)
            self.session.add(row)
            self._rows[(record["type"], record["id"])] = row
        else:
            row.consumer_id = consumer_of(record)
            row.content_hash, row.content = digest, content
            row.updated_at, row.imported_at = record["updated_at"], now
        self.session.flush()

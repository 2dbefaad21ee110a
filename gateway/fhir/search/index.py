"""Writing a resource's search values to the index tables (runs on every create and update)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from gateway.db.models import (
    INDEX_TABLES,
    DateIndex,
    ReferenceIndex,
    ResourceRow,
    StringIndex,
    TokenIndex,
    UriIndex,
)
from gateway.fhir.search.extract import extract
from gateway.fhir.search.registry import SearchParameterRegistry


def reindex(session: Session, row: ResourceRow, resource: dict[str, Any],
            registry: SearchParameterRegistry, *, base_url: str | None = None,
            fresh: bool = False) -> None:
    """Replace the index rows of ``row`` with the values of ``resource``.

    ``base_url`` is this server's FHIR base: absolute references under it are indexed as the
    local ``Type/id`` they name. A deleted row keeps no index rows. ``fresh``: the row was just
    inserted, so it has no index rows to clear.
    """
    if row.pk is None:
        session.flush()
    if not fresh:
        clear_index(session, row.pk)
    if row.deleted:
        return
    found = extract(registry.indexed(row.resource_type), resource, base_url)
    common = {"resource_pk": row.pk, "resource_type": row.resource_type}
    batches: list[tuple[Any, list[dict[str, Any]]]] = [
        (TokenIndex, [{**common, "param": p, "system": s, "code": c}
                      for p, s, c in found.tokens]),
        (StringIndex, [{**common, "param": p, "normalized": n, "exact": e}
                       for p, n, e in found.strings]),
        (ReferenceIndex, [{**common, "param": p, "target_type": t, "target_id": i, "url": u}
                          for p, t, i, u in found.references]),
        (DateIndex, [{**common, "param": p, "low": low, "high": high}
                     for p, low, high in found.dates]),
        (UriIndex, [{**common, "param": p, "value": v} for p, v in found.uris]),
    ]
    # Core inserts on the session's connection (same transaction): the ORM bulk-insert path
    # costs several times more per call and these rows are never loaded as objects.
    connection = session.connection()
    for table, rows in batches:
        if rows:
            connection.execute(insert(table.__table__), rows)


def clear_index(session: Session, resource_pk: int) -> None:
    """Remove every index row of one resource (on delete, and before reindexing)."""
    connection = session.connection()
    for table in INDEX_TABLES:
        connection.execute(delete(table.__table__).where(
            table.__table__.c.resource_pk == resource_pk))

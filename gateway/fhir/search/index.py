"""Writing a resource's search values to the index tables (runs on every create and update)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, String, Table, delete, insert, text
from sqlalchemy.engine import Dialect
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
    # Core inserts on the session's connection (same transaction): the ORM bulk-insert path
    # costs several times more per call and these rows are never loaded as objects.
    write_rows(session.connection(), {table.__table__: rows for table, rows
                                      in index_rows(row, resource, registry, base_url)})


def index_rows(row: ResourceRow, resource: dict[str, Any], registry: SearchParameterRegistry,
               base_url: str | None) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The rows each index table gets for ``resource`` (tables without rows left out)."""
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
    return [(table, rows) for table, rows in batches if rows]


def clear_index(session: Session, resource_pk: int) -> None:
    """Remove every index row of one resource (on delete, and before reindexing): on
    PostgreSQL with one statement (a DELETE per table, each in a WITH clause, all of which run
    to completion), elsewhere one per table."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_CLEAR_ALL_POSTGRES, {"resource_pk": resource_pk})
        return
    for table in INDEX_TABLES:
        connection.execute(delete(table.__table__).where(
            table.__table__.c.resource_pk == resource_pk))


_CLEAR_ALL_POSTGRES = text(
    "WITH " + ", ".join(f"cleared_{table.__tablename__} AS (DELETE FROM {table.__tablename__} "
                        f"WHERE resource_pk = :resource_pk)" for table in INDEX_TABLES)
    + " SELECT 1")


class IndexWriter:
    """Index rows for one writing session: written at once, or, once ``defer()`` was called,
    held and written together by ``flush()``.

    Deferring is for bulk writers (the local-record import) that write many resources and
    search none of them before committing; whoever defers must flush before the commit, and
    the repository flushes before it searches. ``snapshot()`` and ``restore()`` follow a
    savepoint: rows held since a rolled-back savepoint are dropped with it.
    """

    def __init__(self, session: Session, registry: SearchParameterRegistry,
                 base_url: str | None) -> None:
        self.session = session
        self.registry = registry
        self.base_url = base_url
        self._held: dict[int, list[tuple[Any, list[dict[str, Any]]]]] | None = None

    def defer(self) -> None:
        if self._held is None:
            self._held = {}

    def reindex(self, row: ResourceRow, resource: dict[str, Any], *, fresh: bool = False
                ) -> None:
        if self._held is None:
            reindex(self.session, row, resource, self.registry, base_url=self.base_url,
                    fresh=fresh)
            return
        if not fresh:
            self.clear(row.pk)
        if not row.deleted:
            self._held[row.pk] = index_rows(row, resource, self.registry, self.base_url)

    def clear(self, resource_pk: int) -> None:
        if self._held is not None:
            self._held.pop(resource_pk, None)
        clear_index(self.session, resource_pk)

    def clear_many(self, resource_pks: list[int]) -> None:
        """clear() for many resources, one statement per index table."""
        if not resource_pks:
            return
        if self._held is not None:
            for pk in resource_pks:
                self._held.pop(pk, None)
        connection = self.session.connection()
        for start in range(0, len(resource_pks), 500):
            batch = resource_pks[start:start + 500]
            for table in INDEX_TABLES:
                connection.execute(delete(table.__table__).where(
                    table.__table__.c.resource_pk.in_(batch)))

    def flush(self) -> None:
        """Write every held row (see write_rows)."""
        if not self._held:
            return
        by_table: dict[Any, list[dict[str, Any]]] = {}
        for batches in self._held.values():
            for table, rows in batches:
                by_table.setdefault(table, []).extend(rows)
        self._held.clear()
        write_rows(self.session.connection(),
                   {table.__table__: rows for table, rows in by_table.items()})

    def snapshot(self) -> dict[int, Any] | None:
        return None if self._held is None else dict(self._held)

    def restore(self, snapshot: dict[int, Any] | None) -> None:
        if self._held is not None and snapshot is not None:
            self._held = dict(snapshot)


def write_rows(connection: Connection, rows_by_table: Mapping[Table, list[dict[str, Any]]]
               ) -> None:
    """Insert the index rows of several tables (each table's rows of one shape) in the
    connection's transaction.

    Every create and update writes rows into three or four index tables. On PostgreSQL they
    go in one statement, a data-modifying ``WITH`` per table over ``unnest`` arrays (PostgreSQL
    manual, "Data-Modifying Statements in WITH": each runs to completion whether or not the
    query reads it), instead of one round trip per table; a table with the many rows of a bulk
    load goes by COPY (``insert_rows``). Elsewhere: one executemany per table."""
    postgresql = connection.dialect.name == "postgresql"
    together = {}
    for table, rows in rows_by_table.items():
        if postgresql and 0 < len(rows) < COPY_FROM:
            together[table] = rows
        elif rows:
            insert_rows(connection, table, rows)
    if together:
        statement = _unnest_insert(connection.dialect, tuple(
            (table, tuple(rows[0])) for table, rows in together.items()))
        connection.exec_driver_sql(statement.sql, statement.parameters(together.values()))


class _UnnestInsert:
    """One PostgreSQL statement inserting into several tables from arrays, one per column,
    with each value put through its column type's bind processor."""

    def __init__(self, dialect: Dialect, shape: tuple[tuple[Table, tuple[str, ...]], ...]
                 ) -> None:
        self.columns = [[table.c[name] for name in names] for table, names in shape]
        self.processors = [[column.type.dialect_impl(dialect).bind_processor(dialect)
                            for column in columns] for columns in self.columns]
        quote = dialect.identifier_preparer
        parts = []
        for number, ((table, _), columns) in enumerate(zip(shape, self.columns, strict=True)):
            names = ", ".join(quote.quote(column.name) for column in columns)
            arrays = ", ".join(f"%s::{array_type(column, dialect)}" for column in columns)
            parts.append(f"rows_{number} AS (INSERT INTO {quote.format_table(table)} "
                         f"({names}) SELECT * FROM unnest({arrays}))")
        self.sql = f"WITH {', '.join(parts)} SELECT 1"

    def parameters(self, tables_rows: Iterable[list[dict[str, Any]]]) -> tuple[list[Any], ...]:
        arrays = []
        for rows, columns, processors in zip(tables_rows, self.columns, self.processors,
                                             strict=True):
            for column, processor in zip(columns, processors, strict=True):
                name = column.name
                arrays.append([row[name] if processor is None or row[name] is None
                               else processor(row[name]) for row in rows])
        return tuple(arrays)


def array_type(column: Any, dialect: Dialect) -> str:
    """The PostgreSQL array type a column's values are sent as (here and in the journal's
    insert): strings unbounded, so that the column's own length, not the cast, judges a
    value (a cast to varchar(n) would cut it silently)."""
    if isinstance(column.type, String):
        return "varchar[]"
    return f"{column.type.compile(dialect=dialect)}[]"


_UNNEST_INSERTS: dict[tuple[str, Any], _UnnestInsert] = {}


def _unnest_insert(dialect: Dialect, shape: tuple[tuple[Table, tuple[str, ...]], ...]
                   ) -> _UnnestInsert:
    key = (dialect.name, shape)
    built = _UNNEST_INSERTS.get(key)
    if built is None:
        built = _UNNEST_INSERTS[key] = _UnnestInsert(dialect, shape)
    return built


COPY_FROM = 50  # rows of one table from which COPY is worth its setup


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows of one shape in the connection's transaction: PostgreSQL's COPY (tens
    of times faster than row-by-row INSERTs for the millions of index rows of a bulk load),
    an executemany INSERT elsewhere."""
    if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    preparer = connection.dialect.identifier_preparer
    statement = (f"COPY {preparer.format_table(table)} "
                 f"({', '.join(preparer.quote(name) for name in columns)}) FROM STDIN")
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(tuple(row[name] for name in columns))
    finally:
        cursor.close()

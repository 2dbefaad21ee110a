"""How journal entries and their index rows reach the database in the fewest statements.

Every request the gateway answers stores one journal entry (its AuditEvent) and about ten
index rows in four tables, so this is the most frequent write there is. Built through the ORM
it took five statements, each compiled and sent on its own: on PostgreSQL five round trips,
and on either database more time in SQLAlchemy than in the driver. Here the SQL text is built
once per dialect from the tables' own definitions and sent as it is:

- **PostgreSQL**: one statement for the whole batch. A data-modifying ``WITH`` (PostgreSQL
  manual, "Data-Modifying Statements in WITH") inserts the entries from arrays (``unnest``)
  and, in the same statement, each index table's rows joined to the entries they belong to
  by (resource_type, id), which the journal keeps unique. The text never changes, so psycopg
  prepares it on the server after a few uses.
- **SQLite** (no data-modifying ``WITH``): one INSERT per entry (its pk from ``lastrowid``)
  and one executemany per index table, all on the transaction's connection.

Values go through each column type's own bind processor, so what is stored is what the ORM
would have stored (tests/fhir/test_journal_insert.py compares the two on both databases).
A second entry with the same id fails on the unique constraint as before (IntegrityError).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table
from sqlalchemy.engine import Dialect

from gateway.db.models import JOURNAL_INDEX_TABLES, JournalRow
from gateway.fhir.search.index import array_type

ENTRY_COLUMNS = ("resource_type", "id", "last_updated", "content")
# Index rows of one entry: (index table, rows); each row as its table's columns, by name,
# with ``resource_pk`` left out (the insert fills it in).
IndexRows = Sequence[tuple[Table, Sequence[dict[str, Any]]]]


def insert_entries(connection: Connection, entries: Sequence[dict[str, Any]],
                   index: Sequence[IndexRows]) -> None:
    """Insert ``entries`` (values of ENTRY_COLUMNS) and, for the entry at the same position
    in ``index``, its index rows, in the connection's transaction."""
    statements = _statements(connection.dialect)
    if connection.dialect.name == "postgresql":
        _insert_postgresql(connection, statements, entries, index)
    else:
        _insert_each(connection, statements, entries, index)


class _Statements:
    """The SQL of one dialect, and each column's bind processor, built once."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        entries = JournalRow.__table__
        self.entry_columns = [entries.c[name] for name in ENTRY_COLUMNS]
        self.index_columns = {table: [c for c in table.columns
                                      if not c.primary_key and c.name != "resource_pk"]
                              for table in (t.__table__ for t in JOURNAL_INDEX_TABLES)}
        self.processors: dict[Column[Any], Callable[[Any], Any] | None] = {
            column: column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in [*self.entry_columns,
                           *(c for cs in self.index_columns.values() for c in cs)]}
        quote = dialect.identifier_preparer
        if dialect.name == "postgresql":
            self.batch = self._postgresql_batch(quote)
        else:
            self.entry = (f"INSERT INTO {quote.format_table(entries)} "
                          f"({_names(quote, self.entry_columns)}) "
                          f"VALUES ({', '.join('?' * len(self.entry_columns))})")
            self.index = {table: f"INSERT INTO {quote.format_table(table)} "
                                 f"(resource_pk, {_names(quote, columns)}) "
                                 f"VALUES ({', '.join('?' * (len(columns) + 1))})"
                          for table, columns in self.index_columns.items()}

    def _postgresql_batch(self, quote: Any) -> str:
        entries = JournalRow.__table__
        arrays = ", ".join(f"%s::{array_type(c, self.dialect)}" for c in self.entry_columns)
        parts = [f"entry AS (INSERT INTO {quote.format_table(entries)} "
                 f"({_names(quote, self.entry_columns)}) SELECT * FROM unnest({arrays}) "
                 f"RETURNING pk, resource_type, id)"]
        for number, (table, columns) in enumerate(self.index_columns.items()):
            names = _names(quote, columns)
            arrays = ", ".join(["%s::varchar[]",  # the entry's id
                                *(f"%s::{array_type(c, self.dialect)}" for c in columns)])
            aliases = ", ".join(["entry_id", *(f"v{i}" for i in range(len(columns)))])
            values = ", ".join(f"row.v{i}" for i in range(len(columns)))
            resource_type = [c.name for c in columns].index("resource_type")
            parts.append(
                f"index_{number} AS (INSERT INTO {quote.format_table(table)} "
                f"(resource_pk, {names}) SELECT entry.pk, {values} "
                f"FROM unnest({arrays}) AS row({aliases}) JOIN entry "
                f"ON entry.id = row.entry_id AND entry.resource_type = row.v{resource_type})")
        return f"WITH {', '.join(parts)} SELECT count(*) FROM entry"

    def value(self, column: Column[Any], value: Any) -> Any:
        processor = self.processors[column]
        return value if processor is None or value is None else processor(value)


# One per dialect name: built from the same tables, the text and processors do not depend on
# the engine.
_BUILT: dict[str, _Statements] = {}


def _statements(dialect: Dialect) -> _Statements:
    built = _BUILT.get(dialect.name)
    if built is None:
        built = _BUILT[dialect.name] = _Statements(dialect)
    return built


def _names(quote: Any, columns: Sequence[Column[Any]]) -> str:
    return ", ".join(quote.quote(column.name) for column in columns)


def _insert_postgresql(connection: Connection, statements: _Statements,
                       entries: Sequence[dict[str, Any]], index: Sequence[IndexRows]) -> None:
    parameters: list[list[Any]] = [
        [statements.value(column, entry[column.name]) for entry in entries]
        for column in statements.entry_columns]
    for table, columns in statements.index_columns.items():
        entry_ids: list[str] = []
        values: list[list[Any]] = [[] for _ in columns]
        for entry, by_table in zip(entries, index, strict=True):
            for rows_table, rows in by_table:
                if rows_table is not table:
                    continue
                for row in rows:
                    entry_ids.append(entry["id"])
                    for position, column in enumerate(columns):
                        values[position].append(statements.value(column, row[column.name]))
        parameters.extend([entry_ids, *values])
    stored = connection.exec_driver_sql(statements.batch, tuple(parameters)).scalar_one()
    if stored != len(entries):
        raise RuntimeError(f"journal: {stored} of {len(entries)} entries inserted")


def _insert_each(connection: Connection, statements: _Statements,
                 entries: Sequence[dict[str, Any]], index: Sequence[IndexRows]) -> None:
    by_table: dict[Table, list[tuple[Any, ...]]] = {}
    for entry, by_entry in zip(entries, index, strict=True):
        result = connection.exec_driver_sql(statements.entry, tuple(
            statements.value(column, entry[column.name]) for column in statements.entry_columns))
        pk = result.lastrowid
        for table, rows in by_entry:
            columns = statements.index_columns[table]
            by_table.setdefault(table, []).extend(
                (pk, *(statements.value(column, row[column.name]) for column in columns))
                for row in rows)
    for table, rows in by_table.items():
        if rows:
            connection.exec_driver_sql(statements.index[table], rows)

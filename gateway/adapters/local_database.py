"""Polling a case-management system that is a database.

One configured SELECT per record type reads the rows changed since a high-water mark on their
``updated_at`` column; each row becomes a local record (``profiles/local/``), either from a
``record_json`` column holding the whole record or from flat columns named like the CSV headers
(``name.family``, semicolon lists), converted by the CSV reader's own row conversion.

The watermark lives in the gateway's database (``poll_watermark``), never in the source, which is
only ever read: PostgreSQL sessions are read-only transactions, SQLite connections are
``query_only``, queries must be SELECTs and nothing is ever committed. Rows are read with
``updated_at >= watermark``: rows sharing the boundary timestamp come back once more rather than
being lost, and the import pipeline recognises such unchanged re-reads by their content hash.
The watermark is the ``updated_at`` value's exact text (``isoformat()`` for a date-time), bound
back as ``:watermark``; a record's own ``updated_at`` needs a UTC offset, so a PostgreSQL
``timestamp without time zone`` is best selected as ``changed AT TIME ZONE 'UTC' AS updated_at``.
A ``record_json`` record without a ``type`` takes its query's.

Typical use, advancing only what the pipeline has committed::

    poller = DatabasePoller(load_source(path), state.session_factory)
    importer = RecordImporter(state, translator, on_committed=lambda _: poller.advance_polled())
    for outcome in importer.run(record for _, record in poller.changes()):
        ...
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.adapters.local_files import record_from_columns
from gateway.db.engine import begin_write
from gateway.db.models import PollWatermarkRow
from gateway.local.schemas import RECORD_TYPES
from gateway.local.sources import SourceRecord

RECORD_JSON = "record_json"
UPDATED_AT = "updated_at"
# Bound as :watermark before a record type was ever advanced: below any ISO-8601 text and a valid
# timestamp literal on every common database.
FIRST_WATERMARK = "0001-01-01T00:00:00"
FETCH_SIZE = 500
# PollWatermarkRow.source and .watermark are String(64).
MAX_NAME_LENGTH = MAX_WATERMARK_LENGTH = 64
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_CONFIG_KEYS = frozenset({"name", "url", "queries"})
_QUERY_KEYS = frozenset({"record_type", "sql"})


class SourceConfigError(ValueError):
    """A database source's configuration file is unusable; the message is one line."""


class SourceQueryError(RuntimeError):
    """A configured query could not be run or read (bad SQL, database unreachable)."""


@dataclass(frozen=True)
class PollQuery:
    """A SELECT taking ``:watermark`` and returning an ``updated_at`` column, and either a
    ``record_json`` column (the whole record as JSON) or flat columns named like CSV headers."""

    record_type: str
    sql: str


@dataclass(frozen=True)
class DatabaseSource:
    name: str
    url: str
    queries: tuple[PollQuery, ...]


# -- configuration -------------------------------------------------------------------------------

def load_source(path: Path) -> DatabaseSource:
    """Read a database source's JSON configuration; raises SourceConfigError on anything wrong::

        {"name": "cms",
         "url": "postgresql+psycopg://gateway_reader@cms-db/casemanagement",
         "queries": [{"record_type": "consumer",
                      "sql": ["SELECT id, updated_at, record_json FROM consumer_export",
                              "WHERE updated_at >= :watermark"]}]}

    ``sql`` is a string or a list of lines; a literal colon in it is written ``\\:``.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SourceConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SourceConfigError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise SourceConfigError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} "
                                f"column {error.colno}") from None
    return source_from_config(data, origin=str(path))


def source_from_config(data: Any, origin: str = "database source") -> DatabaseSource:
    """The checked DatabaseSource a parsed configuration describes (see ``load_source``)."""

    def fail(where: str, message: str) -> SourceConfigError:
        return SourceConfigError(f"{origin}: {where}: {message}" if where
                                 else f"{origin}: {message}")

    if not isinstance(data, dict):
        raise fail("", "the configuration must be a JSON object with name, url and queries")
    unknown = sorted(set(data) - _CONFIG_KEYS)
    if unknown:
        raise fail(unknown[0], "unknown setting; expected name, url and queries")
    for key in ("name", "url", "queries"):
        if key not in data:
            raise fail(key, "missing")
    name, url, queries = data["name"], data["url"], data["queries"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail("name", "must be letters, digits, '.', '_' or '-', starting with a letter "
                           "or digit")
    if len(name) > MAX_NAME_LENGTH:
        raise fail("name", f"longer than {MAX_NAME_LENGTH} characters")
    if not isinstance(url, str) or not url.strip():
        raise fail("url", "must be an SQLAlchemy database URL")
    try:
        make_url(url).get_dialect()
    except NoSuchModuleError:
        raise fail("url", f"unknown database dialect {make_url(url).drivername!r}") from None
    except (ArgumentError, ValueError):
        # The URL may hold a password: never repeat it.
        raise fail("url", "not an SQLAlchemy database URL (dialect+driver://user@host/db)"
                   ) from None
    if not isinstance(queries, list) or not queries:
        raise fail("queries", "must be a non-empty list of {record_type, sql}")
    parsed: dict[str, PollQuery] = {}
    for index, entry in enumerate(queries):
        where = f"queries[{index}]"
        if not isinstance(entry, dict):
            raise fail(where, "must be an object with record_type and sql")
        unknown = sorted(set(entry) - _QUERY_KEYS)
        if unknown:
            raise fail(f"{where}.{unknown[0]}", "unknown setting; expected record_type and sql")
        record_type = entry.get("record_type")
        if record_type not in RECORD_TYPES:
            raise fail(f"{where}.record_type", f"unknown record type {record_type!r}; expected "
                                               f"one of {', '.join(RECORD_TYPES)}")
        if record_type in parsed:
            raise fail(f"{where}.record_type", f"a second query for {record_type}")
        sql = _query_text(entry.get("sql"))
        problem = _sql_problem(sql) if sql is not None else "must be a SELECT (text or lines)"
        if problem:
            raise fail(f"{where}.sql", problem)
        assert sql is not None
        parsed[record_type] = PollQuery(record_type, sql)
    ordered = tuple(parsed[t] for t in RECORD_TYPES if t in parsed)
    return DatabaseSource(name=name, url=url, queries=ordered)


def _query_text(sql: Any) -> str | None:
    if isinstance(sql, list) and sql and all(isinstance(line, str) for line in sql):
        sql = "\n".join(sql)
    if not isinstance(sql, str):
        return None
    # Wrapped in a sub-select when run, where a trailing semicolon is a syntax error.
    return sql.strip().rstrip(";").rstrip()


def _sql_problem(sql: str) -> str | None:
    statement = _LEADING_COMMENTS.sub("", sql, count=1)
    first_word = re.match(r"\w+", statement)
    if not first_word or first_word.group().lower() not in ("select", "with"):
        return "must be a SELECT (or WITH ... SELECT); the source is only ever read"
    if re.search(r":watermark::", sql):
        return "write CAST(:watermark AS <type>): in :watermark::<type> it is not a parameter"
    try:
        parameters = set(text(sql).compile().params)
    except SQLAlchemyError as error:
        return f"cannot be parsed: {_first_line(error)}"
    if "watermark" not in parameters:
        return "must compare updated_at with :watermark (e.g. WHERE updated_at >= :watermark)"
    others = sorted(parameters - {"watermark"})
    if others:
        return (f"unknown parameter :{others[0]}; only :watermark is bound (write \\: for a "
                f"literal colon)")
    return None


# -- polling -------------------------------------------------------------------------------------

class DatabasePoller:
    """Reads a database source's changed rows as local records and keeps its watermarks.

    ``changes`` streams ``(record_type, SourceRecord)`` in dependency order (organization, staff,
    consumer, ... referral), each type ordered by ``updated_at``. ``advance`` stores a watermark
    once the records up to it are committed; ``advance_polled`` does so for everything yielded.
    """

    def __init__(self, source: DatabaseSource, gateway_sessions: sessionmaker[Session], *,
                 fetch_size: int = FETCH_SIZE) -> None:
        self.source = source
        self.gateway_sessions = gateway_sessions
        self.fetch_size = fetch_size
        self._queries = {query.record_type: query for query in source.queries}
        unknown = sorted(set(self._queries) - set(RECORD_TYPES))
        if unknown or len(self._queries) != len(source.queries):
            raise ValueError(f"database source {source.name}: one query per known record type "
                             f"({', '.join(RECORD_TYPES)})")
        self._engine: Engine | None = None
        self._polled: dict[str, str] = {}

    # -- reading the source

    def changes(self) -> Iterator[tuple[str, SourceRecord]]:
        """Every row changed since each record type's stored watermark, boundary rows included.

        Streams (a server-side cursor where the database has one) and holds one read-only source
        transaction until exhausted or closed; on PostgreSQL it is one snapshot for all types.
        """
        self._polled = {}
        since = self.watermarks()
        try:
            connection = self._source_engine().connect()
            self._prepare(connection)
        except SQLAlchemyError as error:
            raise SourceQueryError(f"database source {self.source.name}: cannot connect: "
                                   f"{_first_line(error)}") from error
        with connection:
            ordered = sorted(self._queries.values(),
                             key=lambda query: RECORD_TYPES.index(query.record_type))
            for query in ordered:
                yield from self._rows(connection, query,
                                      since.get(query.record_type, FIRST_WATERMARK))
            # Leaving the block rolls back: nothing is ever committed to the source.

    @property
    def polled_watermarks(self) -> dict[str, str]:
        """The ``updated_at`` of the last row ``changes`` has yielded so far, per record type."""
        return dict(self._polled)

    def _prepare(self, connection: Connection) -> None:
        options: dict[str, Any] = {"yield_per": self.fetch_size}
        if connection.dialect.name == "postgresql":
            # One snapshot across record types, so an assignment never names a staff member
            # the staff query did not see; read-only, so the source cannot be changed.
            options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        connection.execution_options(**options)

    def _rows(self, connection: Connection, query: PollQuery, since: str
              ) -> Iterator[tuple[str, SourceRecord]]:
        record_type = query.record_type
        # The sub-select makes the order a guarantee whatever the configured query says; the
        # line breaks keep a trailing "-- comment" from swallowing the parenthesis.
        statement = text(f"SELECT * FROM (\n{query.sql}\n) AS polled "
                         f"ORDER BY polled.{UPDATED_AT}")
        try:
            result = connection.execute(statement, {"watermark": since})
            for position, row in enumerate(result, start=1):
                values = dict(row._mapping)
                item = self._source_record(record_type, values, position)
                watermark = _watermark_text(values[UPDATED_AT])
                if watermark is not None and len(watermark) <= MAX_WATERMARK_LENGTH:
                    # Before the yield: whoever holds this record may advance past it.
                    self._polled[record_type] = watermark
                yield record_type, item
        except SQLAlchemyError as error:
            raise self._query_error(record_type, _first_line(error)) from error

    def _query_error(self, record_type: str, message: str) -> SourceQueryError:
        return SourceQueryError(f"database source {self.source.name}: the {record_type} query "
                                f"failed: {message}")

    def _source_record(self, record_type: str, values: dict[str, Any], position: int
                       ) -> SourceRecord:
        watermark = _watermark_text(values[UPDATED_AT])
        key = values.get("id")
        label = f"dbsource:{self.source.name}:{record_type}:"
        if RECORD_JSON in values:
            record, error = _record_from_json(values[RECORD_JSON], record_type)
            if key is None and isinstance(record, dict):
                key = record.get("id")
        else:
            record, error = _record_from_columns(values, record_type)
        label += str(key) if key is not None else f"row {position} (updated_at {watermark})"
        if watermark is None:
            error = error or (f"{UPDATED_AT} is empty or not a timestamp "
                              f"({values[UPDATED_AT]!r}), so the row cannot be polled reliably")
        elif len(watermark) > MAX_WATERMARK_LENGTH:
            error = error or f"{UPDATED_AT} is longer than {MAX_WATERMARK_LENGTH} characters"
        return SourceRecord(label, record, error)

    def _source_engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = _read_only_engine(self.source.url)
            except (OSError, ImportError, SQLAlchemyError) as error:
                raise SourceQueryError(f"database source {self.source.name}: cannot open "
                                       f"{_safe_url(self.source.url)}: {_first_line(error)}"
                                       ) from error
        return self._engine

    def close(self) -> None:
        """Release the source's connections (the poller can poll again afterwards)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> DatabasePoller:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- watermarks in the gateway database

    def watermarks(self) -> dict[str, str]:
        """The stored watermark of each record type that has one."""
        with self.gateway_sessions() as session:
            rows = session.scalars(select(PollWatermarkRow).where(
                PollWatermarkRow.source == self.source.name)).all()
            return {row.record_type: row.watermark for row in rows
                    if row.record_type in self._queries}

    def advance(self, record_type: str, watermark: str) -> None:
        """Store ``watermark`` for ``record_type`` once the records up to it are committed.

        Never moves backwards: an earlier watermark than the stored one only refreshes
        ``polled_at``.
        """
        if record_type not in self._queries:
            raise ValueError(f"database source {self.source.name} has no {record_type} query")
        if not isinstance(watermark, str) or not watermark:
            raise ValueError("a watermark is the non-empty text of an updated_at value")
        if len(watermark) > MAX_WATERMARK_LENGTH:
            raise ValueError(f"a watermark is at most {MAX_WATERMARK_LENGTH} characters")
        try:
            self._store_watermark(record_type, watermark)
        except IntegrityError:
            # Another poller of this source inserted the row first; now it is there to update.
            self._store_watermark(record_type, watermark)

    def advance_polled(self) -> None:
        """Advance every record type to the last row ``changes`` has yielded of it."""
        for record_type, watermark in self._polled.items():
            self.advance(record_type, watermark)

    def _store_watermark(self, record_type: str, watermark: str) -> None:
        now = datetime.now(UTC)
        with self.gateway_sessions() as session, session.begin():
            begin_write(session)
            row = session.get(PollWatermarkRow, (self.source.name, record_type),
                              with_for_update=True)
            if row is None:
                session.add(PollWatermarkRow(source=self.source.name, record_type=record_type,
                                             watermark=watermark, polled_at=now))
                return
            if watermark_is_later(watermark, row.watermark):
                row.watermark = watermark
            row.polled_at = now


def watermark_is_later(candidate: str, stored: str) -> bool:
    """Whether ``candidate`` is after ``stored``: as instants when both are ISO-8601 date-times
    of the same kind (both with or both without an offset), otherwise as text."""
    first, second = _as_datetime(candidate), _as_datetime(stored)
    if (first is not None and second is not None
            and (first.tzinfo is None) == (second.tzinfo is None)):
        return first > second
    return candidate > stored


def _as_datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# -- rows to records -----------------------------------------------------------------------------

def _watermark_text(value: Any) -> str | None:
    """The text bound back as ``:watermark``: exact, so the next poll starts at this row."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value or None
    return None


def _record_from_json(value: Any, record_type: str) -> tuple[Any, str | None]:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None, f"{RECORD_JSON} is not UTF-8 text"
    if value is None:
        return None, f"{RECORD_JSON} is empty"
    if isinstance(value, str):
        try:
            record = json.loads(value)
        except json.JSONDecodeError as error:
            return value, (f"{RECORD_JSON} is not valid JSON: {error.msg} at line "
                           f"{error.lineno} column {error.colno}")
    else:
        record = value  # a json/jsonb column, already decoded by the driver
    return _typed(record, record_type)


def _record_from_columns(values: Mapping[str, Any], record_type: str
                         ) -> tuple[Any, str | None]:
    # JSON-safe first: a rejected row is reported with its cells, and rejects are JSON.
    return record_from_columns({column: _plain(value) for column, value in values.items()},
                               record_type)


def _plain(value: Any) -> Any:
    """A driver's value as a JSON value the column convention reads as it reads a CSV cell."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)  # Decimal, UUID, ...: their text is what a CSV cell would hold


def _typed(record: Any, record_type: str) -> tuple[Any, str | None]:
    """The record with its ``type``; a query's rows are records of that query's type."""
    if not isinstance(record, dict):
        return record, f"{RECORD_JSON} must hold a JSON object"
    found = record.get("type", record_type)
    if found != record_type:
        return record, f"a {found!r} record from the {record_type} query"
    return ({"type": record_type, **record} if "type" not in record else record), None


def _read_only_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:") \
                and not Path(database).is_file():
            # Connecting would create an empty database file in the agency's system.
            raise FileNotFoundError(f"no SQLite database at {database}")
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_query_only)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_query_only(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__

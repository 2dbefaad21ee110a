"""Engine and session set-up, and the check that the schema is migrated."""
from __future__ import annotations

from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.sqlite_writers import WriterQueue

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# Execution option that marks a transaction as one that will write (see begin_write).
WRITE_OPTION = "gateway_write"


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (SQLite: BEGIN IMMEDIATE)."""
    session.connection(execution_options={WRITE_OPTION: True})


class DatabaseNotMigrated(RuntimeError):
    """The database schema is missing or behind the code's migrations."""


def make_engine(database_url: str, **kwargs: object) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        writers = None
        if url.database and url.database != ":memory:":
            writers = WriterQueue(Path(url.database).resolve())
            writers.install(engine)
        event.listen(engine, "begin", lambda connection: _begin_immediate(connection, writers))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy issue BEGIN itself (see _begin_immediate), and make SQLite behave like a
    # server database: foreign keys on, concurrent readers with one writer, waits not failures.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A 64 MiB page cache (the default is 2 MiB): a large import or index keeps its hot B-tree
    # pages in memory rather than re-reading them from the OS on every statement. Allocated as
    # pages are used, so small databases and idle connections do not pay for it.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _begin_immediate(connection, writers: WriterQueue | None) -> None:  # type: ignore[no-untyped-def]
    # A writing transaction takes the write lock at BEGIN, so two writers queue instead of one
    # failing when it upgrades its lock; readers begin deferred and never block. Writers wait
    # their turn in the WriterQueue first (see sqlite_writers.py: SQLite's busy handler would
    # otherwise poll for the lock with sleeps of up to 100 ms).
    if not connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    if writers is not None:
        writers.enter(dbapi_connection)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if writers is not None:
            writers.leave(dbapi_connection)
        raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(database_url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every migration up to head on this engine's database."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ensure_migrated(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotMigrated(
            f"database {engine.url.render_as_string(hide_password=True)} is at migration "
            f"{current or 'none'}, the code needs {head}: run 'gateway db upgrade'"
        )

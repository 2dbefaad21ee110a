"""Throwaway, migrated databases: a SQLite file in a temp dir, a PostgreSQL schema.

Both are context managers that remove what they created, also on errors and Ctrl-C.
"""
from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from gateway.db.engine import make_engine, upgrade

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Database:
    """A migrated database the benchmark owns: ``label`` is "SQLite" or "PostgreSQL"."""

    label: str
    url: str

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


@contextmanager
def sqlite_database(directory: Path) -> Iterator[Database]:
    path = directory / f"bench-{uuid.uuid4().hex[:8]}.db"
    url = f"sqlite:///{path}"
    _migrate(url)
    try:
        yield Database("SQLite", url)
    finally:
        for suffix in ("", "-wal", "-shm", "-writers"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def postgres_database(base_url: str = POSTGRES_URL) -> Iterator[Database]:
    """A fresh schema in ``base_url``'s database, dropped (CASCADE) afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = make_url(base_url).update_query_dict(
                {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
            _migrate(url)
            yield Database("PostgreSQL", url)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def analyze(engine: Engine) -> None:
    """Refresh planner statistics (what PostgreSQL's autovacuum does soon after a bulk load)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def settle(engine: Engine) -> None:
    """After a bulk load, what PostgreSQL's autovacuum and checkpointer would do before long
    (this machine's server runs with autovacuum off): VACUUM ANALYZE the database, the system
    catalogs included (every throwaway schema a test or benchmark created and dropped leaves
    dead catalog rows behind: 121,000 in pg_class after one day's runs, against 410 live),
    then a CHECKPOINT, so that the load's write-back does not land in the measurement."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text("VACUUM ANALYZE"))
            autocommit.execute(text("CHECKPOINT"))


def count(engine: Engine, resource_type: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(
            text("SELECT count(*) FROM resource WHERE resource_type = :t AND NOT deleted"),
            {"t": resource_type}).scalar_one())


def versions(base_url: str = POSTGRES_URL) -> tuple[str, str]:
    """(SQLite library version, PostgreSQL server version)."""
    engine = make_engine(base_url)
    try:
        with engine.connect() as connection:
            postgres = str(connection.execute(text("SHOW server_version")).scalar_one())
    except Exception as error:  # noqa: BLE001 - reported, not fatal here
        postgres = f"unreachable ({type(error).__name__})"
    finally:
        engine.dispose()
    return sqlite3.sqlite_version, postgres

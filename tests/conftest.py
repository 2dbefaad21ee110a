"""Shared fixtures: a fresh app per test on every configured database.

Storage-touching tests take the ``app``/``client``/``session_factory`` fixtures and so run once on
SQLite and once more on ``GATEWAY_TEST_DATABASE_URL`` when it is set. Each database is migrated
once per test run (PostgreSQL into a throwaway schema) and emptied before every test, so tests
can run repeatedly, and concurrently, against the same server.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.config import Config, test_database_url
from gateway.db.engine import make_engine, upgrade
from gateway.db.models import Base

OPERATOR_KEY = "test-operator-key-of-32-characters"
EXTRA_URL, REQUIRE_EXTRA = test_database_url()
DATABASES = ["sqlite"] + (["extra"] if EXTRA_URL else [])


def _postgres_schema_url(base_url: str, schema: str) -> str:
    url = make_url(base_url)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A migrated, empty database: SQLite in a temp file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gateway.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return

    with throwaway_schema("test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@contextmanager
def throwaway_schema(prefix: str) -> Iterator[str]:
    """A URL for a fresh schema on GATEWAY_TEST_DATABASE_URL's server, dropped afterwards;
    skips (or fails, when GATEWAY_REQUIRE_POSTGRES=1) when the server cannot be reached."""
    assert EXTRA_URL is not None
    admin = make_engine(EXTRA_URL)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means "unreachable"
        admin.dispose()
        if REQUIRE_EXTRA:
            pytest.fail(f"GATEWAY_TEST_DATABASE_URL is unreachable: {error}")
        pytest.skip(f"GATEWAY_TEST_DATABASE_URL is unreachable: {error}")
    try:
        yield _postgres_schema_url(EXTRA_URL, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _empty_all_tables(app: Flask) -> None:
    engine = app.extensions["gateway"].engine
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return Config(
        database_url=database_url,
        base_url="http://testserver",
        operator_keys=(OPERATOR_KEY,),
        var_dir=tmp_path / "var",
        max_body_bytes=256 * 1024,
    )


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    app = create_app(config)
    _empty_all_tables(app)
    yield app
    app.extensions["gateway"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    """Headers of an authenticated operator speaking FHIR JSON."""
    return {"Authorization": f"Bearer {OPERATOR_KEY}", "Accept": "application/fhir+json"}


@pytest.fixture
def session_factory(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["gateway"].session_factory


@pytest.fixture
def gateway_cli(config: Config):
    """Run a ``gateway`` command against the test's database (click's CliRunner)."""
    from click.testing import CliRunner

    from gateway.cli import cli

    env = {"GATEWAY_DATABASE_URL": config.database_url, "GATEWAY_VAR_DIR": str(config.var_dir),
           "GATEWAY_BASE_URL": config.base_url}

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), env=env)
    return run

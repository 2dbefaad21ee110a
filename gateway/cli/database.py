"""Opening GATEWAY_DATABASE_URL for a command, after checking it is migrated."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.cli.errors import CliError, first_line
from gateway.config import Config, config_from_env

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


def check_migrated(config: Config) -> None:
    from gateway.db.engine import DatabaseNotMigrated, ensure_migrated, make_engine

    engine = make_engine(config.database_url)
    try:
        ensure_migrated(engine)
    except DatabaseNotMigrated as error:
        raise CliError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - unreachable database and the like
        raise CliError(f"cannot open the database: {first_line(error)}") from None
    finally:
        engine.dispose()


@contextmanager
def open_sessions() -> Iterator[Any]:
    """A session factory on the migrated GATEWAY_DATABASE_URL, its engine disposed after."""
    from gateway.db.engine import make_engine, make_session_factory

    config = config_from_env()
    check_migrated(config)
    engine = make_engine(config.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def open_state() -> Iterator[Any]:
    """The app's state on the migrated GATEWAY_DATABASE_URL, closed after."""
    from gateway.app import create_app

    config = config_from_env()
    check_migrated(config)
    state = create_app(config).extensions["gateway"]
    try:
        yield state
    finally:
        state.close()

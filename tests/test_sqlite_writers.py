"""SQLite writers queue for the write lock (gateway/db/sqlite_writers.py) instead of polling
for it with SQLite's busy handler; a writing block takes the lock at its first statement.

Each test makes its own SQLite file: the queue is SQLite's alone (PostgreSQL has real lock
waits), so these run once, not per configured database."""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from gateway.db.engine import WRITE_OPTION, make_engine
from gateway.db.sqlite_writers import NestedWriteError


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE note (n INTEGER)")
    yield engine
    engine.dispose()


def writer(engine: Engine):
    return engine.connect().execution_options(**{WRITE_OPTION: True})


def queue_is_held(engine: Engine) -> bool:
    """Whether a writer holds the queue's file lock now (tried without waiting)."""
    fd = os.open(f"{Path(engine.url.database).resolve()}-writers", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_writer_waits_its_turn_instead_of_being_refused_busy(engine):
    first = writer(engine)
    first.begin()
    first.exec_driver_sql("INSERT INTO note VALUES (1)")
    assert queue_is_held(engine)
    second = writer(engine)
    # Without the queue a busy_timeout of 0 refuses at once: "database is locked".
    second.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")
    order: list[str] = []

    def write_second() -> None:
        with second.begin():
            order.append("second began")
            second.exec_driver_sql("INSERT INTO note VALUES (2)")

    thread = threading.Thread(target=write_second)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive() and order == []  # waiting in the queue
    order.append("first committed")
    first.commit()
    thread.join(10)
    assert order == ["first committed", "second began"]
    assert not queue_is_held(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM note ORDER BY n")).scalars().all() == [1, 2]
    first.close()
    second.close()


@pytest.mark.parametrize("end", ["commit", "rollback", "close", "error"])
def test_the_queue_is_let_go_however_the_transaction_ends(engine, end):
    connection = writer(engine)
    try:
        with connection.begin():
            connection.exec_driver_sql("INSERT INTO note VALUES (1)")
            assert queue_is_held(engine)
            if end == "error":
                connection.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")
            elif end == "rollback":
                connection.rollback()
            elif end == "close":
                connection.close()  # the pool rolls back what it gets back
    except OperationalError:
        assert end == "error"
    if end != "close":
        connection.close()
    assert not queue_is_held(engine)


def test_readers_do_not_queue(engine):
    first = writer(engine)
    first.begin()
    first.exec_driver_sql("INSERT INTO note VALUES (1)")
    counted: list[int] = []

    def read() -> None:
        with engine.connect() as reader:
            counted.append(reader.execute(text("SELECT count(*) FROM note")).scalar_one())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and counted == [0]  # answered while the writer holds the queue
    first.rollback()
    first.close()


def test_a_second_write_in_the_same_thread_is_refused_rather_than_waiting_for_itself(engine):
    first = writer(engine)
    first.begin()
    second = writer(engine)
    with pytest.raises(NestedWriteError):
        second.begin()
    first.rollback()
    with second.begin():  # its turn now
        second.exec_driver_sql("INSERT INTO note VALUES (1)")
    first.close()
    second.close()


def test_a_writing_block_takes_the_lock_at_its_first_statement(app):
    """What a write does before touching the database (parsing, validation) holds no other
    writer up."""
    state = app.extensions["gateway"]
    if state.engine.dialect.name != "sqlite":
        pytest.skip("the write lock at BEGIN IMMEDIATE is SQLite's")
    from gateway.auth import SYSTEM
    with state.writing(SYSTEM) as repository:
        assert not queue_is_held(state.engine)
        repository.session.execute(text("SELECT 1"))
        assert queue_is_held(state.engine)
    assert not queue_is_held(state.engine)

"""journal_insert: the journal's own SQL stores exactly what the ORM would (entries and index
rows, value for value, on SQLite and PostgreSQL), in one statement on PostgreSQL, and a
duplicate id still fails on the unique constraint."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from gateway.db.models import JOURNAL_INDEX_TABLES, JournalRow
from gateway.fhir.journal import journal_index_rows, new_entry_index_rows
from gateway.fhir.journal_insert import insert_entries

from .builders import operator_disclosure, partner_disclosure

WHEN = datetime(2026, 3, 2, 14, 30, 5, 123456, tzinfo=UTC)


def _entries() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Three stored-form events: two disclosures of several patients and resources, a denial."""
    events = [partner_disclosure(patients=["C-1", "C-2"],
                                 resources=["CareTeam/ct-1", "CareTeam/ct-2", "Goal/g-1"]),
              operator_disclosure(outcome="deny", resources=[]),
              partner_disclosure(description="a reason with 'quotes', commas, and \u00e9")]
    entries = []
    for number, audit_event in enumerate(events):
        last_updated = WHEN + timedelta(seconds=number)
        stored = {**audit_event, "id": f"ae-{number}",
                  "meta": {"versionId": "1", "lastUpdated": last_updated.isoformat()}}
        entries.append(({"resource_type": "AuditEvent", "id": f"ae-{number}",
                         "last_updated": last_updated, "content": repr(stored)}, stored))
    return entries


def _store_with_orm(session, registry, entries) -> None:
    for values, stored in entries:
        pk = session.execute(insert(JournalRow).returning(JournalRow.pk), values).scalar_one()
        row = JournalRow(pk=pk, resource_type=values["resource_type"])
        for table, rows in journal_index_rows(row, stored, registry, "http://gw/fhir"):
            session.execute(insert(table), rows)


def _store_with_journal_sql(session, registry, entries) -> None:
    insert_entries(session.connection(), [values for values, _ in entries], [
        new_entry_index_rows("AuditEvent", stored, registry, "http://gw/fhir")
        for _, stored in entries])


def _snapshot(session) -> dict[str, list[tuple[Any, ...]]]:
    """Every journal and journal index row as the driver returns it (no type processing, so
    a datetime stored in another text form on SQLite differs), by entry id rather than pk."""
    def raw(table: str) -> list[dict[str, Any]]:
        return [dict(row._mapping) for row in session.execute(text(f"SELECT * FROM {table}"))]
    entries = raw("journal")
    ids = {entry["pk"]: entry["id"] for entry in entries}
    snapshot = {"journal": sorted(tuple(v for k, v in e.items() if k != "pk") for e in entries)}
    for model in JOURNAL_INDEX_TABLES:
        snapshot[model.__tablename__] = sorted(
            (ids[row["resource_pk"]], *(v for k, v in row.items()
                                        if k not in ("row_id", "resource_pk")))
            for row in raw(model.__tablename__))
    return snapshot


def test_the_journal_sql_stores_what_the_orm_stores(app):
    state = app.extensions["gateway"]
    entries = _entries()
    snapshots = []
    for store in (_store_with_orm, _store_with_journal_sql):
        with state.session_factory() as session:
            transaction = session.begin()
            store(session, state.search_registry, entries)
            session.flush()
            snapshots.append(_snapshot(session))
            transaction.rollback()
    orm, journal_sql = snapshots
    assert len(orm["journal"]) == 3
    assert all(orm[table] for table in orm), "every index table has rows to compare"
    assert journal_sql == orm


def test_one_statement_for_the_whole_batch_on_postgresql(app):
    state = app.extensions["gateway"]
    statements: list[str] = []
    event.listen(state.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    # (SQLite's BEGIN is sent as a statement too: only the INSERTs are counted.)
    with state.session_factory() as session, session.begin():
        _store_with_journal_sql(session, state.search_registry, _entries())
        statements_written = sum(s.lstrip().startswith(("INSERT", "WITH")) for s in statements)
        assert session.scalar(select(JournalRow.id).where(JournalRow.id == "ae-2")) == "ae-2"
    if state.engine.dialect.name == "postgresql":
        assert statements_written == 1
    else:  # one INSERT per entry, one executemany per index table
        assert statements_written == 3 + len(JOURNAL_INDEX_TABLES)


def test_a_second_entry_with_the_same_id_fails_on_the_unique_constraint(app):
    state = app.extensions["gateway"]
    entries = _entries()
    with state.session_factory() as session, session.begin():
        _store_with_journal_sql(session, state.search_registry, entries[:1])
    with pytest.raises(IntegrityError), state.session_factory() as session, session.begin():
        _store_with_journal_sql(session, state.search_registry, entries)
    with state.session_factory() as session:  # the failed batch left nothing behind
        assert session.scalars(select(JournalRow.id)).all() == ["ae-0"]

"""write_rows: a resource's index rows in every table stored exactly as one executemany per
table stores them (value for value, on SQLite and PostgreSQL), in one statement on
PostgreSQL, with bulk-sized tables still going by COPY; a value too long for its column
still fails rather than being cut."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.exc import DataError

from gateway.db.models import INDEX_TABLES, ResourceRow, TokenIndex
from gateway.fhir.search.index import COPY_FROM, index_rows, write_rows

PLAN = {
    "resourceType": "CarePlan", "id": "cp-1", "status": "active", "intent": "plan",
    "subject": {"reference": "Patient/p-1"},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "LA28976-8"}]}],
    "period": {"start": "2026-01-05", "end": "2026-07-05T10:00:00+02:00"},
    "instantiatesUri": ["http://example.org/protocol"],
    "title": "Housing first, with \u00e9 and 'quotes'",
    "careTeam": [{"reference": "CareTeam/ct-1"}, {"reference": "https://other.example/x/1"}],
}


PATIENT = {"resourceType": "Patient", "id": "p-1", "birthDate": "1990-04",
           "name": [{"family": "M\u00fcller", "given": ["Ana"]}],
           "identifier": [{"system": "urn:x", "value": "42"}]}


def _rows(session, registry, pk: int) -> dict[Any, list[dict[str, Any]]]:
    """The index rows of a CarePlan and a Patient (between them, rows for every table)."""
    rows: dict[Any, list[dict[str, Any]]] = {}
    for resource in (PLAN, PATIENT):
        row = ResourceRow(pk=pk, resource_type=resource["resourceType"])
        for table, table_rows in index_rows(row, resource, registry, "http://gw/fhir"):
            rows.setdefault(table.__table__, []).extend(table_rows)
    return rows


def _snapshot(session) -> dict[str, list[tuple[Any, ...]]]:
    """Every index row as the driver returns it, without its row id."""
    return {model.__tablename__: sorted(
        (tuple(v for k, v in row._mapping.items() if k != "row_id")
         for row in session.execute(text(f"SELECT * FROM {model.__tablename__}"))), key=repr)
        for model in INDEX_TABLES}


def _with_resource(session, pk: int) -> None:
    session.execute(insert(ResourceRow), {"pk": pk, "resource_type": "CarePlan",
                                          "id": f"cp-{pk}", "version_id": 1,
                                          "deleted": False, "content": "{}",
                                          "last_updated": datetime(2026, 1, 1, tzinfo=UTC)})


def test_the_rows_written_together_are_the_rows_written_table_by_table(app):
    state = app.extensions["gateway"]
    snapshots = []
    for together in (False, True):
        with state.session_factory() as session:
            transaction = session.begin()
            _with_resource(session, 7)
            rows = _rows(session, state.search_registry, 7)
            if together:
                write_rows(session.connection(), rows)
            else:
                for table, table_rows in rows.items():
                    session.execute(insert(table), table_rows)
            snapshots.append(_snapshot(session))
            transaction.rollback()
    by_table, together = snapshots
    assert all(by_table[model.__tablename__] for model in INDEX_TABLES), \
        "every index table has rows to compare"
    assert together == by_table


def test_one_statement_for_every_table_on_postgresql_and_copy_for_a_bulk_table(app):
    state = app.extensions["gateway"]
    statements: list[str] = []
    event.listen(state.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    with state.session_factory() as session:
        transaction = session.begin()
        _with_resource(session, 7)
        statements.clear()
        rows = _rows(session, state.search_registry, 7)
        write_rows(session.connection(), rows)
        written = [s for s in statements if s.lstrip().startswith(("INSERT", "WITH"))]
        if state.engine.dialect.name == "postgresql":
            assert len(written) == 1
        else:
            assert len(written) == len(INDEX_TABLES)
        # A bulk-sized table among small ones: COPY for it, the rest still together.
        statements.clear()
        bulk = {**rows, TokenIndex.__table__: [
            {"resource_pk": 7, "resource_type": "CarePlan", "param": "identifier",
             "system": "urn:x", "code": str(n)} for n in range(COPY_FROM)]}
        before = session.execute(text("SELECT count(*) FROM search_token")).scalar_one()
        write_rows(session.connection(), bulk)
        after = session.execute(text("SELECT count(*) FROM search_token")).scalar_one()
        assert after - before == COPY_FROM
        if state.engine.dialect.name == "postgresql":
            written = [s for s in statements if s.lstrip().startswith(("INSERT", "WITH"))]
            assert len(written) == 1 and "search_token" not in written[0]
        transaction.rollback()


def test_a_value_too_long_for_its_column_fails_rather_than_being_cut(app):
    state = app.extensions["gateway"]
    if state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce a column's length")
    with state.session_factory() as session:
        transaction = session.begin()
        _with_resource(session, 7)
        with pytest.raises(DataError):
            write_rows(session.connection(), {TokenIndex.__table__: [
                {"resource_pk": 7, "resource_type": "CarePlan", "param": "identifier",
                 "system": "urn:x", "code": "x" * 256}]})
        transaction.rollback()

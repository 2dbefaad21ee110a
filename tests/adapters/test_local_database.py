"""Polling a case-management database: watermarks, both row forms, bad rows and bad config.

The case-management database is an SQLite file each test builds; the watermarks live in the
gateway database of the ``session_factory`` fixture, so they are tested on SQLite and on
``GATEWAY_TEST_DATABASE_URL``. One test also polls a PostgreSQL source when that is configured.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from gateway.adapters.local_database import (
    FIRST_WATERMARK,
    DatabasePoller,
    DatabaseSource,
    PollQuery,
    SourceConfigError,
    SourceQueryError,
    load_source,
    source_from_config,
    watermark_is_later,
)
from gateway.db.engine import make_engine
from gateway.db.models import PollWatermarkRow
from gateway.local.schemas import record_problems
from gateway.local.sources import SourceRecord
from tests.conftest import EXTRA_URL, throwaway_schema

# Deliberately not in dependency order: the poller orders the record types itself.
QUERIES: list[dict[str, Any]] = [
    {"record_type": "plan",
     "sql": "SELECT id, record_json, updated_at FROM plans WHERE updated_at >= :watermark"},
    {"record_type": "consumer",
     "sql": ['SELECT id, family_name AS "name.family", given_names AS "name.given",',
             '  birth_date, agency_number AS "identifiers.agency_number", active, updated_at',
             "FROM consumers",
             "WHERE updated_at >= :watermark;"]},
    {"record_type": "staff",
     "sql": ['SELECT id, family_name AS "name.family", roles, organization_id AS organization,',
             "  updated_at FROM staff WHERE updated_at >= :watermark"]},
    {"record_type": "organization",
     "sql": "SELECT id, name, kind, updated_at FROM organizations WHERE updated_at >= :watermark"
            " -- every kind"},
]


def plan(plan_id: str, consumer: str, updated_at: str, **extra: Any) -> str:
    return json.dumps({"type": "plan", "id": plan_id, "updated_at": updated_at,
                       "consumer": consumer, "status": "active",
                       "period": {"start": "2026-01-01"}, "author": "S-1", **extra})


class CaseManagementDatabase:
    """The agency's own database, as an SQLite file (rows inserted out of time order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        with self.connect() as db:
            db.executescript("""
                CREATE TABLE organizations (id TEXT PRIMARY KEY, name TEXT, kind TEXT,
                                            updated_at TEXT NOT NULL);
                CREATE TABLE staff (id TEXT PRIMARY KEY, family_name TEXT, roles TEXT,
                                    organization_id TEXT, updated_at TEXT NOT NULL);
                CREATE TABLE consumers (id TEXT PRIMARY KEY, family_name TEXT, given_names TEXT,
                                        birth_date TEXT, agency_number TEXT, active INTEGER,
                                        updated_at TEXT NOT NULL);
                CREATE TABLE plans (id TEXT PRIMARY KEY, record_json TEXT,
                                    updated_at TEXT NOT NULL);
            """)
            db.executemany("INSERT INTO organizations VALUES (?, ?, ?, ?)", [
                ("O-1", "Riverbend Community Mental Health", "agency", "2026-01-05T09:00:00Z")])
            db.executemany("INSERT INTO staff VALUES (?, ?, ?, ?, ?)", [
                ("S-2", "Okafor", "case-manager", "O-1", "2026-01-07T09:00:00Z"),
                ("S-1", "Lindqvist", "supports-coordinator;supervisor", "O-1",
                 "2026-01-06T09:00:00Z")])
            db.executemany("INSERT INTO consumers VALUES (?, ?, ?, ?, ?, ?, ?)", [
                ("C-3", "Nguyen", "Bao", "2001-07-30", "100003", 1, "2026-02-03T10:00:00Z"),
                ("C-1", "Martínez", "Elena;Rosa", "1988-04-12", "100001", 1,
                 "2026-02-01T10:00:00Z"),
                ("C-2", "Begay", None, "1975-11-02", "100002", 0, "2026-02-02T10:00:00Z")])
            db.executemany("INSERT INTO plans VALUES (?, ?, ?)", [
                ("P-1", plan("P-1", "C-1", "2026-02-10T12:00:00Z"), "2026-02-10T12:00:00Z"),
                ("P-2", plan("P-2", "C-2", "2026-02-11T12:00:00Z"), "2026-02-11T12:00:00Z")])

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=0)

    def execute(self, sql: str, *parameters: Any) -> None:
        with self.connect() as db:
            db.execute(sql, parameters)

    def config(self, **changes: Any) -> dict[str, Any]:
        return {"name": "cms", "url": self.url, "queries": QUERIES} | changes

    def source(self, **changes: Any) -> DatabaseSource:
        return source_from_config(self.config(**changes))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@pytest.fixture
def cms(tmp_path: Path) -> CaseManagementDatabase:
    return CaseManagementDatabase(tmp_path / "cms.db")


@pytest.fixture
def poller(cms: CaseManagementDatabase, session_factory: Any) -> Iterator[DatabasePoller]:
    with DatabasePoller(cms.source(), session_factory) as poller:
        yield poller


def ids(changes: list[tuple[str, SourceRecord]]) -> list[tuple[str, str]]:
    return [(record_type, item.record["id"]) for record_type, item in changes]


# -- polling -------------------------------------------------------------------------------------

def test_first_poll_reads_every_row_in_dependency_order(poller: DatabasePoller) -> None:
    changes = list(poller.changes())

    assert ids(changes) == [("organization", "O-1"), ("staff", "S-1"), ("staff", "S-2"),
                            ("consumer", "C-1"), ("consumer", "C-2"), ("consumer", "C-3"),
                            ("plan", "P-1"), ("plan", "P-2")]
    for record_type, item in changes:
        assert item.error is None
        assert item.source == f"dbsource:cms:{record_type}:{item.record['id']}"
        assert record_problems(item.record) == []
    assert poller.polled_watermarks == {
        "organization": "2026-01-05T09:00:00Z", "staff": "2026-01-07T09:00:00Z",
        "consumer": "2026-02-03T10:00:00Z", "plan": "2026-02-11T12:00:00Z"}


def test_flat_columns_follow_the_csv_convention(poller: DatabasePoller) -> None:
    records = {item.record["id"]: item.record for _, item in poller.changes()}

    assert records["C-1"] == {
        "type": "consumer", "id": "C-1", "name": {"family": "Martínez", "given": ["Elena", "Rosa"]},
        "birth_date": "1988-04-12", "identifiers": {"agency_number": "100001"}, "active": True,
        "updated_at": "2026-02-01T10:00:00Z"}
    assert records["C-2"]["active"] is False and "given" not in records["C-2"]["name"]
    assert records["S-1"]["roles"] == ["supports-coordinator", "supervisor"]


def test_record_json_rows_are_the_whole_record(poller: DatabasePoller) -> None:
    records = {item.record["id"]: item.record for _, item in poller.changes()}

    assert records["P-1"] == json.loads(plan("P-1", "C-1", "2026-02-10T12:00:00Z"))


def test_after_advance_only_changed_new_and_boundary_rows_come_back(
        poller: DatabasePoller, cms: CaseManagementDatabase) -> None:
    list(poller.changes())
    poller.advance_polled()
    cms.execute("UPDATE consumers SET family_name = 'Martínez-Ruiz', "
                "updated_at = '2026-03-01T08:00:00Z' WHERE id = 'C-1'")
    cms.execute("INSERT INTO consumers VALUES ('C-4', 'Haddad', 'Omar', '1999-09-09', "
                "'100004', 1, '2026-03-02T08:00:00Z')")

    changes = list(poller.changes())

    # C-3 and the single organization, staff and plan rows sit on their watermarks: read again,
    # harmlessly (the pipeline finds them unchanged by content hash).
    assert ids(changes) == [("organization", "O-1"), ("staff", "S-2"), ("consumer", "C-3"),
                            ("consumer", "C-1"), ("consumer", "C-4"), ("plan", "P-2")]
    c1 = next(item.record for _, item in changes if item.record["id"] == "C-1")
    assert c1["name"]["family"] == "Martínez-Ruiz"
    assert poller.polled_watermarks["consumer"] == "2026-03-02T08:00:00Z"


def test_rows_sharing_the_boundary_timestamp_are_not_lost(
        poller: DatabasePoller, cms: CaseManagementDatabase) -> None:
    list(poller.changes())
    poller.advance_polled()
    # Written in the same instant as the last row polled, but after the poll.
    cms.execute("INSERT INTO consumers VALUES ('C-5', 'Ito', NULL, '1960-01-01', '100005', 1, "
                "'2026-02-03T10:00:00Z')")

    consumers = [item.record["id"] for record_type, item in poller.changes()
                 if record_type == "consumer"]

    assert sorted(consumers) == ["C-3", "C-5"]


def test_a_row_updated_later_comes_back(poller: DatabasePoller,
                                        cms: CaseManagementDatabase) -> None:
    list(poller.changes())
    poller.advance_polled()
    assert "P-1" not in [item.record["id"] for _, item in poller.changes()]
    poller.advance_polled()

    cms.execute("UPDATE plans SET record_json = ?, updated_at = ? WHERE id = 'P-1'",
                plan("P-1", "C-1", "2026-04-01T09:30:00Z", status="completed"),
                "2026-04-01T09:30:00Z")
    plans = [item.record for record_type, item in poller.changes() if record_type == "plan"]

    assert [p["id"] for p in plans] == ["P-2", "P-1"]  # P-2 sits on the old watermark
    assert plans[1]["status"] == "completed"


def test_watermarks_survive_a_new_poller(cms: CaseManagementDatabase,
                                         session_factory: Any, tmp_path: Path) -> None:
    config = tmp_path / "cms.json"
    config.write_text(json.dumps(cms.config()))
    with DatabasePoller(load_source(config), session_factory) as first:
        list(first.changes())
        first.advance_polled()

    with DatabasePoller(load_source(config), session_factory) as second:
        assert second.watermarks() == {
            "organization": "2026-01-05T09:00:00Z", "staff": "2026-01-07T09:00:00Z",
            "consumer": "2026-02-03T10:00:00Z", "plan": "2026-02-11T12:00:00Z"}
        assert ids(list(second.changes())) == [("organization", "O-1"), ("staff", "S-2"),
                                               ("consumer", "C-3"), ("plan", "P-2")]
    with session_factory() as session:
        rows = session.scalars(select(PollWatermarkRow).order_by(
            PollWatermarkRow.record_type)).all()
        assert [(r.source, r.record_type) for r in rows] == [
            ("cms", "consumer"), ("cms", "organization"), ("cms", "plan"), ("cms", "staff")]
        assert all(r.polled_at is not None for r in rows)


def test_watermarks_are_kept_per_source(cms: CaseManagementDatabase,
                                        session_factory: Any) -> None:
    with DatabasePoller(cms.source(), session_factory) as first:
        first.advance("consumer", "2026-02-02T10:00:00Z")
    with DatabasePoller(cms.source(name="other-cms"), session_factory) as other:
        assert other.watermarks() == {}
        assert len([t for t, _ in other.changes() if t == "consumer"]) == 3


def test_advance_never_moves_backwards(poller: DatabasePoller, session_factory: Any) -> None:
    poller.advance("consumer", "2026-03-01T00:00:00Z")
    with session_factory() as session:
        first_polled = session.get(PollWatermarkRow, ("cms", "consumer")).polled_at

    poller.advance("consumer", "2026-02-01T00:00:00Z")
    # Two hours ahead of UTC: 2026-02-28T23:00Z, earlier although its text sorts later.
    poller.advance("consumer", "2026-03-01T01:00:00+02:00")

    assert poller.watermarks() == {"consumer": "2026-03-01T00:00:00Z"}
    with session_factory() as session:
        assert session.get(PollWatermarkRow, ("cms", "consumer")).polled_at >= first_polled
    poller.advance("consumer", "2026-03-01T00:00:00.5Z")
    assert poller.watermarks() == {"consumer": "2026-03-01T00:00:00.5Z"}


def test_advance_refuses_what_it_cannot_store(poller: DatabasePoller) -> None:
    with pytest.raises(ValueError, match="no referral query"):
        poller.advance("referral", "2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="non-empty"):
        poller.advance("consumer", "")
    with pytest.raises(ValueError, match="at most 64"):
        poller.advance("consumer", "2" * 65)
    assert poller.watermarks() == {}


@pytest.mark.parametrize(("candidate", "stored", "later"), [
    ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", True),
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", False),
    ("2026-01-01T00:00:00.000001+00:00", "2026-01-01T00:00:00+00:00", True),
    ("2026-01-01 00:00:01", "2026-01-01T00:00:00", True),  # SQLite's text with a space
    ("2026-01-01T09:00:00+10:00", "2026-01-01T00:00:00Z", False),
    ("b", "a", True),  # not a date-time: compared as text
])
def test_watermark_order(candidate: str, stored: str, later: bool) -> None:
    assert watermark_is_later(candidate, stored) is later


def test_bad_rows_are_reported_and_the_poll_goes_on(
        poller: DatabasePoller, cms: CaseManagementDatabase) -> None:
    cms.execute("INSERT INTO plans VALUES ('P-3', '{\"type\": \"plan\", \"id\": ', "
                "'2026-02-10T13:00:00Z')")
    cms.execute("INSERT INTO plans VALUES ('P-4', '[1, 2]', '2026-02-10T14:00:00Z')")
    cms.execute("INSERT INTO plans VALUES ('P-5', ?, '2026-02-10T15:00:00Z')",
                json.dumps({"type": "consent", "id": "P-5"}))
    cms.execute("INSERT INTO plans VALUES ('P-6', NULL, '2026-02-10T16:00:00Z')")
    cms.execute("INSERT INTO consumers VALUES ('C-9', 'Ray', NULL, '1990-01-01', '100009', "
                "'sometimes', '2026-02-01T11:00:00Z')")

    changes = list(poller.changes())

    errors = {item.source: item.error for _, item in changes if item.error}
    assert errors == {
        "dbsource:cms:consumer:C-9":
            "column 'active': 'sometimes' is not a boolean (true or false)",
        "dbsource:cms:plan:P-3": "record_json is not valid JSON: Expecting value at line 1 "
                                 "column 24",
        "dbsource:cms:plan:P-4": "record_json must hold a JSON object",
        "dbsource:cms:plan:P-5": "a 'consent' record from the plan query",
        "dbsource:cms:plan:P-6": "record_json is empty",
    }
    # Every other row is still there, in order, and the bad ones move the watermark on too.
    assert [item.source.rsplit(":", 1)[1] for t, item in changes if t == "plan"] == [
        "P-1", "P-3", "P-4", "P-5", "P-6", "P-2"]
    assert poller.polled_watermarks["plan"] == "2026-02-11T12:00:00Z"
    bad = {item.source: item.record for _, item in changes if item.error}
    assert bad["dbsource:cms:plan:P-3"] == '{"type": "plan", "id": '
    assert bad["dbsource:cms:consumer:C-9"]["active"] == "sometimes"
    json.dumps(list(bad.values()))  # rejects are written as JSON


def test_record_json_without_a_type_takes_the_query_type(
        poller: DatabasePoller, cms: CaseManagementDatabase) -> None:
    record = json.loads(plan("P-1", "C-1", "2026-02-10T12:00:00Z"))
    del record["type"]
    cms.execute("UPDATE plans SET record_json = ? WHERE id = 'P-1'", json.dumps(record))

    item = next(item for _, item in poller.changes() if item.source.endswith(":P-1"))

    assert item.error is None and item.record["type"] == "plan"
    assert record_problems(item.record) == []


def test_rows_are_labelled_without_an_id_column(cms: CaseManagementDatabase,
                                                session_factory: Any) -> None:
    queries = [{"record_type": "plan",
                "sql": "SELECT record_json, updated_at FROM plans WHERE updated_at >= :watermark"}]
    cms.execute("INSERT INTO plans VALUES ('P-3', 'not json', '2026-02-12T00:00:00Z')")
    with DatabasePoller(cms.source(queries=queries), session_factory) as poller:
        sources = [item.source for _, item in poller.changes()]
    assert sources == ["dbsource:cms:plan:P-1", "dbsource:cms:plan:P-2",
                       "dbsource:cms:plan:row 3 (updated_at 2026-02-12T00:00:00Z)"]


def test_rows_are_streamed_in_batches_in_updated_at_order(cms: CaseManagementDatabase,
                                                          session_factory: Any) -> None:
    with cms.connect() as db:
        db.executemany("INSERT INTO organizations VALUES (?, ?, 'provider', ?)", [
            (f"O-{n + 2}", f"Provider {n}", f"2026-01-{30 - n:02d}T00:00:00Z")
            for n in range(9)])
    with DatabasePoller(cms.source(), session_factory, fetch_size=2) as poller:
        organizations = [item.record for t, item in poller.changes() if t == "organization"]
    stamps = [record["updated_at"] for record in organizations]
    assert len(stamps) == 10 and stamps == sorted(stamps)


def test_an_abandoned_poll_lets_go_of_the_source(poller: DatabasePoller,
                                                 cms: CaseManagementDatabase) -> None:
    changes = poller.changes()
    next(changes)
    assert poller.polled_watermarks == {"organization": "2026-01-05T09:00:00Z"}
    changes.close()

    # No lock left behind: the agency's own application can write at once (timeout 0).
    cms.execute("UPDATE consumers SET active = 0 WHERE id = 'C-1'")
    assert len(list(poller.changes())) == 8


def test_the_source_is_only_read(poller: DatabasePoller, cms: CaseManagementDatabase) -> None:
    before = cms.fingerprint()
    list(poller.changes())
    poller.advance_polled()
    list(poller.changes())
    poller.close()

    assert cms.fingerprint() == before
    assert sorted(p.name for p in cms.path.parent.iterdir()) == ["cms.db"]


def test_a_failing_query_stops_the_poll_with_one_line(cms: CaseManagementDatabase,
                                                      session_factory: Any) -> None:
    queries = [{"record_type": "organization",
                "sql": "SELECT id, name, kind FROM organizations WHERE id >= :watermark"}]
    with DatabasePoller(cms.source(queries=queries), session_factory) as poller, \
            pytest.raises(SourceQueryError) as raised:
        list(poller.changes())
    assert str(raised.value) == ("database source cms: the organization query failed: "
                                 "no such column: polled.updated_at")


def test_an_unreachable_source_is_one_line(session_factory: Any) -> None:
    source = DatabaseSource("cms", "postgresql+psycopg://reader:s3cret@127.0.0.1:1/cms", (
        PollQuery("consumer", "SELECT * FROM consumers WHERE updated_at >= :watermark"),))
    with DatabasePoller(source, session_factory) as poller, \
            pytest.raises(SourceQueryError, match=r"^database source cms: cannot connect: ") \
            as raised:
        list(poller.changes())
    assert "\n" not in str(raised.value) and "s3cret" not in str(raised.value)


def test_a_poller_needs_known_record_types(session_factory: Any) -> None:
    query = PollQuery("consumers", "SELECT * FROM consumers WHERE updated_at >= :watermark")
    with pytest.raises(ValueError, match="one query per known record type"):
        DatabasePoller(DatabaseSource("cms", "sqlite://", (query,)), session_factory)


def test_a_missing_sqlite_source_is_not_created(tmp_path: Path, session_factory: Any) -> None:
    missing = tmp_path / "nowhere.db"
    source = DatabaseSource("cms", f"sqlite:///{missing}", (PollQuery(
        "consumer", "SELECT * FROM consumers WHERE updated_at >= :watermark"),))
    with DatabasePoller(source, session_factory) as poller, \
            pytest.raises(SourceQueryError, match=r"^database source cms: cannot open .*"
                                                  r"no SQLite database at "):
        list(poller.changes())
    assert not missing.exists()


# -- configuration -------------------------------------------------------------------------------

def test_load_source_reads_a_config_file(cms: CaseManagementDatabase, tmp_path: Path) -> None:
    path = tmp_path / "cms.json"
    path.write_text(json.dumps(cms.config()), encoding="utf-8")

    source = load_source(path)

    assert source.name == "cms" and source.url == cms.url
    assert [q.record_type for q in source.queries] == ["organization", "staff", "consumer",
                                                       "plan"]
    consumer = source.queries[2]
    assert consumer.sql.startswith('SELECT id, family_name AS "name.family"')
    assert consumer.sql.endswith("FROM consumers\nWHERE updated_at >= :watermark")


SELECT = "SELECT * FROM t WHERE updated_at >= :watermark"


@pytest.mark.parametrize(("config", "message"), [
    ("{", "not valid JSON: Expecting property name enclosed in double quotes at line 1 "
          "column 2"),
    ([], "the configuration must be a JSON object with name, url and queries"),
    ({"url": "sqlite://", "queries": [{"record_type": "staff", "sql": SELECT}]},
     "name: missing"),
    ({"name": "cms", "url": "sqlite://", "queries": [], "querys": []},
     "querys: unknown setting; expected name, url and queries"),
    ({"name": "case management", "url": "sqlite://", "queries": []},
     "name: must be letters, digits, '.', '_' or '-', starting with a letter or digit"),
    ({"name": "c" * 65, "url": "sqlite://", "queries": []}, "name: longer than 64 characters"),
    ({"name": "cms", "url": "not a url, s3cret", "queries": []},
     "url: not an SQLAlchemy database URL (dialect+driver://user@host/db)"),
    ({"name": "cms", "url": "postgres://reader:s3cret@db/cms", "queries": []},
     "url: unknown database dialect 'postgres'"),
    ({"name": "cms", "url": "sqlite://", "queries": []},
     "queries: must be a non-empty list of {record_type, sql}"),
    ({"name": "cms", "url": "sqlite://", "queries": ["SELECT 1"]},
     "queries[0]: must be an object with record_type and sql"),
    ({"name": "cms", "url": "sqlite://", "queries": [{"record_type": "consumers", "sql": SELECT}]},
     "queries[0].record_type: unknown record type 'consumers'; expected one of organization, "
     "staff, consumer, assignment, plan, assessment, consent, referral"),
    ({"name": "cms", "url": "sqlite://", "queries": [
        {"record_type": "staff", "sql": SELECT}, {"record_type": "staff", "sql": SELECT}]},
     "queries[1].record_type: a second query for staff"),
    ({"name": "cms", "url": "sqlite://", "queries": [
        {"record_type": "staff", "sql": SELECT, "table": "staff"}]},
     "queries[0].table: unknown setting; expected record_type and sql"),
    ({"name": "cms", "url": "sqlite://", "queries": [{"record_type": "staff", "sql": 7}]},
     "queries[0].sql: must be a SELECT (text or lines)"),
    ({"name": "cms", "url": "sqlite://", "queries": [
        {"record_type": "staff", "sql": "-- tidy up\nDELETE FROM staff WHERE x = :watermark"}]},
     "queries[0].sql: must be a SELECT (or WITH ... SELECT); the source is only ever read"),
    ({"name": "cms", "url": "sqlite://", "queries": [
        {"record_type": "staff", "sql": "SELECT * FROM staff"}]},
     "queries[0].sql: must compare updated_at with :watermark (e.g. WHERE updated_at >= "
     ":watermark)"),
    ({"name": "cms", "url": "sqlite://", "queries": [
        {"record_type": "staff", "sql": "SELECT '{\"a\":1}' AS x, * FROM staff "
                                        "WHERE updated_at >= :watermark"}]},
     "queries[0].sql: unknown parameter :1; only :watermark is bound (write \\: for a literal "
     "colon)"),
    ({"name": "cms", "url": "sqlite://", "queries": [
        {"record_type": "staff", "sql": "SELECT * FROM staff WHERE updated_at >= "
                                        ":watermark::timestamptz"}]},
     "queries[0].sql: write CAST(:watermark AS <type>): in :watermark::<type> it is not a "
     "parameter"),
])
def test_bad_config_is_one_clear_line(tmp_path: Path, config: Any, message: str) -> None:
    path = tmp_path / "cms.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))

    with pytest.raises(SourceConfigError) as raised:
        load_source(path)

    assert str(raised.value) == f"{path}: {message}"
    assert "s3cret" not in str(raised.value)


def test_a_missing_config_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match=r"nowhere\.json: cannot read: No such file"):
        load_source(tmp_path / "nowhere.json")


def test_literal_colons_are_escaped_in_sql(cms: CaseManagementDatabase,
                                           session_factory: Any) -> None:
    queries = [{"record_type": "organization",
                "sql": "SELECT id, name || '\\: ' || kind AS name, 'agency' AS kind, updated_at "
                       "FROM organizations WHERE updated_at >= :watermark"}]
    with DatabasePoller(cms.source(queries=queries), session_factory) as poller:
        [(_, item)] = list(poller.changes())
    assert item.record["name"] == "Riverbend Community Mental Health: agency"


# -- a PostgreSQL source -------------------------------------------------------------------------

@pytest.fixture
def postgres_source_url() -> Iterator[str]:
    """A throwaway schema on GATEWAY_TEST_DATABASE_URL's server, as the agency's database."""
    if not EXTRA_URL or make_url(EXTRA_URL).get_backend_name() != "postgresql":
        pytest.skip("GATEWAY_TEST_DATABASE_URL is not a PostgreSQL database")
    with throwaway_schema("cms") as url:
        yield url


def test_a_postgresql_source_with_timestamps_and_jsonb(postgres_source_url: str,
                                                       session_factory: Any) -> None:
    engine = make_engine(postgres_source_url)
    stamps = [datetime(2026, 2, 1, 10, 0, 0, n * 250_001, tzinfo=UTC) for n in range(3)]
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE plans (id text PRIMARY KEY, doc jsonb, "
                                "changed timestamptz NOT NULL)"))
        connection.execute(text("CREATE SEQUENCE poll_counter"))
        for number, stamp in enumerate(stamps, 1):
            connection.execute(text("INSERT INTO plans VALUES (:id, CAST(:doc AS jsonb), :at)"),
                               {"id": f"P-{number}", "at": stamp,
                                "doc": plan(f"P-{number}", "C-1", "2026-02-01T10:00:00Z")})
    source = DatabaseSource("pg-cms", postgres_source_url, (PollQuery(
        "plan", "SELECT id, doc AS record_json, changed AS updated_at FROM plans "
                "WHERE changed >= :watermark"),))
    try:
        with DatabasePoller(source, session_factory, fetch_size=2) as poller:
            changes = list(poller.changes())
            assert [item.record["id"] for _, item in changes] == ["P-1", "P-2", "P-3"]
            assert all(item.error is None for _, item in changes)
            # The watermark keeps the microseconds, so the next poll starts at exactly P-3.
            assert poller.polled_watermarks == {"plan": stamps[2].isoformat()}
            poller.advance_polled()
            assert [item.record["id"] for _, item in poller.changes()] == ["P-3"]

        # The source transaction is read-only: even a sequence cannot move.
        writing = DatabaseSource("pg-cms", postgres_source_url, (PollQuery(
            "plan", "SELECT id, doc AS record_json, changed AS updated_at, "
                    "nextval('poll_counter') AS n FROM plans WHERE changed >= :watermark"),))
        with DatabasePoller(writing, session_factory) as poller, \
                pytest.raises(SourceQueryError, match="read-only transaction"):
            list(poller.changes())
    finally:
        engine.dispose()


def test_first_watermark_sorts_before_any_timestamp_text() -> None:
    assert FIRST_WATERMARK < "1900-01-01" and FIRST_WATERMARK < "0001-01-01T00:00:00Z"

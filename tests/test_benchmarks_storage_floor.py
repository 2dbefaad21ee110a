"""The storage floor (benchmarks/storage_floor.py): per request exactly one INSERT of the posted
JSON, committed before the 201 leaves, into a table of its own in the gateway's database; on
SQLite and, with GATEWAY_TEST_DATABASE_URL, PostgreSQL. And served by gunicorn as the gateway
is, it stores one row per 201 the load generator counted."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from benchmarks import storage_floor
from benchmarks.load import Call, LoadSpec, run_load
from benchmarks.servers import storage_floor_server
from gateway.db.engine import make_engine, upgrade
from tests.conftest import EXTRA_URL, throwaway_schema

CARETEAM = {"resourceType": "CareTeam", "status": "active", "name": "Floor team",
            "subject": {"reference": "Patient/p1"}}
HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@contextmanager
def migrated(kind: str, tmp_path: Path) -> Iterator[str]:
    """A gateway database (migrated, as the benchmark's are) on SQLite or PostgreSQL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'floor.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    if not EXTRA_URL or not EXTRA_URL.startswith("postgresql"):
        pytest.skip("needs GATEWAY_TEST_DATABASE_URL (PostgreSQL)")
    with throwaway_schema("storagefloor") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_each_create_is_one_insert_committed_before_the_answer(kind: str,
                                                               tmp_path: Path) -> None:
    with migrated(kind, tmp_path) as url:
        storage_floor.create_table(url)
        app = storage_floor.storage_app(url)
        engine = app.extensions["storage_floor"]
        statements: list[str] = []
        commits: list[int] = []
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: statements.append(statement))
        event.listen(engine, "commit", lambda _c: commits.append(1))
        observer = make_engine(url)  # another connection: sees only what was committed
        client = app.test_client()
        try:
            answers = []
            for n in range(5):
                statements.clear()
                response = client.post("/fhir/CareTeam", data=json.dumps(CARETEAM),
                                        headers=HEADERS)
                assert response.status_code == 201
                writes = [s for s in statements if not s.lstrip().upper().startswith(
                    ("BEGIN", "SELECT", "PRAGMA"))]
                assert len(writes) == 1 and writes[0].lstrip().upper().startswith(
                    f"INSERT INTO {storage_floor.TABLE.upper()}"), statements
                assert len(commits) == n + 1
                with observer.connect() as connection:
                    stored = connection.execute(
                        select(storage_floor.rows.c.content).where(
                            storage_floor.rows.c.id == response.json["id"])).scalar_one()
                assert json.loads(stored) == response.json
                answers.append(response)
            assert storage_floor.count_rows(url) == 5
            body = answers[0].json
            assert body["resourceType"] == "CareTeam" and body["name"] == "Floor team"
            assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"]
            assert len({a.json["id"] for a in answers}) == 5
            headers = answers[0].headers
            assert headers["Location"].endswith(f"/CareTeam/{body['id']}/_history/1")
            assert headers["ETag"] == 'W/"1"' and headers["Last-Modified"].endswith("GMT")
            assert headers["Content-Type"].startswith("application/fhir+json")
            refused = client.post("/fhir/Patient", data=json.dumps(CARETEAM), headers=HEADERS)
            assert refused.status_code == 400 and storage_floor.count_rows(url) == 5
            with observer.connect() as connection:  # the gateway's own tables are untouched
                assert connection.execute(text("SELECT count(*) FROM resource")).scalar() == 0
        finally:
            observer.dispose()
            engine.dispose()
            storage_floor.drop_table(url)
        check = make_engine(url)
        try:
            with check.connect() as connection:
                assert storage_floor.TABLE not in check.dialect.get_table_names(connection)
        finally:
            check.dispose()


def test_served_like_the_gateway_it_stores_one_row_per_201(tmp_path: Path) -> None:
    with migrated("sqlite", tmp_path) as url:
        body = json.dumps(CARETEAM).encode()
        with storage_floor_server(url, tmp_path) as server:
            result = run_load(LoadSpec(server.port, [Call("POST", "/fhir/CareTeam", body)],
                                       HEADERS, 201, duration=1.0, warmup=0.3, processes=1,
                                       threads=2))
            stored = storage_floor.count_rows(url)
        assert result.errors == 0, result.first_error
        assert result.requests > 0 and result.answered >= result.requests
        assert stored == result.answered
        storage_floor.drop_table(url)

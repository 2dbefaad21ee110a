"""Migration 0010 moves the AuditEvents stored as general resources (resource, version copy,
search index rows, one chain link each) into the audit journal without loss: every event reads
the same, every AuditEvent search answers the same, the chain verifies and still extends a
checkpoint signed before the migration. On SQLite and on PostgreSQL."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, select, text

from gateway.app import create_app
from gateway.audit.chain import GENESIS_HASH, canonical_json
from gateway.audit.checkpoint import chain_head
from gateway.audit.verify import verify_chain
from gateway.config import Config
from gateway.db.engine import alembic_config, make_engine
from gateway.db.models import ResourceRow, ResourceVersionRow
from gateway.fhir import search
from gateway.fhir.search.index import index_rows
from gateway.fhir.search.query import RESOURCES
from gateway.fhir.search.registry import SearchParameterRegistry
from gateway.fhir.versions import to_json, with_meta
from tests.conftest import DATABASES, EXTRA_URL, OPERATOR_KEY, throwaway_schema

from .builders import operator_disclosure, partner_disclosure

BASE = "http://testserver/fhir"
START = datetime(2026, 3, 2, 14, 30, 5, 123000, tzinfo=UTC)
# Searches an accounting of disclosures uses, each with the parameters the journal indexes;
# each is also limited to the events stored before (every request after the migration writes
# its own AuditEvent, which would otherwise join the answers).
BEFORE = "date=lt2026-06-01"
QUERIES = [f"{query}&{BEFORE}" for query in [
    "patient=Patient/C-1", "patient=C-2", "patient=Patient/C-9", "agent=Organization/ORG-A",
    "agent=Organization/ORG-B", "entity=CareTeam/ct-1", "entity=Patient/C-3",
    "date=ge2026-03-03", "date=lt2026-03-04T00:00:00Z", "date=2026-03-02",
    "type=http://dicom.nema.org/resources/ontology/DCM|110106", "type=rest",
    "subtype=read", "subtype=search-type", "outcome=0", "outcome=4", "outcome:not=0",
    "action=R", "action=E", "agent-name=pcp", "agent-name:exact=operator-key-1",
    "patient=Patient/C-1&outcome=0", "patient:missing=true",
    "_sort=-date&_count=7", "_sort=date&_count=5&_offset=5", "_count=100",
]]


def _events() -> list[dict[str, Any]]:
    """Thirty varied disclosures, a few hours apart."""
    events = []
    for n in range(30):
        moment = START + timedelta(hours=5 * n)
        if n % 3 == 0:
            event = operator_disclosure(patients=[f"C-{n % 4}"], recorded=moment,
                                        resources=[f"Patient/C-{n % 4}"])
        elif n % 3 == 1:
            event = partner_disclosure(
                requester_name="pcp-cedar" if n % 2 else "school-elm",
                requester_organization="ORG-A" if n % 2 else "ORG-B",
                patients=[f"C-{n % 4}"], recorded=moment,
                resources=[f"CareTeam/ct-{n % 4}"], consents=[f"consent-{n}"])
        else:
            event = partner_disclosure(outcome="deny", resources=[], patients=[f"C-{n % 4}"],
                                       description="no consent", recorded=moment,
                                       interaction="delivery", action="C")
        events.append(event)
    return events


def _store_as_before(engine: Engine, registry: SearchParameterRegistry) -> list[str]:
    """The events stored as the gateway did before 0010: a resource row, its version copy,
    its index rows and a chain link each; a Patient beside them. Their ids, in order."""
    ids, previous = [], GENESIS_HASH
    with engine.begin() as connection:
        for n, event in enumerate(_events()):
            event_id, moment = f"ae-{n:02d}", START + timedelta(hours=5 * n, seconds=1)
            content = with_meta(event, "AuditEvent", event_id, 1, moment)
            values = {"resource_type": "AuditEvent", "id": event_id, "version_id": 1,
                      "last_updated": moment, "deleted": False, "content": to_json(content)}
            pk = connection.execute(insert(ResourceRow.__table__), values).inserted_primary_key[0]
            connection.execute(insert(ResourceVersionRow.__table__), {
                "resource_pk": pk, "method": "POST", **{k: v for k, v in values.items()
                                                         if k != "deleted"}})
            row = ResourceRow(pk=pk, resource_type="AuditEvent")
            for table, rows in index_rows(row, content, registry, BASE):
                connection.execute(insert(table.__table__), rows)
            link = hashlib.sha256(f"{previous}\n{canonical_json(content)}".encode()).hexdigest()
            connection.execute(text(
                "INSERT INTO audit_chain (audit_event_id, recorded_at, previous_hash, "
                "entry_hash) VALUES (:id, :at, :previous, :hash)"),
                {"id": event_id, "at": moment, "previous": previous, "hash": link})
            previous = link
            ids.append(event_id)
        connection.execute(insert(ResourceRow.__table__), {
            "resource_type": "Patient", "id": "C-1", "version_id": 1, "last_updated": START,
            "deleted": False, "content": to_json(with_meta(
                {"resourceType": "Patient"}, "Patient", "C-1", 1, START))})
    return ids


def _search_before(engine: Engine, registry: SearchParameterRegistry, query: str
                   ) -> list[str]:
    """What the general search (the gateway's only one before 0010) answered."""
    pairs = [tuple(part.split("=", 1)) for part in query.split("&")]
    request = search.parse_search("AuditEvent", pairs, registry, lenient=False,
                                  default_count=50, max_count=1000, base_url=BASE)
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        result = search.execute_search(session, request, registry, access_filter=None,
                                       store=RESOURCES)
        return [row.id for row in result.rows]


def _old_head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM audit_chain")).scalar_one()
        head = connection.execute(text(
            "SELECT entry_hash FROM audit_chain ORDER BY seq DESC LIMIT 1")).scalar_one()
    return count, head


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database at migration 0009 (before the journal)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'before.db'}"
        yield url
        return
    assert EXTRA_URL is not None
    with throwaway_schema("journal") as url:
        yield url


def _migrate(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_existing_audit_events_move_into_the_journal_without_loss(database, tmp_path):
    registry = SearchParameterRegistry.load()
    engine = make_engine(database)
    _migrate(engine, "0009")
    ids = _store_as_before(engine, registry)
    expected = {query: _search_before(engine, registry, query) for query in QUERIES}
    assert any(len(found) > 3 for found in expected.values())
    assert all(expected[f"{q}&{BEFORE}"] for q in ("patient=Patient/C-1", "outcome=4",
                                                   "subtype=read"))
    with engine.connect() as connection:
        contents = dict(connection.execute(text(
            "SELECT id, content FROM resource WHERE resource_type = 'AuditEvent'")).all())
    head_before = _old_head(engine)

    _migrate(engine, "head")

    with engine.connect() as connection:
        for table in ("resource", "resource_version", "search_token", "search_reference",
                      "search_date", "search_string"):
            left = connection.execute(text(
                f"SELECT count(*) FROM {table} WHERE resource_type = 'AuditEvent'")).scalar_one()
            assert left == 0, table
        assert connection.execute(select(func.count()).select_from(ResourceRow.__table__)
                                  ).scalar_one() == 1  # the Patient stays
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        # The chain's count and head are unchanged: checkpoints signed before still hold.
        assert chain_head(session) == head_before
        result = verify_chain(session, registry=registry, base_url=BASE)
        assert result.intact, [str(p) for p in result.problems]
        assert result.entries == len(ids)
    engine.dispose()

    app = create_app(Config(database_url=database, base_url="http://testserver",
                            operator_keys=(OPERATOR_KEY,), var_dir=tmp_path / "var"))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    try:
        for event_id in ids:
            served = client.get(f"/fhir/AuditEvent/{event_id}", headers=auth)
            assert served.status_code == 200
            assert served.get_data(as_text=True) == contents[event_id]
        for query, found in expected.items():
            answer = client.get(f"/fhir/AuditEvent?{query}", headers=auth)
            assert answer.status_code == 200, (query, answer.get_json())
            assert [e["resource"]["id"] for e in answer.get_json().get("entry", [])] == found, \
                query
    finally:
        app.extensions["gateway"].close()

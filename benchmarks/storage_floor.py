"""The storage floor: a minimal Flask app that stores each POSTed resource with one INSERT and
one commit, the least a create over HTTP into this database can cost.

Run as ``python -m benchmarks.storage_floor --port P`` with the database URL in
``STORAGE_FLOOR_DATABASE_URL`` (or ``--database-url``). Like the read floor
(benchmarks/floor.py) it is served by ``gateway.server.serve`` itself with only the application
swapped, so gunicorn's settings (workers, gthread, threads, timeouts, access log) are exactly
the gateway's. It writes to the database the gateway under test uses (the same SQLite file,
the same PostgreSQL schema), through ``gateway.db.engine.make_engine`` (the gateway's
connection settings: SQLite in WAL with synchronous=NORMAL and writers taking BEGIN IMMEDIATE;
PostgreSQL with the pool's pre-ping on checkout and synchronous_commit as the server has it),
into a table of its own. If the gateway's engine settings change, the floor follows them.

Per request: parse the JSON body, give it an id and ``meta`` (versionId 1, lastUpdated),
serialize it, ``INSERT`` one row (id, type, lastUpdated, the JSON text) and ``COMMIT``; then
answer ``201`` with that JSON, ``Location``, ``ETag`` and ``Last-Modified`` as the gateway's
create does. No validation, no search indexes, no version history, no audit record: the
gateway's create does all of these, and the ratio says what they cost together.
"""
from __future__ import annotations

import argparse
import json
import os
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, request
from sqlalchemy import Column, Engine, MetaData, String, Table, Text, func, insert, select

from benchmarks.floor import serve_app
from gateway.db.engine import WRITE_OPTION, make_engine

TABLE = "bench_storage_floor"
FHIR_CONTENT_TYPE = "application/fhir+json; fhirVersion=4.0; charset=utf-8"
PUBLIC_BASE = "http://127.0.0.1:8080/fhir"  # for Location only, as the gateway's is

metadata = MetaData()
rows = Table(
    TABLE, metadata,
    Column("id", String(64), primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("last_updated", String(40), nullable=False),
    Column("content", Text, nullable=False),
)
INSERT = insert(rows)


def create_table(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def drop_table(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def count_rows(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(rows)).scalar_one())
    finally:
        engine.dispose()


def storage_app(database_url: str, public_base: str = PUBLIC_BASE) -> Flask:
    """The app; its engine (``app.extensions["storage_floor"]``) connects on the first request,
    so building it before gunicorn forks its workers shares no connection between them."""
    app = Flask(__name__)
    engine: Engine = make_engine(database_url)
    app.extensions["storage_floor"] = engine

    def create(resource_type: str) -> Response:
        resource = json.loads(request.get_data())
        if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
            return Response('{"resourceType":"OperationOutcome"}', status=400,
                            content_type=FHIR_CONTENT_TYPE)
        now = datetime.now(UTC)
        resource_id = str(uuid.uuid4())
        last_updated = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        resource["id"] = resource_id
        resource["meta"] = {**resource.get("meta", {}), "versionId": "1",
                            "lastUpdated": last_updated}
        text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
        # One transaction: BEGIN (IMMEDIATE on SQLite, as the gateway's writers), one INSERT,
        # COMMIT. The answer leaves only after the commit returned.
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                connection.execute(INSERT, {"id": resource_id, "resource_type": resource_type,
                                            "last_updated": last_updated, "content": text})
        return Response(text, status=201, content_type=FHIR_CONTENT_TYPE, headers={
            "Location": f"{public_base}/{resource_type}/{resource_id}/_history/1",
            "ETag": 'W/"1"',
            "Last-Modified": now.strftime("%a, %d %b %Y %H:%M:%S GMT")})

    app.add_url_rule("/fhir/<resource_type>", "create", create, methods=["POST"])
    app.add_url_rule("/readyz", "readyz", lambda: Response('{"status":"ready"}',
                                                           content_type="application/json"))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("STORAGE_FLOOR_DATABASE_URL"))
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or STORAGE_FLOOR_DATABASE_URL is required")
    create_table(args.database_url)
    serve_app(storage_app(args.database_url), args.port, args.workers)


if __name__ == "__main__":
    main()

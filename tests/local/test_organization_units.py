"""organization_units: the agency's own record and its Local Access unit, read in one query."""
from __future__ import annotations

from gateway.local.store import LocalRecordStore, content_hash, organization_units


def organization(local_id: str, kind: str, **extra: object) -> dict:
    return {"type": "organization", "id": local_id, "updated_at": "2026-01-05T09:00:00Z",
            "name": f"Organization {local_id}", "kind": kind, **extra}


def put(store: LocalRecordStore, *records: dict) -> None:
    for record in records:
        store.put(record, content_hash(record))


def test_the_first_agency_and_local_access_unit_are_found_and_nothing_else(session_factory):
    with session_factory() as session, session.begin():
        store = LocalRecordStore(session)
        put(store,
            organization("ORG-3", "local-access"),
            organization("ORG-2", "local-access"),
            # Another kind whose nested content says "agency" is not the agency.
            organization("ORG-0", "school", contacts=[{"kind": "agency", "value": "x"}]),
            organization("ORG-1", "agency"),
            organization("ORG-4", "court"))
    with session_factory() as session:
        units = organization_units(session)
        assert {kind: record["id"] for kind, record in units.items()} == {
            "agency": "ORG-1", "local-access": "ORG-2"}
        assert organization_units(session) is units  # once per session


def test_records_put_in_the_session_are_seen_by_the_next_lookup(session_factory):
    with session_factory() as session, session.begin():
        store = LocalRecordStore(session)
        assert organization_units(session) == {}
        put(store, organization("ORG-9", "agency"))
        assert organization_units(session)["agency"]["id"] == "ORG-9"

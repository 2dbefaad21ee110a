"""Concurrent writers never overwrite each other silently."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.auth import SYSTEM
from gateway.db.engine import begin_write
from gateway.db.models import ResourceRow
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from tests.api.builders import patient


def repository(app, session) -> Repository:
    return app.extensions["gateway"].repository(session, SYSTEM)


def test_a_stale_writer_gets_409(app, session_factory):
    with session_factory() as session, session.begin():
        begin_write(session)
        created = repository(app, session).create("Patient", patient()).stored
    # Writer A has read version 1 ...
    with session_factory() as session:
        stale_row = session.scalars(select(ResourceRow).where(ResourceRow.id == created.id)).one()
    # ... writer B updates to version 2 ...
    with session_factory() as session, session.begin():
        begin_write(session)
        repository(app, session).update("Patient", created.id,
                                        {**created.json(), "gender": "male"})
    # ... and A's write, based on version 1, is refused rather than applied.
    with session_factory() as session, session.begin():
        begin_write(session)
        session.add(stale_row)
        with pytest.raises(FhirError) as conflict:
            repository(app, session)._new_version(stale_row, {**created.json(),
                                                              "gender": "other"}, "PUT")
        assert conflict.value.status == 409


def test_a_second_create_of_the_same_new_id_gets_409(app, session_factory):
    # Two create-on-update requests for one new id: the loser must hear "conflict", not crash.
    with session_factory() as session, session.begin():
        begin_write(session)
        repository(app, session)._insert("Patient", "same-id", patient(), "PUT")
        with pytest.raises(FhirError) as conflict:
            repository(app, session)._insert("Patient", "same-id", patient(), "PUT")
        assert conflict.value.status == 409


def test_a_create_race_answers_409_over_http(client, auth, monkeypatch):
    assert client.put("/fhir/Patient/raced", json=patient(id="raced"),
                      headers=auth).status_code == 201
    # As if another request created the id between this one's lookup and its insert.
    monkeypatch.setattr(Repository, "_row", lambda self, *args, **kwargs: None)
    response = client.put("/fhir/Patient/raced", json=patient(id="raced", gender="male"),
                          headers=auth)
    assert response.status_code == 409
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "conflict"
    monkeypatch.undo()
    stored = client.get("/fhir/Patient/raced", headers=auth).get_json()
    assert stored["gender"] == "female" and stored["meta"]["versionId"] == "1"

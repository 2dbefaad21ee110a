"""Instance and type history."""
from __future__ import annotations

from tests.api.builders import patient

FHIR_JSON = "application/fhir+json"


def test_instance_history_lists_every_version_newest_first(client, auth):
    created = client.post("/fhir/Patient", json=patient(),
                          headers={**auth, "Content-Type": FHIR_JSON}).get_json()
    url = f"/fhir/Patient/{created['id']}"
    client.put(url, json={**created, "gender": "male"},
               headers={**auth, "Content-Type": FHIR_JSON})
    client.delete(url, headers=auth)
    history = client.get(f"{url}/_history", headers=auth).get_json()
    assert history["type"] == "history"
    assert history["total"] == 3
    methods = [e["request"]["method"] for e in history["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
    assert "resource" not in history["entry"][0]
    assert history["entry"][1]["resource"]["gender"] == "male"
    assert history["entry"][2]["response"]["etag"] == 'W/"1"'


def test_type_history_pages_and_filters_by_since(client, auth):
    for _ in range(3):
        client.post("/fhir/Patient", json=patient(),
                    headers={**auth, "Content-Type": FHIR_JSON})
    page = client.get("/fhir/Patient/_history?_count=2", headers=auth).get_json()
    assert page["total"] == 3 and len(page["entry"]) == 2
    assert any(link["relation"] == "next" for link in page["link"])
    future = client.get("/fhir/Patient/_history?_since=2999-01-01T00:00:00Z",
                        headers=auth).get_json()
    assert future["total"] == 0 and "entry" not in future
    bad = client.get("/fhir/Patient/_history?_since=yesterday", headers=auth)
    assert bad.status_code == 400


def test_history_of_unknown_resource_is_404(client, auth):
    assert client.get("/fhir/Patient/nobody/_history", headers=auth).status_code == 404


def test_held_version_rows_are_written_before_the_commit_and_read_back_within_it(
        app, client, auth):
    """A writer that defers its version rows (the inbound message path) writes them with the
    transaction: history and vread within it see them, and so does everyone after it; the
    index follows every change (an update clears the old rows, on PostgreSQL in one
    statement)."""
    from sqlalchemy import event

    from gateway.auth import SYSTEM

    state = app.extensions["gateway"]
    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(state.engine, "before_cursor_execute", seen)
    try:
        with state.writing(SYSTEM) as repository:
            repository.defer_versions()
            repository.update("Patient", "held-1", {**patient(), "id": "held-1"})
            repository.update("Patient", "held-1", {**patient(), "id": "held-1",
                                                     "gender": "male"})
            assert not any("resource_version" in s for s in statements)
            assert repository.vread("Patient", "held-1", "1").json()["id"] == "held-1"
            versions, total = repository.history("Patient", "held-1", since=None, count=10,
                                                 offset=0)
            assert total == 2 and [v.version_id for v in versions] == [2, 1]
            repository.update("Patient", "held-1", {**patient(), "id": "held-1",
                                                     "gender": "other"})
    finally:
        event.remove(state.engine, "before_cursor_execute", seen)
    # One INSERT for the first two versions (at the vread), one for the third (at the commit).
    assert sum(s.startswith("INSERT INTO resource_version") for s in statements) == 2
    history = client.get("/fhir/Patient/held-1/_history", headers=auth).get_json()
    assert [e["resource"]["gender"] for e in history["entry"]] == ["other", "male",
                                                                   patient()["gender"]]
    found = client.get("/fhir/Patient?gender=other", headers=auth).get_json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == ["held-1"]
    assert client.get("/fhir/Patient?gender=male", headers=auth).get_json()["total"] == 0

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

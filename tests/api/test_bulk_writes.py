"""BulkWriter (the import's way into storage) stores what Repository.update would."""
from __future__ import annotations

import pytest

from gateway.auth import SYSTEM
from gateway.fhir.bulk import BulkWriter
from gateway.fhir.errors import FhirError

from .builders import patient as base_patient


def patient(resource_id: str, family: str = "Ames") -> dict:
    return base_patient(id=resource_id, name=[{"family": family}])


def write(app, *resources):
    state = app.extensions["gateway"]
    with state.writing(SYSTEM, defer_index=True) as repository:
        writer = BulkWriter(repository)
        writer.prefetch((r["resourceType"], r["id"]) for r in resources)
        for resource in resources:
            writer.check(resource)
        names = writer.stage(resources)
        writer.flush()
    return names


def test_bulk_writes_create_version_and_index_like_single_writes(app, client, auth):
    names = write(app, patient("b1", family="Ames"), patient("b2", family="Baker"))
    assert names == ("Patient/b1", "Patient/b2")
    first = client.get("/fhir/Patient/b1", headers=auth)
    assert first.status_code == 200 and first.headers["ETag"] == 'W/"1"'
    assert first.get_json()["meta"]["versionId"] == "1"

    write(app, patient("b1", family="Ames"), patient("b2", family="Brooks"))  # b1 unchanged
    assert client.get("/fhir/Patient/b1", headers=auth).headers["ETag"] == 'W/"1"'
    second = client.get("/fhir/Patient/b2", headers=auth).get_json()
    assert second["meta"]["versionId"] == "2"
    history = client.get("/fhir/Patient/b2/_history", headers=auth).get_json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    # The index follows the latest version only.
    found = client.get("/fhir/Patient?family=brooks", headers=auth).get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["b2"]
    assert client.get("/fhir/Patient?family=baker", headers=auth).get_json()["total"] == 0


def test_the_same_resource_twice_in_one_batch_makes_two_versions(app, client, auth):
    write(app, patient("b3", family="First"), patient("b3", family="Second"))
    stored = client.get("/fhir/Patient/b3", headers=auth).get_json()
    assert stored["meta"]["versionId"] == "2"
    assert stored["name"][0]["family"] == "Second"


def test_check_refuses_invalid_content_before_anything_is_written(app, client, auth):
    state = app.extensions["gateway"]
    invalid = {**patient("b4"), "gender": "bogus"}
    with state.writing(SYSTEM, defer_index=True) as repository:
        writer = BulkWriter(repository)
        writer.prefetch([("Patient", "b4")])
        with pytest.raises(FhirError) as refused:
            writer.check(invalid)
    assert refused.value.status == 422
    assert any("gender" in (i.get("expression") or [""])[0] for i in refused.value.issues)
    assert client.get("/fhir/Patient/b4", headers=auth).status_code == 404

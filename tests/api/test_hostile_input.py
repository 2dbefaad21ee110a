"""Hostile input found by the security review answers 4xx, never 500: integers past any
column, NUL in search values, repeated _include, an oversized _search body."""
from __future__ import annotations

import pytest

from tests.api.builders import care_team, patient


@pytest.mark.parametrize("query", ["_offset=99999999999999999999", "_count=9223372036854775808",
                                   "_offset=１２", "_id=%00", "name=a%00b"])
def test_bad_search_parameters_are_400(client, auth, query):
    response = client.get(f"/fhir/Patient?{query}", headers=auth)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_history_paging_past_any_integer_is_400(client, auth):
    response = client.get("/fhir/Patient/_history?_offset=99999999999999999999", headers=auth)
    assert response.status_code == 400


def test_a_version_past_any_integer_is_not_found(client, auth):
    created = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    response = client.get(f"/fhir/Patient/{created['id']}/_history/99999999999999999999",
                          headers=auth)
    assert response.status_code == 404


def test_a_repeated_include_is_one_include(client, auth):
    person = client.post("/fhir/Patient", json=patient(), headers=auth).get_json()
    client.post("/fhir/CareTeam", json=care_team(person["id"]), headers=auth)
    query = "&".join(["_include=CareTeam:subject"] * 1000)
    bundle = client.get(f"/fhir/CareTeam?{query}", headers=auth).get_json()
    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert len(included) == 1


def test_an_oversized_search_body_is_413(client, auth):
    body = "&".join(["_include=CareTeam:subject"] * 5000)
    response = client.post("/fhir/CareTeam/_search", data=body, headers={
        **auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"

"""Fuzzing the FHIR API (Hypothesis; bounded in examples so the suite stays fast): mutated
resources, junk bodies and junk search parameters. The property: no 5xx, every 4xx an
OperationOutcome, and the server still answers afterwards.

``make fuzz`` runs the same tests with GATEWAY_FUZZ_EXAMPLES=2500 (over 10,000 requests)."""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.builders import care_team, patient

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 150,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)


def assert_answered(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert response.get_json()["resourceType"] == "OperationOutcome"


@FUZZ
@given(key=st.sampled_from(["name", "gender", "birthDate", "identifier", "telecom", "address",
                            "active", "contact", "meta", "text", "extension", "id",
                            "resourceType", "managingOrganization", "_birthDate"]),
       value=JSON_VALUES)
def test_a_mutated_patient_never_breaks_the_server(client, auth, key, value):
    body = {**patient(), key: value}
    assert_answered(client.post("/fhir/Patient", data=json.dumps(body), headers={
        **auth, "Content-Type": "application/fhir+json"}))


@FUZZ
@given(key=st.sampled_from(["subject", "participant", "status", "period", "category",
                            "managingOrganization", "note", "contained"]),
       value=JSON_VALUES)
def test_a_mutated_care_team_never_breaks_the_server(client, auth, key, value):
    body = {**care_team("nobody"), key: value}
    assert_answered(client.post("/fhir/CareTeam", data=json.dumps(body), headers={
        **auth, "Content-Type": "application/fhir+json"}))


@FUZZ
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_junk_bodies_never_break_the_server(client, auth, body):
    for path in ("/fhir/Patient", "/fhir", "/fhir/Patient/$validate"):
        assert_answered(client.post(path, data=body, headers={
            **auth, "Content-Type": "application/fhir+json"}))


@FUZZ
@given(name=st.sampled_from(["_id", "name", "birthdate", "identifier", "_count", "_offset",
                             "_sort", "_include", "_revinclude", "_elements", "_summary",
                             "general-practitioner", "_lastUpdated", "family:exact",
                             "organization.name", "_has:CareTeam:subject:status"]),
       value=st.text(max_size=40))
def test_junk_search_parameters_never_break_the_server(client, auth, name, value):
    assert_answered(client.get("/fhir/Patient", query_string={name: value}, headers=auth))
    assert client.get("/fhir/metadata").status_code == 200

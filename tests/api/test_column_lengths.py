"""Values longer than their column answer 4xx (or an HL7 NAK), never a 500: SQLite stores any
length, PostgreSQL refuses an over-long varchar at insert (found by the security review: a
jti over 200 characters). Every path that writes a String(n) column from outside input."""
from __future__ import annotations

import pytest

from tests.api.builders import patient
from tests.conftest import OPERATOR_KEY
from tests.inbound.conftest import hospital_headers  # noqa: F401 - a fixture
from tests.inbound.test_hl7_inbound import any_facility, post, sample  # noqa: F401
from tests.partners.conftest import demo_agency, get_token, partners  # noqa: F401

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
LONG = "a" * 300


def _fhir(client, method: str, path: str, body: dict, status: int) -> None:
    response = client.open(path, method=method, json=body, headers=OPERATOR)
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    if status >= 400:
        assert response.get_json()["resourceType"] == "OperationOutcome"


def test_an_over_long_id_in_the_url_is_400(client):
    _fhir(client, "PUT", f"/fhir/Patient/{'a' * 65}", patient(id="a" * 65), 400)
    _fhir(client, "PUT", f"/fhir/Patient/{LONG}", patient(id=LONG), 400)


@pytest.mark.parametrize("changes", [
    {"identifier": [{"system": "http://example.org/" + "s" * 300, "value": "v" * 600}]},
    {"name": [{"family": "f" * 600, "given": ["g" * 2000]}]},
    {"meta": {"profile": ["http://example.org/" + "p" * 1100],
              "tag": [{"system": "http://x.org/" + "t" * 300, "code": "c" * 300}]}},
    {"telecom": [{"system": "email", "value": "e" * 1200}]},
])
def test_over_long_indexed_values_are_stored_without_a_500(client, changes):
    _fhir(client, "POST", "/fhir/Patient", patient(**changes), 201)


@pytest.mark.parametrize("reference", [
    "Organization/" + "o" * 65, "O" * 70 + "/x", "http://example.org/fhir/Organization/"
    + "o" * 1100, "urn:uuid:" + "u" * 1100])
def test_over_long_references_are_4xx_or_stored(client, reference):
    response = client.post("/fhir/Patient", json=patient(
        managingOrganization={"reference": reference}), headers=OPERATOR)
    assert response.status_code in (201, 400, 404, 409, 422), response.get_data(as_text=True)


def test_over_long_search_values_are_answered(client):
    for query in (f"_id={LONG}", f"identifier={'s' * 300}|{'v' * 600}",
                  f"organization=Organization/{LONG}", f"name={'n' * 600}"):
        response = client.get(f"/fhir/Patient?{query}", headers=OPERATOR)
        assert response.status_code in (200, 400), response.get_data(as_text=True)


def test_over_long_local_record_fields_are_rejected_not_500(client):
    record = {"type": "organization", "id": "O" * 100, "updated_at": "2026-01-05T09:00:00Z",
              "name": "n", "kind": "agency"}
    for body in (record, {**record, "id": "ORG-OK", "updated_at": "2026-01-05T09:00:00Z"
                                                                 + "0" * 60}):
        response = client.post("/local/records", json=body, headers=OPERATOR)
        assert response.status_code < 500, response.get_data(as_text=True)
        assert response.get_json()["summary"]["rejected"] == 1


@pytest.mark.parametrize("field,value", [(9, "ADT^A03^" + "X" * 60), (10, "C" * 300),
                                         (3, "S" * 300), (4, "F" * 300), (12, "2" * 100)])
def test_over_long_hl7_header_fields_are_nakked_not_500(client, any_facility,  # noqa: F811
                                                        hospital_headers, field, value):  # noqa: F811
    message = sample("adt-a03-v2.5.1-discharge-consumer.hl7").decode()
    segments = message.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    msh = segments[0].split("|")
    msh[field - 1] = value
    segments[0] = "|".join(msh)
    ack = post(client, hospital_headers, "\r".join(segments).encode())
    assert b"MSA|" in ack


@pytest.mark.parametrize("option,value", [("--id", "h" * 65), ("--name", "N" * 201),
                                          ("--organization", "o" * 65),
                                          ("--purpose", "P" * 33)])
def test_over_long_partner_fields_are_one_line_errors(app, config, option, value):
    from click.testing import CliRunner

    from gateway.cli import cli

    args = {"--id": "h2", "--type": "hospital", "--name": "H2", "--organization": "org-h2",
            option: value}
    refused = CliRunner().invoke(cli, ["partners", "add", *[part for pair in args.items()
                                                             for part in pair]],
                                 env={"GATEWAY_DATABASE_URL": config.database_url})
    assert refused.exit_code == 1, refused.output
    assert "longer than" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

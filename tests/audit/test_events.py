"""disclosure_event: the AuditEvent one disclosure becomes, valid R4 in every shape."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.audit.events import MAX_RESOURCE_ENTITIES
from gateway.config import PROJECT_ROOT
from gateway.fhir.validation import Validator, has_errors

from .builders import RECORDED, operator_disclosure, partner_disclosure

DICOM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(PROJECT_ROOT / "profiles")


def assert_valid(validator: Validator, event: dict) -> None:
    issues = validator.validate(event, expected_type="AuditEvent")
    assert not has_errors(issues), [(i.expression, i.diagnostics) for i in issues]


def test_a_partner_disclosure(validator):
    event = partner_disclosure()
    assert_valid(validator, event)
    assert event["type"] == {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                             "code": "rest", "display": "RESTful Operation"}
    assert event["subtype"] == [{"system": "http://hl7.org/fhir/restful-interaction",
                                 "code": "search-type", "display": "search-type"}]
    assert (event["action"], event["outcome"]) == ("E", "0")
    assert event["recorded"] == "2026-03-02T14:30:05.123Z"
    assert event["purposeOfEvent"] == [{"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}]
    requester, gateway = event["agent"]
    assert requester == {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                             "code": "IRCP", "display": "information recipient"}]},
        "who": {"reference": "Organization/ORG-PCP-CEDAR"}, "name": "pcp-cedar",
        "requestor": True}
    assert gateway == {"who": {"display": "fhir-care-gateway"}, "requestor": False}
    assert event["source"] == {"observer": {"display": "fhir-care-gateway"}}
    patient, care_team, practitioner = event["entity"]
    assert patient == {
        "what": {"reference": "Patient/C-1001"},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                 "code": "1", "display": "Person"},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role",
                 "code": "1", "display": "Patient"}}
    assert care_team["what"] == {"reference": "CareTeam/ct-1001"}
    assert (care_team["type"]["code"], care_team["role"]["code"]) == ("2", "4")
    assert practitioner["what"] == {"reference": "Practitioner/s-021"}


def test_an_operator_disclosure(validator):
    event = operator_disclosure(source_observer="gateway-east")
    assert_valid(validator, event)
    requester, gateway = event["agent"]
    assert requester == {
        "who": {"identifier": {"system": "https://fhir-care-gateway.example/operator",
                               "value": "operator-key-1"},
                "display": "operator operator-key-1"},
        "name": "operator-key-1", "requestor": True}
    assert gateway["who"] == {"display": "gateway-east"}
    assert event["source"]["observer"] == {"display": "gateway-east"}
    assert "purposeOfEvent" not in event
    assert event["subtype"][0]["code"] == "read"


@pytest.mark.parametrize(("outcome", "code"), [("permit", "0"), ("deny", "4"), ("error", "8")])
def test_outcomes(validator, outcome, code):
    event = partner_disclosure(outcome=outcome, resources=[],
                               description="no active consent to ORG-PCP-CEDAR for TREAT")
    assert_valid(validator, event)
    assert event["outcome"] == code
    assert event["outcomeDesc"] == "no active consent to ORG-PCP-CEDAR for TREAT"
    # A refusal still names whom it was about.
    assert [e["what"]["reference"] for e in event["entity"]] == ["Patient/C-1001"]


@pytest.mark.parametrize(("interaction", "code", "display"),
                         [("delivery", "110106", "Export"), ("inbound", "110107", "Import")])
def test_deliveries_and_inbound_messages_are_dicom_export_and_import(validator, interaction,
                                                                     code, display):
    event = partner_disclosure(interaction=interaction, action="C")
    assert_valid(validator, event)
    assert event["type"] == {"system": DICOM, "code": code, "display": display}
    assert "subtype" not in event


@pytest.mark.parametrize("interaction", ["read", "vread", "search-type", "history-instance",
                                         "history-type", "transaction"])
def test_rest_interactions_are_subtypes(validator, interaction):
    event = operator_disclosure(interaction=interaction)
    assert_valid(validator, event)
    assert event["type"]["code"] == "rest"
    assert event["subtype"][0]["code"] == interaction


def test_resource_entities_are_capped_with_a_note(validator):
    resources = [f"Goal/g-{n}" for n in range(MAX_RESOURCE_ENTITIES + 37)]
    event = partner_disclosure(resources=resources + resources[:5])  # repeats count once
    assert_valid(validator, event)
    patient, *listed, note = event["entity"]
    assert patient["what"] == {"reference": "Patient/C-1001"}
    assert [e["what"]["reference"] for e in listed] == resources[:MAX_RESOURCE_ENTITIES]
    assert "what" not in note
    assert note["description"].startswith("37 more disclosed resources not listed")


def test_exactly_the_cap_needs_no_note():
    resources = [f"Goal/g-{n}" for n in range(MAX_RESOURCE_ENTITIES)]
    entities = partner_disclosure(patients=[], resources=resources)["entity"]
    assert len(entities) == MAX_RESOURCE_ENTITIES
    assert all("description" not in e for e in entities)


def test_recorded_is_given_in_utc():
    eastern = timezone(timedelta(hours=-5))
    event = partner_disclosure(recorded=datetime(2026, 3, 2, 20, 0, tzinfo=eastern))
    assert event["recorded"] == "2026-03-03T01:00:00.000Z"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"interaction": "peek"}, "unknown interaction 'peek'"),
    ({"action": "X"}, "action must be one of C R U D E"),
    ({"outcome": "maybe"}, "outcome must be one of permit, deny, error"),
    ({"requester_kind": "robot"}, "requester_kind must be one of partner, operator"),
    ({"requester_organization": None}, "a partner's requester_organization"),
    ({"requester_name": ""}, "requester_name is required"),
    ({"recorded": RECORDED.replace(tzinfo=None)}, "timezone-aware"),
    ({"resources": ["CareTeam"]}, "'CareTeam' is not a Type/id reference"),
    ({"patients": ["Patient/C-1"]}, "'Patient/C-1' is not a Patient id"),
])
def test_unclear_records_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        partner_disclosure(**overrides)


def test_the_builder_is_pure():
    assert partner_disclosure() == partner_disclosure()
    assert "id" not in partner_disclosure() and "meta" not in partner_disclosure()

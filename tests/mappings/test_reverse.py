"""FHIR -> local records for inbound use: the records must pass record_problems."""
from __future__ import annotations

import copy

import pytest

from gateway.local.schemas import record_problems
from gateway.mappings import (
    MappingContext,
    MappingError,
    consumer_record_from_patient,
    patient_from_consumer,
    reference_index,
    referral_from_record,
    referral_record_from_task,
)

from . import samples

ORG_INDEX_IDS = [o["id"] for o in samples.organizations()]


def test_consumer_round_trip(ctx: MappingContext) -> None:
    original = samples.consumer()
    patient, guardian = patient_from_consumer(original, ctx)
    record = consumer_record_from_patient(patient, ctx, related_persons=[guardian],
                                          updated_at=original["updated_at"])
    assert record_problems(record) == []
    assert record == original


def test_consumer_from_a_partner_patient(ctx: MappingContext) -> None:
    patient = {
        "resourceType": "Patient", "id": "hosp-123",
        "meta": {"lastUpdated": "2024-05-01T12:00:00.000Z"},
        "identifier": [{"system": ctx.identifier_system("agency-number"), "value": "RB-9"},
                       {"system": "http://hospital.example/mrn", "value": "778"}],
        "name": [{"use": "nickname", "given": ["Bobby"]},
                 {"family": "Tables", "given": ["Robert", "J"], "prefix": ["Mr."]}],
        "gender": "male", "birthDate": "1979-11-30",
        "telecom": [{"system": "pager", "value": "555"}, {"system": "phone", "value": "555-1",
                                                           "use": "temp"}],
        "address": [{"line": ["1 Main"], "state": "Michigan", "postalCode": "4893"},
                    {"text": "unknown"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47",
                                                    "code": "en-US"}]}}],
    }
    record = consumer_record_from_patient(patient, ctx, local_id="C-2002")
    assert record_problems(record) == []
    assert record["name"] == {"family": "Tables", "given": ["Robert", "J"], "prefix": "Mr.",
                              "preferred": "Bobby"}
    assert record["contacts"] == [{"kind": "phone", "value": "555-1"}]
    assert record["addresses"] == [{"lines": ["1 Main"]}]  # the invalid state is not guessed
    assert record["language"] == "en-US"
    assert record["updated_at"] == "2024-05-01T12:00:00.000Z"


@pytest.mark.parametrize(("change", "path"), [
    (lambda p: p.pop("birthDate"), "birthDate"),
    (lambda p: p.update(birthDate="1979"), "birthDate"),
    (lambda p: p.update(name=[{"given": ["X"]}]), "name"),
    (lambda p: p.update(identifier=[]), "identifier"),
    (lambda p: p.pop("meta"), "meta.lastUpdated"),
])
def test_patient_missing_what_a_consumer_needs(ctx: MappingContext, change, path: str) -> None:
    patient = patient_from_consumer(samples.consumer(), ctx)[0]
    patient["meta"] = {"lastUpdated": "2024-05-01T12:00:00Z"}
    change(patient)
    with pytest.raises(MappingError) as raised:
        consumer_record_from_patient(patient, ctx)
    assert raised.value.path == path


@pytest.mark.parametrize("index", range(len(samples.referrals())))
def test_referral_round_trip(ctx: MappingContext, index: int) -> None:
    original = samples.referrals()[index]
    request, task = referral_from_record(original, ctx)
    index_ = {**reference_index("Organization", "organization", ORG_INDEX_IDS, ctx),
              **reference_index("Patient", "consumer", ["C-1001"], ctx)}
    record = referral_record_from_task(task, request, ctx, local_ids=index_,
                                       updated_at=original["updated_at"])
    assert record_problems(record) == []
    expected = copy.deepcopy(original)
    # What the forward mapping filled in comes back as data:
    if index == 0:
        expected["target"] = samples.AGENCY  # an incoming referral's owner is the agency
    if index == 2:
        expected["source"] = samples.AGENCY  # the agency stood in for the missing source
        expected["sent_on"] = original["updated_at"][:10]  # authoredOn fell back to it
        expected["status_reason"] = "Cancelled"  # cmh-tsk-1 made the Task give a reason
    assert record == expected


def test_referral_from_a_partner_task(ctx: MappingContext) -> None:
    task = {"resourceType": "Task", "status": "requested", "intent": "order",
            "priority": "asap", "authoredOn": "2024-05-03T08:00:00-04:00",
            "lastModified": "2024-05-03T08:00:00-04:00",
            "for": {"reference": "http://hospital.example/fhir/Patient/77"},
            "requester": {"identifier": {"system": ctx.identifier_system("organization"),
                                         "value": "ORG-HOSPITAL"}},
            "owner": {"reference": "Organization/whatever"},
            "restriction": {"period": {"end": "2024-05-10T23:59:00Z"}}}
    request = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
               "subject": {"reference": "http://hospital.example/fhir/Patient/77"},
               "code": {"coding": [{"system":
                                    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                                    "code": "H2011"}]},
               "reasonCode": [{"coding": [{"display": "Suicidal ideation, discharged"}]}]}
    with pytest.raises(MappingError) as raised:
        referral_record_from_task(task, request, ctx, local_id="REF-100")
    assert raised.value.path == "for"
    record = referral_record_from_task(task, request, ctx, local_id="REF-100",
                                       consumer_id="C-1001")
    assert record_problems(record) == []
    assert record == {
        "type": "referral", "id": "REF-100", "updated_at": "2024-05-03T08:00:00-04:00",
        "consumer": "C-1001", "direction": "incoming", "status": "pending",
        "reason": "Suicidal ideation, discharged", "source": "ORG-HOSPITAL",
        "service": "crisis-intervention", "urgency": "asap", "received_on": "2024-05-03",
        "due_on": "2024-05-10"}


def test_referral_needs_a_reason(ctx: MappingContext) -> None:
    request, task = referral_from_record(samples.referrals()[1], ctx)
    task.pop("reasonCode")
    request.pop("reasonCode")
    with pytest.raises(MappingError) as raised:
        referral_record_from_task(task, request, ctx, consumer_id="C-1001")
    assert raised.value.path == "reasonCode"

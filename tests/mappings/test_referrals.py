"""referral -> ServiceRequest + Task (cmh-task, code referral)."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import MappingContext, MappingError, referral_from_record

from . import samples
from .helpers import SECURITY_SUD, assert_valid, one, security


def referral(ctx: MappingContext, index: int, **changes) -> list[dict]:
    record = samples.referrals()[index]
    record.update(changes)
    return referral_from_record(record, ctx)


def test_all_validate(ctx: MappingContext, validator: Validator) -> None:
    assert_valid(validator, [r for i in range(len(samples.referrals()))
                             for r in referral(ctx, i)])


def test_incoming_hospital_referral(ctx: MappingContext) -> None:
    resources = referral(ctx, 0)
    request, task = one(resources, "ServiceRequest"), one(resources, "Task")
    assert task["code"]["coding"][0]["code"] == "referral"
    assert task["focus"] == {"reference": f"ServiceRequest/{request['id']}"}
    assert task["for"] == request["subject"] == ctx.reference("Patient", "consumer", "C-1001")
    assert task["status"] == "received" and request["status"] == "active"
    assert task["requester"] == request["requester"] == ctx.reference(
        "Organization", "organization", "ORG-HOSPITAL")
    assert task["owner"] == ctx.agency_reference()  # incoming, no target: the agency
    assert task["restriction"] == {"period": {"end": "2024-05-08"}}
    assert task["priority"] == request["priority"] == "urgent"
    assert task["authoredOn"] == request["authoredOn"] == "2024-05-01"
    assert task["lastModified"] == "2024-05-01T16:05:00Z"  # seconds added for FHIR
    assert request["code"]["coding"][0]["code"] == "H0031"
    assert task["identifier"] == request["identifier"] == [ctx.identifier("referral", "REF-88")]
    assert task["id"] != request["id"]


def test_declined_outgoing_referral(ctx: MappingContext) -> None:
    request, task = referral(ctx, 1)
    assert task["status"] == "rejected" and request["status"] == "revoked"
    assert task["statusReason"] == {"text": "Not accepting new Medicaid patients"}
    assert task["owner"] == ctx.reference("Organization", "organization", "ORG-PCP")
    assert task["requester"] == ctx.agency_reference()
    assert "restriction" not in task and "code" not in request


def test_cancelled_sud_referral_is_labelled_and_explained(ctx: MappingContext,
                                                          validator: Validator) -> None:
    resources = referral(ctx, 2)
    assert_valid(validator, resources)
    request, task = resources
    assert task["statusReason"] == {"text": "Cancelled"}
    assert task["requester"] == ctx.agency_reference()  # outgoing, no source: the agency
    # no date on the record: authoredOn falls back to the record's timestamp
    assert task["authoredOn"] == samples.UPDATED
    assert SECURITY_SUD in security(request) and SECURITY_SUD in security(task)


@pytest.mark.parametrize(("local", "task_status"), [
    ("pending", "requested"), ("accepted", "accepted"), ("in-progress", "in-progress"),
    ("completed", "completed")])
def test_status_map(ctx: MappingContext, validator: Validator, local: str,
                    task_status: str) -> None:
    resources = referral(ctx, 0, status=local)
    assert_valid(validator, resources)
    assert resources[1]["status"] == task_status


def test_outgoing_needs_a_target(ctx: MappingContext) -> None:
    with pytest.raises(MappingError) as raised:
        referral(ctx, 1, target=None)
    assert raised.value.path == "target"


def test_unknown_service(ctx: MappingContext) -> None:
    with pytest.raises(MappingError) as raised:
        referral(ctx, 0, service="acupuncture")
    assert raised.value.path == "service"

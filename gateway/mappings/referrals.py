"""referral record -> ServiceRequest + Task (cmh-task, code referral).

The ServiceRequest is what is asked for; the Task tracks who must act on it (``owner``: the
target organization, or the agency for an incoming referral that names none) through the
closed loop. Both carry the referral's agency identifier.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codes import PROFILE_TASK, TASK_REFERRAL
from .context import MappingContext
from .elements import codeable, fhir_datetime, prune
from .errors import MappingError
from .labels import add_security, implies_substance_use, substance_use_labels
from .records import expect_type, required
from .terminology import GATEWAY, SERVICE

# referral.status -> Task.status; the reverse mapping inverts it.
TASK_STATUS = {"pending": "requested", "received": "received", "accepted": "accepted",
               "declined": "rejected", "in-progress": "in-progress",
               "completed": "completed", "cancelled": "cancelled"}
# referral.status -> ServiceRequest.status: a declined or cancelled referral will not be done.
SERVICE_REQUEST_STATUS = {"pending": "active", "received": "active", "accepted": "active",
                          "declined": "revoked", "in-progress": "active",
                          "completed": "completed", "cancelled": "revoked"}
_DEFAULT_REASON = {"rejected": "Declined", "cancelled": "Cancelled"}


def referral_from_record(referral: Mapping[str, Any], ctx: MappingContext) -> list[dict]:
    """The ServiceRequest, then its Task."""
    referral = expect_type(referral, "referral")
    referral_id = required(referral, "id")
    consumer_id = required(referral, "consumer")
    direction = required(referral, "direction")
    status = required(referral, "status")
    if status not in TASK_STATUS:
        raise MappingError("status", f"unknown referral status {status!r}")
    if direction not in ("incoming", "outgoing"):
        raise MappingError("direction", f"unknown direction {direction!r}")
    requester, owner = _parties(referral, direction, ctx)
    terminology = ctx.terminology
    service = referral.get("service")
    reason = {"text": required(referral, "reason")}
    authored = referral.get("sent_on") or referral.get("received_on")
    patient = ctx.reference("Patient", "consumer", consumer_id)
    service_request = prune({
        "resourceType": "ServiceRequest",
        "id": ctx.fhir_id("referral", referral_id),
        "identifier": [ctx.identifier("referral", referral_id)],
        "status": SERVICE_REQUEST_STATUS[status],
        "intent": "order",
        "category": [codeable(terminology.translate(GATEWAY, "referral"))],
        "priority": referral.get("urgency"),
        "code": codeable(terminology.translate(SERVICE, service, "service"),
                         terminology.display(SERVICE, service)) if service else None,
        "subject": patient,
        "authoredOn": authored,
        "requester": requester,
        "performer": [owner] if referral.get("target") else None,
        "reasonCode": [reason],
    })
    task_status = TASK_STATUS[status]
    reason_text = referral.get("status_reason") or _DEFAULT_REASON.get(task_status)
    focus = {"reference": f"ServiceRequest/{service_request['id']}"}
    task = prune({
        "resourceType": "Task",
        "id": ctx.fhir_id("referral-task", referral_id),
        "meta": {"profile": [PROFILE_TASK]},
        "identifier": [ctx.identifier("referral", referral_id)],
        "basedOn": [focus],
        "status": task_status,
        "statusReason": {"text": reason_text} if reason_text else None,
        "intent": "order",
        "priority": referral.get("urgency"),
        "code": {"coding": [dict(TASK_REFERRAL)]},
        "focus": focus,
        "for": patient,
        # cmh-task needs authoredOn: the record's own timestamp when no date was given.
        "authoredOn": authored or fhir_datetime(required(referral, "updated_at")),
        "lastModified": fhir_datetime(referral.get("updated_at")),
        "requester": requester,
        "owner": owner,
        "reasonCode": reason,
        "restriction": {"period": {"end": referral["due_on"]}} if referral.get("due_on")
        else None,
    })
    resources = [service_request, task]
    if service and implies_substance_use(ctx, SERVICE, service):
        for resource in resources:
            add_security(resource, substance_use_labels(ctx))
    return resources


def _parties(referral: Mapping[str, Any], direction: str,
             ctx: MappingContext) -> tuple[dict | None, dict]:
    """(requester, owner): source and target, the agency standing in for a missing side."""
    source, target = referral.get("source"), referral.get("target")
    if direction == "outgoing" and not target:
        raise MappingError("target", "an outgoing referral needs a target organization")
    requester = (ctx.reference("Organization", "organization", source) if source
                 else ctx.agency_reference() if direction == "outgoing" else None)
    owner = (ctx.reference("Organization", "organization", target) if target
             else ctx.agency_reference())
    return requester, owner

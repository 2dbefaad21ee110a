"""``POST /fhir/$process-message``: Da Vinci Unsolicited Notifications from hospitals.

Synchronous FHIR messaging (http://hl7.org/fhir/R4/messaging.html): the body is the message
Bundle; the answer is a response message whose MessageHeader.response.code says ``ok``,
``fatal-error`` (the content is wrong: sending it again unchanged will not help; an
OperationOutcome names the element) or ``transient-error`` (our side failed: send it again).
HTTP status: 200 with ``ok``; 422 with ``fatal-error``; 503 with ``transient-error``. A body
that is not a message at all (not JSON, not a Bundle of type message, no MessageHeader) has no
header to respond to and gets a plain OperationOutcome with 400.

Only hospitals send these: a partner of kind ``hospital``, or one whose registration lists
``MessageHeader`` among what it submits.
"""
from __future__ import annotations

from typing import Any, cast

from gateway.adapters import davinci
from gateway.auth import SYSTEM, Principal
from gateway.fhir import json_text
from gateway.fhir.errors import FhirError, issue
from gateway.fhir.operations import Operation, OperationCall, OperationResult
from gateway.partners.registry import Partner, PartnerRegistry
from gateway.state import GatewayState
from gateway.workflows import inbound_messages
from gateway.workflows.inbound_messages import FATAL, OK, Result

STATUS = {OK: 200, FATAL: 422, inbound_messages.TRANSIENT: 503}


def operation(state: GatewayState) -> Operation:
    """``$process-message`` at the system level, taken in through ``state``."""

    def run(call: OperationCall) -> OperationResult:
        body, status, audited = process_message(state, cast(Principal, call.requester),
                                                call.body)
        return OperationResult(body, status, audited)

    return Operation(
        "process-message", run, permission="c",
        definition="http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message")


# What a CapabilityStatement says of this: the Da Vinci receiver role, and the messages taken.
DAVINCI_RECEIVER = "http://hl7.org/fhir/us/davinci-alerts/CapabilityStatement/notification-receiver"


def messaging(fhir_base: str) -> dict[str, Any]:
    """The CapabilityStatement's ``messaging`` entry: synchronous FHIR messaging over HTTP at
    ``$process-message``, for the Da Vinci notification events (R4 messaging.html)."""
    events = ", ".join(sorted(davinci.EVENTS))
    return {
        "endpoint": [{"protocol": {"system": "http://terminology.hl7.org/CodeSystem/"
                                             "message-transport", "code": "http"},
                      "address": f"{fhir_base}/$process-message"}],
        "documentation": f"Receives Da Vinci Unsolicited Notifications ({events}, code system "
                         f"{davinci.NOTIFICATION_EVENTS}) from registered hospital partners; "
                         "the answer is a response message (ok, fatal-error, transient-error). "
                         "A message received again (same MessageHeader.id from the same "
                         "sender) gets the same answer.",
    }


def process_message(state: GatewayState, principal: Principal, body: Any
                    ) -> tuple[dict[str, Any], int, bool]:
    """The response message, its HTTP status, and whether the message's own AuditEvent
    (the receipt, DICOM Import) was written (FhirError for a body that is no message)."""
    partner = sending_partner(state, principal)
    try:
        received = davinci.event_from(body)
    except davinci.MessageError as error:
        if error.header is None:
            raise FhirError(400, "invalid", error.message, error.expression) from None
        result = Result(FATAL, error.message,
                        issues=(issue("error", "invalid", error.message, error.expression),))
        seen = inbound_messages.stored_answer(state, partner.id, error.header["id"])
        if seen is not None:
            inbound_messages.note_repeat(state, partner, error.header["id"],
                                         _event_label(error.header), seen)
            return json_text.loads_stored(seen.answer), STATUS[seen.code], True
        answer = _render(state, error.header)(result)
        inbound_messages.refuse(state, partner, message_id=error.header["id"], source="fhir",
                                content=json_text.dumps(body),
                                result=Result(FATAL, error.message, answer=answer,
                                              issues=result.issues),
                                label=_event_label(error.header))
        return json_text.loads_stored(answer), STATUS[FATAL], True
    result = inbound_messages.receive(
        state, partner, received.event, json_text.dumps(body),
        _render(state, received.header), label=_event_label(received.header))
    recorded = result.code != inbound_messages.TRANSIENT
    return json_text.loads_stored(result.answer), STATUS[result.code], recorded


def sending_partner(state: GatewayState, principal: Principal) -> Partner:
    if principal.kind != "partner":
        raise FhirError(403, "forbidden", "messages are sent by a registered hospital partner "
                                          "with its own access token")
    with state.reading(SYSTEM) as repository:  # on the request's connection, when there is one
        partner = PartnerRegistry(repository.session).get(principal.name)
    if partner is None or not partner.enabled or not (
            partner.kind == "hospital" or "MessageHeader" in partner.submits):
        raise FhirError(403, "forbidden", f"{principal.name} is not registered to send "
                                          f"notification messages")
    return partner


def _render(state: GatewayState, header: dict[str, Any]):  # noqa: ANN202 - a Render
    base = state.config.fhir_base_url

    def render(result: Result) -> str:
        taken = result.taken
        issues = list(result.issues)
        if result.code == OK:
            issues = [issue("information", "informational", result.text)]
        focus = [f"Task/{taken.task_id}"] if taken and taken.task_id else None
        message = davinci.response_message(header, result.code, base, issues=issues or [
            issue("error", "exception", result.text)], focus=focus)
        return json_text.dumps(message)
    return render


def _event_label(header: dict[str, Any]) -> str:
    return (header.get("eventCoding") or {}).get("code") or "FHIR message"

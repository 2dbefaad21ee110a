"""``POST /hl7v2``: one HL7 v2 message (ER7) in the body, the ACK in the response.

The sender authenticates as any partner does (its SMART Backend Services access token) and must
be a hospital; the message then takes the same path as over MLLP
(gateway/workflows/hl7_messages.py). The answer is always an ACK with HTTP 200, as HL7 v2 over
HTTP senders expect (the ACK says AA, AE or AR), except when the caller is not allowed to send
at all: 401 or 403 with an OperationOutcome, before any HL7 is read.

Operators see and replay the messages held because no registered hospital sends them
(gateway/workflows/held_messages.py), as ``gateway inbound held|replay`` does:

    GET  /admin/inbound/held[?facility=F&status=held|replayed|all]   JSON
    POST /admin/inbound/held/{id}/replay   JSON: what the replay did (409: still unknown)
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from gateway.fhir import json_text
from gateway.fhir.errors import FhirError
from gateway.partners.registry import PartnerRegistry
from gateway.state import gateway_state, require_operator
from gateway.workflows import held_messages
from gateway.workflows.hl7_messages import receive_hl7, replay_held

bp = Blueprint("hl7v2", __name__)
ER7 = "x-application/hl7-v2+er7"


@bp.post("/hl7v2")
def receive() -> Response:
    state = gateway_state()
    principal = state.authenticate(request.headers.get("Authorization"))
    limit = state.config.hl7_max_message_bytes
    if (request.content_length or 0) > limit:
        raise FhirError(413, "too-costly", f"an HL7 v2 message may be at most {limit:,} bytes "
                                           f"(GATEWAY_HL7_MAX_MESSAGE_BYTES), as over MLLP")
    if principal.kind != "partner":
        raise FhirError(403, "forbidden", "HL7 v2 messages are sent by a registered hospital "
                                          "partner with its own access token")
    with state.session_factory() as session:
        partner = PartnerRegistry(session).get(principal.name)
    if partner is None or not partner.enabled:
        raise FhirError(403, "forbidden", f"{principal.name} may not send messages")
    answer = receive_hl7(state, request.get_data(), partner=partner)
    return Response(answer, status=200, content_type=ER7)


@bp.get("/admin/inbound/held")
def list_held() -> Response:
    require_operator(request.headers.get("Authorization"), "see held messages")
    status = request.args.get("status", held_messages.HELD)
    if status not in (held_messages.HELD, held_messages.REPLAYED, "all"):
        raise FhirError(400, "invalid", "status must be held, replayed or all")
    found = held_messages.held(gateway_state(), status=None if status == "all" else status,
                               facility=request.args.get("facility") or None)
    return _json({"status": status, "messages": [item.to_json() for item in found]})


@bp.post("/admin/inbound/held/<int:held_id>/replay")
def replay(held_id: int) -> Response:
    operator = require_operator(request.headers.get("Authorization"), "replay held messages")
    [result] = replay_held(gateway_state(), [held_id], by=operator.name)
    if result.outcome == "not-held":
        raise FhirError(404, "not-found", result.text)
    if result.outcome == "still-held":
        raise FhirError(409, "conflict", result.text)
    return _json(result.to_json())


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json_text.dumps(body), status=status,
                    content_type="application/json")

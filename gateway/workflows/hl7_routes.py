"""``POST /hl7v2``: one HL7 v2 message (ER7) in the body, the ACK in the response.

The sender authenticates as any partner does (its SMART Backend Services access token) and must
be a hospital; the message then takes the same path as over MLLP
(gateway/workflows/hl7_messages.py). The answer is always an ACK with HTTP 200, as HL7 v2 over
HTTP senders expect (the ACK says AA, AE or AR), except when the caller is not allowed to send
at all: 401 or 403 with an OperationOutcome, before any HL7 is read.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from gateway.fhir.errors import FhirError
from gateway.partners.registry import PartnerRegistry
from gateway.state import gateway_state
from gateway.workflows.hl7_messages import receive_hl7

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

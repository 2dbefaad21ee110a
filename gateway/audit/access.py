"""One AuditEvent per authenticated API request: the accounting of disclosures.

Whatever an operator or a partner asked, the decision point noted what it disclosed and what it
withheld (``Principal.disclosures``); after the answer is ready and before it is sent, this
writes the AuditEvent: who asked, for what purpose, which consumers and resources, and the
outcome (0 answered, 4 refused or a client error, 8 a server error). If the AuditEvent cannot
be written the answer is not sent (the caller turns the failure into a 500): no disclosure goes
unrecorded. Events of concurrent requests are committed together (writer.py).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Response, g, request

from gateway.audit.events import disclosure_event
from gateway.audit.writer import AuditWriter
from gateway.auth import Disclosures, Principal
from gateway.fhir.interactions import INTERACTIONS

ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}
# Interactions that run a query or a bundle rather than touch one resource: action E.
EXECUTED = {"search-type", "search-system", "transaction", "batch", "operation"}


def account(writer: AuditWriter) -> Callable[[Response], Response]:
    """The FHIR API's after-request hook (the app factory adds it to the ``fhir`` blueprint):
    the AuditEvent of every authenticated request, written before the answer leaves."""

    def after_request(response: Response) -> Response:
        principal = g.get("principal")
        if principal is None or g.get("audited"):  # an operation that wrote its own
            return response
        written = []
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and response.status_code < 300:
            location = response.headers.get("Location", "")
            args = request.view_args or {}
            if "resource_id" in args:
                written.append(f"{args['resource_type']}/{args['resource_id']}")
            elif "/_history/" in location:
                written.append("/".join(location.split("/_history/")[0].split("/")[-2:]))
        interaction = g.get("interaction") or INTERACTIONS.get(request.endpoint or "",
                                                              "operation")
        audit_request(writer, principal, interaction=interaction, method=request.method,
                      status=response.status_code, written=written)
        return response

    return after_request


def audit_request(writer: AuditWriter, requester: Principal, *, interaction: str, method: str,
                  status: int, written: list[str] | None = None, note: str | None = None
                  ) -> str:
    """Record one request's AuditEvent; its id. ``note`` says what was asked, in words
    (the console: which page or action)."""
    decided = requester.disclosures or Disclosures()
    resources = list(dict.fromkeys([*decided.disclosed, *(written or [])]))
    outcome = "0" if status < 400 else ("8" if status >= 500 else "4")
    notes = []
    if decided.denied:
        notes.append(f"{len(decided.denied)} withheld by the consent decision point")
        notes += decided.reasons[:5]
    if status >= 400:
        notes.insert(0, f"answered HTTP {status}")
    if note:
        notes.insert(0, note)
    event = disclosure_event(
        requester_kind=requester.kind,
        requester_name=requester.name,
        requester_organization=requester.organization,
        purpose=requester.purpose,
        interaction=interaction,
        action="E" if interaction in EXECUTED else ACTIONS.get(method, "E"),
        outcome=outcome,
        patients=sorted(decided.patients),
        resources=resources,
        consents=decided.consents,
        recorded=datetime.now(UTC),
        description="; ".join(notes) or None)
    return writer.write(event)

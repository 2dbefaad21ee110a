"""One AuditEvent per authenticated API request: the accounting of disclosures.

Whatever an operator or a partner asked, the decision point noted what it disclosed and what it
withheld (``Principal.disclosures``); after the answer is ready and before it is sent, this
writes the AuditEvent: who asked, for what purpose, which consumers and resources, and the
outcome (0 answered, 4 refused or a client error, 8 a server error). If the AuditEvent cannot
be written the answer is not sent (the caller turns the failure into a 500): no disclosure goes
unrecorded. Events of concurrent requests are committed together (writer.py).
"""
from __future__ import annotations

from datetime import UTC, datetime

from gateway.audit.events import disclosure_event
from gateway.auth import Principal
from gateway.privacy.disclosures import Disclosures
from gateway.state import GatewayState

ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "DELETE": "D"}
# Interactions that run a query or a bundle rather than touch one resource: action E.
EXECUTED = {"search-type", "search-system", "transaction", "batch", "operation"}


def audit_request(state: GatewayState, requester: Principal, *, interaction: str, method: str,
                  status: int, written: list[str] | None = None) -> str:
    """Record one request's AuditEvent; its id."""
    decided = requester.disclosures or Disclosures()
    resources = list(dict.fromkeys([*decided.disclosed, *(written or [])]))
    outcome = "0" if status < 400 else ("8" if status >= 500 else "4")
    notes = []
    if decided.denied:
        notes.append(f"{len(decided.denied)} withheld by the consent decision point")
        notes += decided.reasons[:5]
    if status >= 400:
        notes.insert(0, f"answered HTTP {status}")
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
        recorded=datetime.now(UTC),
        description="; ".join(notes) or None)
    return state.audit_writer.write(event)

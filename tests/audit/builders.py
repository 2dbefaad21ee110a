"""Disclosure events for tests, and recording them the way the gateway does."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.audit.events import disclosure_event
from gateway.audit.log import record
from gateway.auth import SYSTEM
from gateway.db.models import AuditBatchRow
from gateway.state import GatewayState

RECORDED = datetime(2026, 3, 2, 14, 30, 5, 123000, tzinfo=UTC)


def partner_disclosure(**overrides: Any) -> dict[str, Any]:
    """A partner's permitted search that disclosed one consumer's CareTeam."""
    arguments: dict[str, Any] = {
        "requester_kind": "partner", "requester_name": "pcp-cedar",
        "requester_organization": "ORG-PCP-CEDAR", "purpose": "TREAT",
        "interaction": "search-type", "action": "E", "outcome": "permit",
        "patients": ["C-1001"], "resources": ["CareTeam/ct-1001", "Practitioner/s-021"],
        "recorded": RECORDED,
    }
    return disclosure_event(**(arguments | overrides))


def operator_disclosure(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "requester_kind": "operator", "requester_name": "operator-key-1",
        "requester_organization": None, "purpose": None, "interaction": "read",
        "action": "R", "outcome": "permit", "patients": ["C-1002"],
        "resources": ["Patient/C-1002"], "recorded": RECORDED,
    }
    return disclosure_event(**(arguments | overrides))


def record_events(state: GatewayState, events: list[dict[str, Any]]) -> list[str]:
    """Record each event in its own committed transaction; their AuditEvent ids."""
    ids = []
    for event in events:
        with state.writing(SYSTEM) as repository:
            ids.append(record(repository, event))
    return ids


def chain_seqs(state: GatewayState) -> dict[str, int]:
    """Each AuditEvent id's entry number in the chain (1, 2, ... in the chain's order)."""
    with state.session_factory() as session:
        steps = session.scalars(select(AuditBatchRow.event_ids).order_by(AuditBatchRow.seq))
        ids = [event_id for listed in steps for event_id in listed.split()]
    return {event_id: number for number, event_id in enumerate(ids, start=1)}

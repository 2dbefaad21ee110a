"""The console's one way into the audit trail (kept in this module so that how AuditEvents
are stored can change without touching the pages).

    search_events   AuditEvents through the repository's FHIR search, with the parameters
                    the API offers operators (patient, agent, entity, date, type, outcome)
    disclosures_of  the accounting of disclosures of one consumer: the AuditEvents naming
                    the consumer whose requesting agent is a partner (information recipient)
                    and whose outcome is success: to whom, when, what, under which Consent
    verify          the chain verification of ``gateway audit verify`` (verify_chain),
                    against the latest signed checkpoint when one is configured

Nothing here reads audit tables itself; the verification is the audit package's own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    latest_record,
    load_public_key,
    open_checkpoint,
)
from gateway.audit.targets import first_file, parse_targets
from gateway.audit.verify import verify_chain
from gateway.console.fhir_pages import search_all, search_page
from gateway.fhir.repository import Repository
from gateway.state import GatewayState

SEARCH_PARAMETERS = ("patient", "agent", "entity", "date", "type", "outcome")
RECIPIENT = "IRCP"  # the partner's agent: information recipient
OUTCOMES = {"0": "success", "4": "minor failure (refused)", "8": "serious failure",
            "12": "major failure"}
WHAT = {"read": "read", "vread": "read", "search-type": "search", "search": "search",
        "search-system": "search", "history-instance": "history", "operation": "operation",
        "110106": "sent (delivery)"}


@dataclass(frozen=True)
class EventRow:
    """One AuditEvent as a table row."""
    id: str
    recorded: str
    kind: str
    action: str
    outcome: str
    who: str
    recipient: str | None  # Organization/id of a partner agent
    purpose: str
    patients: tuple[str, ...]
    resources: tuple[str, ...]
    consents: tuple[str, ...]
    description: str


def event_row(event: dict[str, Any]) -> EventRow:
    entities = [e.get("what", {}).get("reference", "") for e in event.get("entity", [])]
    subtype = (event.get("subtype") or [{}])[0]
    kind = subtype.get("code") or (event.get("type") or {}).get("code", "")
    requester = next((a for a in event.get("agent", []) if a.get("requestor")), {})
    recipient = None
    if any(c.get("code") == RECIPIENT for t in [requester.get("type") or {}]
           for c in t.get("coding", [])):
        recipient = (requester.get("who") or {}).get("reference")
    purposes = [c.get("code", "") for p in event.get("purposeOfEvent", [])
                for c in p.get("coding", [])]
    return EventRow(
        id=str(event.get("id", "")), recorded=str(event.get("recorded", "")),
        kind=WHAT.get(kind, kind or (event.get("type") or {}).get("display", "")),
        action=str(event.get("action", "")), outcome=str(event.get("outcome", "")),
        who=str(requester.get("name") or (requester.get("who") or {}).get("display") or ""),
        recipient=recipient, purpose=", ".join(p for p in purposes if p),
        patients=tuple(r for r in entities if r.startswith("Patient/")),
        resources=tuple(r for r in entities if r and not r.startswith(("Patient/",
                                                                         "Consent/"))),
        consents=tuple(r for r in entities if r.startswith("Consent/")),
        description=str(event.get("outcomeDesc", "")))


def search_events(repository: Repository, params: list[tuple[str, str]], *, count: int,
                  offset: int) -> tuple[list[EventRow], int | None, bool]:
    """A page of AuditEvents matching ``params``, newest first; FhirError(400) for a
    parameter the search refuses."""
    page = search_page(repository, "AuditEvent", [*params, ("_sort", "-date")], count=count,
                       offset=offset)
    return [event_row(e) for e in page.resources], page.total, page.has_next


def disclosures_of(repository: Repository, patient_id: str) -> list[EventRow]:
    """Every disclosure of the consumer to a partner, newest first: the partner's reads and
    searches answered and the deliveries sent to it (refusals are not disclosures)."""
    rows = [event_row(e) for e in search_all(
        repository, "AuditEvent", [("patient", patient_id), ("outcome", "0"),
                                   ("_sort", "-date")])]
    return [row for row in rows if row.recipient is not None]


@dataclass(frozen=True)
class Verification:
    intact: bool  # every link, copy and index row holds
    entries: int
    problems: tuple[str, ...]
    checkpoint: str | None  # the signed checkpoint the chain extends
    refused: str | None  # a checkpoint that cannot be trusted (the CLI's exit 3)
    note: str | None  # why there was no checkpoint to check against
    checked_at: datetime


def verify(state: GatewayState, now: datetime) -> Verification:
    """What ``gateway audit verify`` answers, for a page."""
    checkpoint, note, refused = None, None, None
    try:
        checkpoint, note = _latest_checkpoint(state)
    except CheckpointError as error:
        refused = str(error)
    with state.session_factory() as session:
        result = verify_chain(session, checkpoint=checkpoint, registry=state.search_registry,
                              base_url=state.config.fhir_base_url)
    return Verification(result.intact, result.entries, tuple(str(p) for p in result.problems),
                        checkpoint.describe() if checkpoint is not None else None, refused,
                        note, now)


def _latest_checkpoint(state: GatewayState) -> tuple[Checkpoint | None, str | None]:
    config = state.config
    path: Path | None = first_file(parse_targets(config.audit_checkpoint_targets))
    if path is None:
        return None, ("no checkpoint file is configured (GATEWAY_AUDIT_CHECKPOINT_TARGET), so "
                      "a cut-off tail or a recomputed chain cannot be found")
    key_file = config.audit_checkpoint_public_key or config.audit_checkpoint_key
    if key_file is None:
        raise CheckpointError("no public key to check the checkpoint with "
                              "(GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY)")
    if not path.exists():
        raise CheckpointError(f"{path} does not exist (write one with 'gateway audit "
                              f"checkpoint')")
    record = latest_record(path)
    if record is None:
        raise CheckpointError(f"no checkpoint in {path}")
    return open_checkpoint(record, load_public_key(key_file)), None

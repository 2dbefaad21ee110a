"""What an adapter hands the worker: one delivery's content, in the forms its transports take."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.adapters.records import ConsumerRecords
    from gateway.partners.registry import Partner


@dataclass(frozen=True)
class Payload:
    """A consumer's records for one partner. ``bundle`` goes to a FHIR endpoint, ``files``
    (name -> bytes) to a drop folder; ``disclosed`` names every resource whose content it
    carries (``Type/id``), for the AuditEvent."""

    patient_id: str
    disclosed: tuple[str, ...]
    bundle: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    notifications: tuple[Notification, ...] = ()
    consents: tuple[str, ...] = ()  # the Consent ids the disclosure relied on (the worker's)


@dataclass(frozen=True)
class Notification:
    """An R4 rest-hook notification: an empty POST to a Subscription's endpoint, which tells
    the partner to come and read (with its own token, through the decision point)."""

    subscription_id: str
    endpoint: str
    headers: tuple[tuple[str, str], ...] = ()


def transaction_entry(base_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A ``PUT Type/id`` entry: the partner keeps our ids, so sending again changes nothing
    (a retry after a crash never duplicates a record there)."""
    name = f"{resource['resourceType']}/{resource['id']}"
    return {"fullUrl": f"{base_url.rstrip('/')}/{name}", "resource": resource,
            "request": {"method": "PUT", "url": name}}


def transaction(base_url: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [transaction_entry(base_url, r) for r in resources]}


@dataclass(frozen=True)
class DeliveryContext:
    """What an adapter builds a delivery from. ``records``: the consumer's records as the
    partner may receive them (through the decision point). ``agency``: the same consumer's
    records as the agency holds them, for derived figures only (counts and dates an adapter
    states, never resources it forwards)."""

    records: ConsumerRecords
    agency: ConsumerRecords
    partner: Partner
    base_url: str
    now: datetime
    delivery_id: str  # stable per delivery and generation: names files, identifies documents

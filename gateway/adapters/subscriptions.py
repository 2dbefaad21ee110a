"""Partners that prefer to pull (partner kind ``physical-health`` with a ``webhook`` endpoint and
no ``fhir_base``): FHIR R4 Subscriptions with a ``rest-hook`` channel notify them instead of a
pushed Bundle.

The agency's operators register a partner's Subscriptions (``POST /fhir/Subscription``, criteria
such as ``CarePlan?patient=Patient/123`` or ``CareTeam?patient=...``, ``channel.type``
``rest-hook``, ``channel.endpoint`` the partner's registered webhook or a URL under it). When a
delivery for a consumer is due, each active Subscription of that partner whose criteria match
one of the consumer's records *as the partner may see them* (the criteria run as a search by
the partner, through the consent decision point) gets one notification: an empty POST to its
endpoint with the channel's headers (R4 rest-hook without payload). The notification carries
no content; the partner reads what changed with its own token, so every disclosure is a query
the decision point answers and the audit trail records.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select

from gateway.adapters.payload import DeliveryContext, Notification, Payload
from gateway.adapters.records import names
from gateway.db.models import ResourceRow
from gateway.fhir import json_text, search
from gateway.fhir.errors import FhirError

SUBSCRIBABLE = frozenset({"CarePlan", "CareTeam", "Goal", "ServiceRequest"})
MAX_MATCHES = 50


def build(context: DeliveryContext) -> Payload | None:
    webhook = context.partner.endpoints.get("webhook", "")
    notifications: list[Notification] = []
    matched: list[dict[str, Any]] = []
    for subscription in _active_subscriptions(context):
        channel = subscription.get("channel") or {}
        endpoint = channel.get("endpoint", "")
        if channel.get("type") != "rest-hook" or not _belongs_to(endpoint, webhook):
            continue
        found = _matches(context, subscription.get("criteria", ""))
        if found:
            matched += found
            notifications.append(Notification(
                subscription["id"], endpoint, tuple(_headers(channel.get("header", [])))))
    if not notifications:
        return None
    return Payload(context.records.patient_id, names(matched), {}, {}, tuple(notifications))


def _active_subscriptions(context: DeliveryContext) -> list[dict[str, Any]]:
    # Subscriptions are the agency's configuration (never shown to partners): read as stored.
    session = context.agency.repository.session
    rows = session.scalars(select(ResourceRow.content).where(
        ResourceRow.resource_type == "Subscription", ResourceRow.deleted.is_(False)))
    subscriptions = [json_text.loads_stored(content) for content in rows if content]
    # "requested" is how a client asks for one (R4): this server serves it from then on.
    return [s for s in subscriptions if s.get("status") in ("requested", "active")]


def _belongs_to(endpoint: str, webhook: str) -> bool:
    """A Subscription notifies a partner only at its registered webhook (or below it): an
    operator's typo must not send notifications about a consumer somewhere else."""
    if not webhook or not endpoint:
        return False
    ours, theirs = urlsplit(webhook), urlsplit(endpoint)
    return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc) and \
        theirs.path.rstrip("/").startswith(ours.path.rstrip("/"))


def _matches(context: DeliveryContext, criteria: str) -> list[dict[str, Any]]:
    """The consumer's records that match ``criteria``, as the partner may see them."""
    resource_type, _, query = criteria.partition("?")
    if resource_type not in SUBSCRIBABLE:
        return []
    params = [(k, v) for k, v in parse_qsl(query) if k != "patient"]
    params.append(("patient", f"Patient/{context.records.patient_id}"))
    requested_patient = dict(parse_qsl(query)).get("patient")
    if requested_patient and requested_patient.split("/")[-1] != context.records.patient_id:
        return []
    repository = context.records.repository
    try:
        request = search.parse_search(resource_type, params, repository.registry,
                                      lenient=False, default_count=MAX_MATCHES,
                                      max_count=MAX_MATCHES, base_url=repository.base_url)
    except FhirError:
        return []  # criteria this server cannot evaluate never match
    return [stored.json() for stored in repository.search(request).rows]


def _headers(values: list[Any]) -> list[tuple[str, str]]:
    headers = []
    for value in values:
        name, _, content = str(value).partition(":")
        if name.strip() and content.strip():
            headers.append((name.strip(), content.strip()))
    return headers

"""The delivery worker (``gateway deliver``): claim due deliveries, build, send, record.

For each claimed delivery the partner's adapter builds the consumer's current records as the
partner may receive them, through the consent decision point, at send time: a consent revoked
while the delivery waited withholds it. The payload goes to the partner's FHIR endpoint or drop
folder; the outcome is recorded with the delivery's AuditEvent in one transaction per batch.
Failures are retried with backoff (retry.py) or become dead letters; a partner that keeps
failing is left alone for a while (breaker.py). Sends happen outside any database transaction.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from gateway.adapters import court, hospital, intake, primary_care, school, subscriptions
from gateway.adapters.payload import DeliveryContext, Payload
from gateway.adapters.records import ConsumerRecords
from gateway.audit.events import disclosure_event
from gateway.audit.log import record
from gateway.auth import SYSTEM, Disclosures
from gateway.db.engine import begin_write
from gateway.delivery import queue
from gateway.delivery.breaker import CircuitBreaker
from gateway.delivery.outbound_auth import OutboundAuth
from gateway.delivery.retry import RetryPolicy, SendResult
from gateway.delivery.transport import DropFolderTransport, FhirTransport, RestHookTransport, post
from gateway.fhir import json_text
from gateway.partners.registry import Partner, PartnerRegistry, principal_for
from gateway.state import GatewayState

log = logging.getLogger(__name__)

ADAPTERS: dict[str, Callable[[DeliveryContext], Payload | None]] = {
    "physical-health": primary_care.build,
    "school": school.build,
    "court": court.build,
    "hospital": hospital.build,
    "local": intake.build,
}


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 20
    lease_seconds: float = 120.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    poll_seconds: float = 1.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_threshold: int = 5
    breaker_cooldown: float = 5.0


@dataclass
class Outcome:
    claimed: queue.Claimed
    kind: str  # sent, retry, dead, withheld, released
    partner: Partner | None = None
    purpose: str | None = None
    payload: Payload | None = None
    result: SendResult | None = None
    reason: str | None = None
    next_attempt_at: datetime | None = None


@dataclass
class WorkerSummary:
    batches: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


class DeliveryWorker:
    def __init__(self, state: GatewayState, name: str | None = None,
                 settings: WorkerSettings | None = None, *,
                 private_jwk: dict[str, Any] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.state = state
        self.name = name or default_name()
        self.settings = settings or WorkerSettings()
        self.clock = clock
        self.http = requests.Session()
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        self.fhir = FhirTransport(self.http, OutboundAuth(self.http, private_jwk, timeout),
                                  timeout)
        self.folders = DropFolderTransport(Path(state.config.var_dir).parent)
        self.hooks = RestHookTransport(self.http, self.fhir.auth, timeout)
        self.breaker = CircuitBreaker(self.settings.breaker_threshold,
                                      self.settings.breaker_cooldown)
        self.summary = WorkerSummary()

    # -- the loop ------------------------------------------------------------------------------

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> WorkerSummary:
        """Deliver until ``stop`` is set; ``once``: until nothing is due, then return."""
        stop = stop or threading.Event()
        while not stop.is_set():
            if self.run_batch() == 0:
                if once:
                    break
                stop.wait(self.settings.poll_seconds)
        return self.summary

    def run_batch(self) -> int:
        """Claim, deliver and record one batch; how many deliveries it held."""
        claimed = self._claim()
        if not claimed:
            return 0
        self.summary.batches += 1
        lease_until = self.clock() + timedelta(seconds=self.settings.lease_seconds)
        # Never send after the lease may have passed to another worker.
        send_deadline = lease_until - timedelta(
            seconds=self.settings.connect_timeout + self.settings.read_timeout + 2)
        partners: dict[str, Partner | None] = {}
        outcomes = [self._deliver(item, partners, send_deadline) for item in claimed]
        self._record(outcomes)
        for outcome in outcomes:
            self.summary.add(outcome.kind)
        return len(claimed)

    def _claim(self) -> list[queue.Claimed]:
        now = self.clock()
        with self.state.session_factory() as session, session.begin():
            begin_write(session)
            return queue.claim_due(session, self.name, self.settings.batch_size, now,
                                   now + timedelta(seconds=self.settings.lease_seconds),
                                   self.breaker.open_partners())

    # -- one delivery --------------------------------------------------------------------------

    def _deliver(self, claimed: queue.Claimed, partners: dict[str, Partner | None],
                 send_deadline: datetime) -> Outcome:
        if claimed.partner_id not in partners:
            with self.state.session_factory() as session:
                partners[claimed.partner_id] = PartnerRegistry(session).get(claimed.partner_id)
        partner = partners[claimed.partner_id]
        if partner is None or not partner.enabled:
            return Outcome(claimed, "withheld", partner, reason="the partner is disabled")
        if self.clock() > send_deadline or not self.breaker.allows(partner.id):
            return Outcome(claimed, "released", partner,
                           next_attempt_at=self._breaker_retry_at(partner.id))
        try:
            built = self._build(claimed, partner)
        except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the batch
            log.exception("building delivery %s for %s failed", claimed.seq, partner.id)
            return self._failed(claimed, partner, SendResult(None, f"building the delivery "
                                                                   f"failed: {error}"))
        if built is None:
            return Outcome(claimed, "withheld", partner,
                           reason="the consent decision point permits nothing to send")
        purpose, payload = built
        result = self._send(partner, payload, delivery_id(claimed))
        if result.ok:
            self.breaker.succeeded(partner.id)
            return Outcome(claimed, "sent", partner, purpose, payload, result)
        return self._failed(claimed, partner, result, purpose, payload)

    def _build(self, claimed: queue.Claimed, partner: Partner
               ) -> tuple[str | None, Payload] | None:
        adapter = adapter_for(partner)
        if adapter is None:
            return None
        now = self.clock()
        for purpose in partner.purposes or (None,):
            # Its own accounting of what was decided, for the AuditEvent's consents.
            principal = replace(principal_for(partner, purpose), disclosures=Disclosures())
            with self.state.reading(principal) as repository, \
                    self.state.reading(SYSTEM) as agency:
                records = ConsumerRecords(repository, claimed.patient_id)
                agency_records = ConsumerRecords(agency, claimed.patient_id)
                payload = adapter(DeliveryContext(
                    records, agency_records, partner, self.state.config.fhir_base_url, now,
                    delivery_id(claimed)))
            if payload is not None:
                relied_on = principal.disclosures.consents if principal.disclosures else []
                return principal.purpose, replace(payload, consents=tuple(relied_on))
        return None

    def _send(self, partner: Partner, payload: Payload, name: str) -> SendResult:
        if payload.notifications:
            return self.hooks.notify(partner, payload.notifications)
        if partner.kind == "local":  # intake records: the outbox folder and/or the webhook
            return self._hand_over(partner, payload.files)
        if partner.endpoints.get("fhir_base"):
            return self.fhir.send(partner, payload.bundle, {"X-Delivery-Id": name})
        files = payload.files or {f"{name}.json": json_text.dumps(payload.bundle).encode()}
        return self.folders.send(partner, files)

    def _hand_over(self, partner: Partner, files: dict[str, bytes]) -> SendResult:
        result = SendResult(200)
        if partner.endpoints.get("drop_folder"):
            result = self.folders.send(partner, files)
        webhook = partner.endpoints.get("webhook")
        for name, content in files.items() if result.ok and webhook else ():
            result = post(self.http, self.fhir.auth, partner, webhook, self.fhir.timeout,
                          {"Content-Type": "application/json", "X-Intake-Record": name},
                          content)
            if not result.ok:
                break
        return result

    def _failed(self, claimed: queue.Claimed, partner: Partner, result: SendResult,
                purpose: str | None = None, payload: Payload | None = None) -> Outcome:
        attempts = claimed.attempts + 1
        if result.transient:
            self.breaker.failed(partner.id)
        if self.settings.policy.gives_up(attempts, result):
            return Outcome(claimed, "dead", partner, purpose, payload, result,
                           reason=result.error)
        now = self.clock()
        wait = self.settings.policy.delay(attempts, result, now)
        return Outcome(claimed, "retry", partner, purpose, payload, result, reason=result.error,
                       next_attempt_at=now + timedelta(seconds=wait))

    def _breaker_retry_at(self, partner_id: str) -> datetime:
        retry_at = self.breaker.retry_at(partner_id)
        wait = max(0.0, retry_at - time.monotonic()) if retry_at is not None else 0.0
        return self.clock() + timedelta(seconds=wait)

    # -- recording -----------------------------------------------------------------------------

    def _record(self, outcomes: list[Outcome]) -> None:
        now = self.clock()
        with self.state.writing(SYSTEM) as repository:
            # The batch's AuditEvents are written together (fhir/journal_insert.py).
            repository.journal.defer()
            session = repository.session
            for outcome in outcomes:
                claimed, result = outcome.claimed, outcome.result
                status = result.status if result is not None else None
                if outcome.kind == "sent":
                    if not queue.mark_sent(session, claimed, self.name, now, status):
                        outcome.kind = "sent-superseded"
                    record(repository, self._audit_event(outcome, now))
                elif outcome.kind == "retry":
                    assert outcome.next_attempt_at is not None
                    queue.mark_retry(session, claimed, self.name, outcome.next_attempt_at,
                                     status, outcome.reason)
                elif outcome.kind in ("dead", "withheld"):
                    queue.mark_finished(session, claimed, self.name, outcome.kind, now, status,
                                        outcome.reason, attempted=outcome.kind == "dead")
                    if outcome.kind == "dead" and outcome.payload is not None:
                        record(repository, self._audit_event(outcome, now))
                else:
                    queue.release(session, claimed, self.name, outcome.next_attempt_at or now)

    def _audit_event(self, outcome: Outcome, now: datetime) -> dict[str, Any]:
        assert outcome.partner is not None and outcome.payload is not None
        partner, result = outcome.partner, outcome.result
        target = (partner.endpoints.get("fhir_base") or partner.endpoints.get("drop_folder")
                  or partner.endpoints.get("webhook"))
        if outcome.kind == "dead":
            description = f"delivery to {target} failed for good: {outcome.reason}"
        elif outcome.payload.notifications:
            description = "notified " + ", ".join(
                f"Subscription/{n.subscription_id} at {n.endpoint}"
                for n in outcome.payload.notifications)
        else:
            description = f"delivered to {target}" + (
                f" (HTTP {result.status})" if result is not None and result.status else "")
        return disclosure_event(
            requester_kind="partner", requester_name=partner.id,
            requester_organization=partner.organization, purpose=outcome.purpose,
            interaction="delivery", action="C",
            outcome="error" if outcome.kind == "dead" else "permit",
            patients=[outcome.payload.patient_id], resources=list(outcome.payload.disclosed),
            consents=list(outcome.payload.consents), recorded=now, description=description)


def adapter_for(partner: Partner) -> Callable[[DeliveryContext], Payload | None] | None:
    """The partner kind's adapter; a partner with only a webhook is notified through its
    Subscriptions instead of receiving pushed records."""
    endpoints = partner.endpoints
    if (partner.kind == "physical-health" and endpoints.get("webhook")
            and not endpoints.get("fhir_base") and not endpoints.get("drop_folder")):
        return subscriptions.build
    return ADAPTERS.get(partner.kind)


def delivery_id(claimed: queue.Claimed) -> str:
    """Stable for one delivery's state: a re-send after a crash carries the same id."""
    return f"delivery-{claimed.seq}-{claimed.generation}"

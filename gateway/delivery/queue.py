"""The delivery queue as the worker and the operators see it: claiming due deliveries, recording
what became of them, dead letters and replays, and the figures behind the metrics.

Claims are leases: a worker marks the deliveries it takes with its name and a time until which
they are its own, and commits. On PostgreSQL the candidates are selected ``FOR UPDATE SKIP
LOCKED``, so workers claiming at the same moment take different deliveries; on SQLite the
claim runs in a writing transaction (``BEGIN IMMEDIATE``), so there is a single claimant at a
time. A worker that dies leaves its leases to expire; the deliveries are then claimed again and
sent again (sends are idempotent at the partner, see the adapters). A worker records an outcome
only while the lease is still its own, and marks a delivery sent only if no change folded into
it meanwhile (same ``generation``); otherwise it stays pending and the latest state goes next.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.db.models import DeliveryRow

PENDING, SENT, DEAD, WITHHELD = "pending", "sent", "dead", "withheld"
STATUSES = (PENDING, SENT, DEAD, WITHHELD)
_d = DeliveryRow.__table__


@dataclass(frozen=True)
class Claimed:
    seq: int
    partner_id: str
    patient_id: str
    generation: int
    attempts: int
    cause: str


def claim_due(session: Session, worker: str, limit: int, now: datetime, lease_until: datetime,
              skip_partners: Collection[str] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due pending deliveries to ``worker`` (the caller commits)."""
    candidates = (select(_d.c.seq)
                  .where(_d.c.status == PENDING, _d.c.next_attempt_at <= now,
                         or_(_d.c.lease_until.is_(None), _d.c.lease_until < now))
                  .order_by(_d.c.next_attempt_at, _d.c.seq).limit(limit))
    if skip_partners:
        candidates = candidates.where(_d.c.partner_id.not_in(list(skip_partners)))
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = session.execute(
        update(_d).where(_d.c.seq.in_(candidates.scalar_subquery()))
        .values(lease_owner=worker, lease_until=lease_until)
        .returning(_d.c.seq, _d.c.partner_id, _d.c.patient_id, _d.c.generation,
                   _d.c.attempts, _d.c.cause)).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.seq)


def _mine(claimed: Claimed, worker: str):  # type: ignore[no-untyped-def]
    return and_(_d.c.seq == claimed.seq, _d.c.lease_owner == worker)


def mark_sent(session: Session, claimed: Claimed, worker: str, now: datetime,
              status: int | None) -> bool:
    """Sent. False when a change folded in meanwhile: the delivery stays pending (due now)."""
    done = session.execute(
        update(_d).where(_mine(claimed, worker), _d.c.generation == claimed.generation)
        # lease_owner stays: which worker sent it.
        .values(status=SENT, finished_at=now, lease_until=None,
                last_status=status, last_error=None, attempts=claimed.attempts + 1)).rowcount
    if done:
        return True
    session.execute(update(_d).where(_mine(claimed, worker))
                    .values(lease_owner=None, lease_until=None, next_attempt_at=now,
                            last_status=status, attempts=0))
    return False


def mark_retry(session: Session, claimed: Claimed, worker: str, next_attempt_at: datetime,
               status: int | None, error: str | None) -> None:
    session.execute(update(_d).where(_mine(claimed, worker))
                    .values(lease_owner=None, lease_until=None, next_attempt_at=next_attempt_at,
                            attempts=claimed.attempts + 1, last_status=status,
                            last_error=(error or "")[:2000] or None))


def mark_finished(session: Session, claimed: Claimed, worker: str, status: str, now: datetime,
                  http_status: int | None, error: str | None, *, attempted: bool) -> None:
    """Dead (a dead letter) or withheld (the consent decision said no, or the partner is
    disabled): out of the queue, with the reason."""
    assert status in (DEAD, WITHHELD)
    session.execute(update(_d).where(_mine(claimed, worker))
                    .values(status=status, finished_at=now, lease_owner=None, lease_until=None,
                            attempts=claimed.attempts + (1 if attempted else 0),
                            last_status=http_status, last_error=(error or "")[:2000] or None))


def release(session: Session, claimed: Claimed, worker: str, next_attempt_at: datetime) -> None:
    """Give a lease back unsent, no attempt counted (a partner's circuit is open, or the lease
    is running out)."""
    session.execute(update(_d).where(_mine(claimed, worker))
                    .values(lease_owner=None, lease_until=None, next_attempt_at=next_attempt_at))


# -- dead letters and figures ---------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryView:
    seq: int
    partner_id: str
    patient_id: str
    status: str
    cause: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {"id": self.seq, "partner": self.partner_id, "patient": self.patient_id,
                "status": self.status, "cause": self.cause, "attempts": self.attempts,
                "last_status": self.last_status, "last_error": self.last_error,
                "created_at": self.created_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


def deliveries(session: Session, status: str, partner_id: str | None = None,
               limit: int = 100, newest_first: bool = False) -> list[DeliveryView]:
    query = (select(_d.c.seq, _d.c.partner_id, _d.c.patient_id, _d.c.status, _d.c.cause,
                    _d.c.attempts, _d.c.last_status, _d.c.last_error, _d.c.created_at,
                    _d.c.finished_at)
             .where(_d.c.status == status)
             .order_by(_d.c.seq.desc() if newest_first else _d.c.seq).limit(limit))
    if partner_id:
        query = query.where(_d.c.partner_id == partner_id)
    return [DeliveryView(*row) for row in session.execute(query)]


def replay(session: Session, now: datetime, seqs: Collection[int] | None = None,
           partner_id: str | None = None) -> list[int]:
    """Put dead letters back in the queue (due now, attempts from zero); the ids replayed.
    ``seqs`` None: every dead letter (of ``partner_id`` when given). A dead letter whose
    partner and consumer already have a pending delivery is folded into it instead."""
    query = select(_d.c.seq, _d.c.partner_id, _d.c.patient_id).where(_d.c.status == DEAD)
    if seqs is not None:
        query = query.where(_d.c.seq.in_(list(seqs)))
    if partner_id:
        query = query.where(_d.c.partner_id == partner_id)
    replayed = []
    for seq, partner, patient in session.execute(query.order_by(_d.c.seq)).all():
        pending = session.execute(select(_d.c.seq).where(
            _d.c.partner_id == partner, _d.c.patient_id == patient,
            _d.c.status == PENDING)).scalar()
        if pending is not None:
            session.execute(update(_d).where(_d.c.seq == pending)
                            .values(generation=_d.c.generation + 1, next_attempt_at=now))
            session.execute(update(_d).where(_d.c.seq == seq)
                            .values(status=WITHHELD, last_error=f"replayed as delivery {pending}"))
        else:
            session.execute(update(_d).where(_d.c.seq == seq)
                            .values(status=PENDING, attempts=0, next_attempt_at=now,
                                    finished_at=None, generation=_d.c.generation + 1))
        replayed.append(seq)
    return replayed


@dataclass(frozen=True)
class QueueFigures:
    pending: int
    oldest_pending_seconds: float
    by_status: dict[str, int]


def figures(session: Session, now: datetime) -> dict[str, QueueFigures]:
    """Per partner: pending count, age of the oldest pending delivery, counts by status."""
    counts: dict[str, dict[str, int]] = {}
    for partner, status, number in session.execute(
            select(_d.c.partner_id, _d.c.status, func.count()).group_by(_d.c.partner_id,
                                                                        _d.c.status)):
        counts.setdefault(partner, {})[status] = number
    oldest = dict(session.execute(select(_d.c.partner_id, func.min(_d.c.created_at))
                                  .where(_d.c.status == PENDING).group_by(_d.c.partner_id)).all())
    result = {}
    for partner, by_status in counts.items():
        first = oldest.get(partner)
        age = 0.0
        if first is not None:
            if first.tzinfo is None:
                first = first.replace(tzinfo=now.tzinfo)
            age = max(0.0, (now - first).total_seconds())
        result[partner] = QueueFigures(by_status.get(PENDING, 0), age, by_status)
    return result



def finished_since(session: Session, since: datetime) -> list[tuple[str, datetime]]:
    """(status, finished_at) of every delivery finished (sent, dead, withheld) since
    ``since``, oldest first: what a chart of deliveries per hour counts."""
    query = (select(_d.c.status, _d.c.finished_at)
             .where(_d.c.finished_at.is_not(None), _d.c.finished_at >= since,
                    _d.c.status != PENDING)
             .order_by(_d.c.finished_at))
    return [(status, moment) for status, moment in session.execute(query)]

"""HL7 v2 messages from senders the gateway cannot place yet, held for an operator.

A hospital often starts sending before its registration is complete (its sending facility,
MSH-4, or its MLLP address not yet in the partner registry). Such a message is answered AR as
before (the sender may try again later), and is also kept here, whole, with where it came
from: never lost, even if the hospital does not resend it. The same message again (same
facility, MSH-10 and channel; a sender retrying after the AR) is the same held message.

Once the facility is registered (``gateway partners add ... --hl7-facility F`` or ``partners
update``), ``replay`` sends a held message through the same receive path as a new one
(gateway/workflows/hl7_messages.py), from the same channel: over MLLP as from its peer
address, over HTTP as from the partner whose token sent it. Taken (AA, or AE: its content is
wrong, and that answer is kept as for any message) it is no longer held; still from nobody we
know (AR), it stays held and the answer says so. Replaying twice changes nothing: a message
replayed already is not replayed again, and the inbound message log answers a message taken
before with its stored answer.

    gateway inbound held                         GET  /admin/inbound/held
    gateway inbound replay ID | --facility F     POST /admin/inbound/held/{id}/replay
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.db.models import HeldMessageRow

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)

HELD, REPLAYED = "held", "replayed"
MLLP, HTTP = "mllp:", "http:"


@dataclass(frozen=True)
class Held:
    """A held message as an operator sees it (its content stays in the table)."""

    id: int
    received_at: datetime
    facility: str
    message_type: str
    control_id: str
    channel: str
    reason: str
    status: str
    times_received: int
    replayed_at: datetime | None
    answer: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "received_at": self.received_at.isoformat(),
                "facility": self.facility, "message_type": self.message_type,
                "control_id": self.control_id, "channel": self.channel, "reason": self.reason,
                "status": self.status, "times_received": self.times_received,
                "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
                "answer": self.answer}


@dataclass(frozen=True)
class Replayed:
    """What one replay did: ``outcome`` taken | still-held | replayed-before (nothing done)
    | not-held (no such message), and one line."""

    id: int
    outcome: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "outcome": self.outcome, "text": self.text}


# The receive path a replay takes: (raw, partner id or None, peer or None) -> (ACK code, text).
Receive = Callable[[bytes, str | None, str | None], tuple[str, str]]


def hold(state: GatewayState, raw: bytes, *, facility: str, message_type: str,
         control_id: str, channel: str, reason: str) -> int | None:
    """Keep a message nobody registered sends (or count it again); its id, None if it could
    not be stored (logged: the sender still gets its AR and may resend)."""
    now = datetime.now(UTC)
    key = (facility[:200], control_id[:200], channel[:200])
    for _ in range(2):  # a twin stored concurrently: the second try finds it
        try:
            with state.session_factory() as session, session.begin():
                row = session.scalars(select(HeldMessageRow).where(
                    HeldMessageRow.facility == key[0], HeldMessageRow.control_id == key[1],
                    HeldMessageRow.channel == key[2])).one_or_none()
                if row is None:
                    row = HeldMessageRow(
                        received_at=now, last_received_at=now, times_received=1,
                        facility=key[0], message_type=message_type[:32], control_id=key[1],
                        channel=key[2], reason=reason, content=raw, status=HELD)
                    session.add(row)
                else:
                    row.times_received += 1
                    row.last_received_at = now
                    row.reason = reason
                    if row.status != HELD:  # replayed before, yet sent as unknown again
                        row.status, row.content = HELD, raw
                session.flush()
                return row.id
        except IntegrityError:
            continue
        except Exception:  # noqa: BLE001 - the AR is answered whether or not it is kept
            log.exception("holding a message from %s (%s) failed", facility, channel)
            return None
    return None


def held(state: GatewayState, *, status: str | None = HELD, facility: str | None = None
         ) -> list[Held]:
    """Held messages (``status`` None: also those replayed), oldest first."""
    query = select(HeldMessageRow).order_by(HeldMessageRow.id)
    if status:
        query = query.where(HeldMessageRow.status == status)
    if facility:
        query = query.where(HeldMessageRow.facility == facility)
    with state.session_factory() as session:
        return [_held(row) for row in session.scalars(query)]


def replay(state: GatewayState, ids: list[int], receive: Receive, *, by: str
           ) -> list[Replayed]:
    """Send the held messages ``ids`` through ``receive`` again, in the order received."""
    results = []
    for held_id in sorted(ids):
        with state.session_factory() as session:
            row = session.get(HeldMessageRow, held_id)
            found = None if row is None else (row.status, row.content, row.channel,
                                              row.facility)
        if found is None:
            results.append(Replayed(held_id, "not-held", f"no held message {held_id}"))
            continue
        status, raw, channel, facility = found
        if status != HELD:
            results.append(Replayed(held_id, "replayed-before", f"held message {held_id} was "
                                                                f"replayed already"))
            continue
        partner_id = channel[len(HTTP):] if channel.startswith(HTTP) else None
        peer = channel[len(MLLP):] if channel.startswith(MLLP) else None
        code, text = receive(raw, partner_id, peer)
        if code == "AR":
            _note(state, held_id, f"AR {text}", replayed=False, by=by)
            results.append(Replayed(held_id, "still-held", f"held message {held_id}: "
                                                           f"{facility!r} is still not "
                                                           f"registered ({text})"))
            continue
        _note(state, held_id, f"{code} {text}".strip(), replayed=True, by=by)
        results.append(Replayed(held_id, "taken", f"held message {held_id} replayed: {code}"
                                                  + (f" {text}" if text else "")))
    return results


def ids_of_facility(state: GatewayState, facility: str) -> list[int]:
    return [h.id for h in held(state, facility=facility)]


def _note(state: GatewayState, held_id: int, answer: str, *, replayed: bool, by: str) -> None:
    with state.session_factory() as session, session.begin():
        row = session.get(HeldMessageRow, held_id)
        if row is None:
            return
        row.answer = answer[:1000]
        if replayed:
            row.status, row.replayed_at, row.replayed_by = REPLAYED, datetime.now(UTC), by[:64]


def _held(row: HeldMessageRow) -> Held:
    return Held(row.id, _aware(row.received_at), row.facility, row.message_type,
                row.control_id, row.channel, row.reason, row.status, row.times_received,
                _aware(row.replayed_at) if row.replayed_at else None, row.answer)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

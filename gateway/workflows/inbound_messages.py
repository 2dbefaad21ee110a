"""Hospital messages in: taken in once each, audited, answered the same way every time.

Both wire formats end here: ``$process-message`` (gateway/workflows/process_message.py)
and HL7 v2 over HTTP or MLLP (gateway/adapters/hl7_inbound.py) turn what arrived into an
AdtEvent and call ``receive``, passing ``render``, which writes their answer (a response message
or an ACK) for a result.

In one transaction: the message is recorded in ``inbound_message`` (unique per sending partner
and message id), the referral workflow acts on it (gateway/workflows/referrals.py), and the
AuditEvent of the receipt (DICOM 110107 Import) is written. So what was accepted is stored
with everything it became, or not at all. The answer is stored with it: the same message
again (a retry after a lost ACK, or a second sender thread) gets the stored answer and changes
nothing. Cancels and merges (gateway/workflows/adt_lifecycle.py) take the same path. A
message whose content is wrong is recorded with its fatal answer (resending it
unchanged gets the same answer); a failure on our side (the database, a bug) is answered as
transient and stores nothing, so the sender's retry is processed afresh.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.adapters.adt_event import AdtEvent
from gateway.adapters.intake import ensure_registered
from gateway.audit.events import disclosure_event
from gateway.audit.log import record
from gateway.auth import SYSTEM
from gateway.db.models import InboundMessageRow
from gateway.delivery.outbox import outbox_of
from gateway.fhir.errors import FhirError
from gateway.local.store import LocalRecordStore
from gateway.local.translate import translator_for
from gateway.partners.registry import Partner
from gateway.workflows.adt_lifecycle import take
from gateway.workflows.referrals import Taken

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)

OK, TRANSIENT, FATAL = "ok", "transient-error", "fatal-error"


@dataclass(frozen=True)
class Result:
    """How a message was taken: ``code`` (FHIR response code), a line saying why, what it
    became (None unless ok), and the answer text ``render`` made for it."""

    code: str
    text: str
    taken: Taken | None = None
    answer: str = ""
    duplicate: bool = False
    issues: tuple[dict, ...] = ()  # OperationOutcome issues, when not ok


Render = Callable[[Result], str]


def receive(state: GatewayState, partner: Partner, event: AdtEvent, content: str,
            render: Render, *, label: str) -> Result:
    """Take ``event`` (from ``partner``; ``content`` is the message as received, kept;
    ``label`` names it in the audit trail, e.g. ``ADT^A03``) in once; the Result, with the
    answer ``render`` made (or the stored one, for a message seen before)."""
    now = datetime.now(UTC)
    try:
        with state.writing(SYSTEM, defer_index=True) as repository:
            # What it writes is held and written once, before the commit: one pending
            # delivery per partner, the index rows (search/index.py) and the versions (the
            # audit chain's step is written last in any case: chain.py).
            outbox_of(repository).defer()
            repository.defer_versions()
            row = InboundMessageRow(partner_id=partner.id, message_id=event.message_id,
                                    source=event.source, kind=event.kind, received_at=now,
                                    outcome="taking", content=content, response="")
            repository.session.add(row)
            # A message seen before fails here (or a concurrent twin at the commit): the
            # stored answer is given below.
            repository.session.flush()
            ensure_registered(repository.session, state.config)  # the intake goes with it
            ctx = translator_for(state.config).context(LocalRecordStore(repository.session))
            taken = take(repository, partner, event, ctx, now)
            result = Result(OK, taken.detail, taken)
            result = _with_answer(result, render)
            row.outcome, row.patient_id, row.task_id = (taken.outcome, taken.patient_id,
                                                        taken.task_id)
            row.response = _stored(result)
            record(repository, _audit(partner, event, result, now, label))
            repository.session.flush()
        return result
    except IntegrityError:
        seen = stored_answer(state, partner.id, event.message_id)
        if seen is not None:  # seen before (or a twin sent at the same time was taken first)
            note_repeat(state, partner, event.message_id, label, seen)
            return seen
        log.exception("message %s from %s: a database constraint failed", event.message_id,
                      partner.id)
        return _with_answer(Result(TRANSIENT, "the message could not be stored; send it again"),
                            render)
    except FhirError as error:
        if error.status >= 500:
            log.exception("message %s from %s failed", event.message_id, partner.id)
            return _with_answer(Result(TRANSIENT, "the message could not be processed now; "
                                                  "send it again"), render)
        # What the message carried is not valid as FHIR: the sender must change it.
        result = _with_answer(Result(FATAL, "; ".join(
            str(i.get("diagnostics", "")) for i in error.issues)[:1000],
            issues=tuple(error.issues)), render)
        _record_refusal(state, partner, event, content, result, label)
        return result
    except Exception:  # noqa: BLE001 - answered as transient: the sender retries, nothing lost
        log.exception("message %s from %s failed", event.message_id, partner.id)
        return _with_answer(Result(TRANSIENT, "the message could not be processed now; send "
                                              "it again"), render)


def refuse(state: GatewayState, partner: Partner | None, *, message_id: str | None,
           source: str, content: str, result: Result, label: str, kind: str = "unknown",
           sender: str | None = None) -> None:
    """Record a message refused before it became an event (unreadable, wrong content): its
    AuditEvent always (naming the partner, or else ``sender`` as the message or connection
    names it); the message itself when it has an id and a known sender, so that the same
    message again gets the same answer."""
    now = datetime.now(UTC)
    try:
        with state.writing(SYSTEM) as repository:
            if partner is not None and message_id:
                repository.session.add(InboundMessageRow(
                    partner_id=partner.id, message_id=message_id[:200], source=source,
                    kind=kind, received_at=now, outcome="refused", content=content,
                    response=_stored(result)))
                repository.session.flush()
            record(repository, disclosure_event(
                requester_kind="partner" if partner else "sender",
                requester_name=partner.id if partner else (sender or "unknown sender"),
                requester_organization=partner.organization if partner else None,
                purpose="TREAT", interaction="inbound", action="C", outcome="deny",
                patients=[], resources=[], recorded=now,
                description=f"{label} {message_id or '(no id)'} refused ({result.code}): "
                            f"{result.text}"[:1000]))
    except IntegrityError:
        pass  # the same refused message again: already on record
    except Exception:  # noqa: BLE001 - the refusal is answered whether or not it is recorded
        log.exception("recording a refused message failed")


def _record_refusal(state: GatewayState, partner: Partner, event: AdtEvent, content: str,
                    result: Result, label: str) -> None:
    refuse(state, partner, message_id=event.message_id, source=event.source, content=content,
           result=result, label=label, kind=event.kind)


def note_repeat(state: GatewayState, partner: Partner, message_id: str, label: str,
                seen: Result) -> None:
    """Audit a message received again (answered with its stored answer, nothing changed)."""
    taken = seen.taken
    try:
        with state.writing(SYSTEM) as repository:
            record(repository, disclosure_event(
                requester_kind="partner", requester_name=partner.id,
                requester_organization=partner.organization, purpose="TREAT",
                interaction="inbound", action="C",
                outcome="permit" if seen.code == OK else "deny",
                patients=[taken.patient_id] if taken and taken.patient_id else [],
                resources=[], recorded=datetime.now(UTC),
                description=f"{label} {message_id} received again: answered as the first "
                            f"time ({seen.code}), nothing changed"[:1000]))
    except Exception:  # noqa: BLE001 - the repeat is answered whether or not it is recorded
        log.exception("recording a repeated message failed")


def stored_answer(state: GatewayState, partner_id: str, message_id: str) -> Result | None:
    with state.session_factory() as session:
        response = session.scalar(select(InboundMessageRow.response).where(
            InboundMessageRow.partner_id == partner_id,
            InboundMessageRow.message_id == message_id[:200]))
    if not response:
        return None
    data = json.loads(response)
    taken = (Taken(**{**data["taken"], "written": tuple(data["taken"]["written"])})
             if data.get("taken") else None)
    return Result(data["code"], data["text"], taken, data["answer"], duplicate=True,
                  issues=tuple(data.get("issues") or ()))


def _with_answer(result: Result, render: Render) -> Result:
    return Result(result.code, result.text, result.taken, render(result), result.duplicate,
                  result.issues)


def _stored(result: Result) -> str:
    taken = result.taken
    return json.dumps({
        "code": result.code, "text": result.text, "answer": result.answer,
        "issues": list(result.issues),
        "taken": None if taken is None else {
            "outcome": taken.outcome, "detail": taken.detail, "patient_id": taken.patient_id,
            "task_id": taken.task_id, "review_id": taken.review_id,
            "written": list(taken.written)}}, ensure_ascii=False)


def _audit(partner: Partner, event: AdtEvent, result: Result, now: datetime, label: str
           ) -> dict:
    taken = result.taken
    return disclosure_event(
        requester_kind="partner", requester_name=partner.id,
        requester_organization=partner.organization, purpose="TREAT", interaction="inbound",
        action="C", outcome="permit",
        patients=[taken.patient_id] if taken and taken.patient_id else [],
        resources=list(taken.written) if taken else [], recorded=now,
        description=f"{label} {event.message_id} from {event.sender_name or partner.name}: "
                    f"{result.text}"[:1000])

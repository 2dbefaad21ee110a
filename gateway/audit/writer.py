"""Group commit for AuditEvents: the requests waiting to record take turns writing everyone's
events, each turn in one transaction.

Every request writes an AuditEvent before its answer leaves. Written one transaction each,
concurrent requests queue behind one another for the database's write lock (SQLite) or the
audit chain's lock and a commit flush each (PostgreSQL). Instead, a request that finds nobody
writing becomes the *leader*: it takes every event waiting (its own first, up to
``MAX_BATCH``), stores them in one transaction, and hands each waiting request its result. If
more arrived meanwhile, it hands the lead to the oldest of them and goes on with its own
answer, so no request writes for others for long. The others (*followers*) just wait. Each
request still waits until its own event is committed, so nothing is disclosed unrecorded. If a
batch fails, its events are retried one by one so that one bad event fails only its own
request.

There is no writer thread: with one, every event crossed threads twice (handed to the writer,
the result handed back), and on 2 vCPUs those wake-ups and GIL hand-overs cost more than the
writing. A leader writes its own event without crossing threads. Nothing survives a fork
because nothing runs between requests.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from gateway.audit.log import record
from gateway.auth import SYSTEM, Principal
from gateway.fhir.repository import Repository

# How the writer opens a transaction: the app's GatewayState.writing.
Writing = Callable[[Principal], AbstractContextManager[Repository]]

MAX_BATCH = 64


class _Ticket:
    """One request's event, and what became of it: its id, an error, or the lead."""

    __slots__ = ("event", "result", "error", "finished", "lead", "wake")

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.result: str | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lead = False  # handed the lead while waiting
        self.wake = threading.Event()

    def finish(self, result: str | None, error: BaseException | None) -> None:
        self.result, self.error, self.finished = result, error, True
        self.wake.set()


class AuditWriter:
    def __init__(self, writing: Writing, timeout: float = 30.0) -> None:
        self.writing = writing
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pending: list[_Ticket] = []
        self._leading = False
        self._idle = threading.Condition(self._lock)

    def write(self, event: dict[str, Any]) -> str:
        """Store ``event`` (with the others waiting) and return its id once committed."""
        ticket = _Ticket(event)
        with self._lock:
            self._pending.append(ticket)
            leads = not self._leading
            self._leading = True
        if leads:
            self._lead(ticket)
        while not ticket.finished:
            if not ticket.wake.wait(self.timeout):
                self._give_up(ticket)
            elif ticket.lead:
                ticket.lead = False
                ticket.wake.clear()
                self._lead(ticket)
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def close(self) -> None:
        """Wait until the events being written now are committed (for shutdown)."""
        with self._idle:
            self._idle.wait_for(lambda: not self._leading, self.timeout)

    def _lead(self, mine: _Ticket) -> None:
        """Write batches until ``mine`` is written; then hand the lead on, or end it."""
        while True:
            with self._lock:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            if batch:
                self._write(batch)
            with self._lock:
                if not self._pending:
                    self._leading = False
                    self._idle.notify_all()
                    return
                if mine.finished:
                    successor = self._pending[0]
                    successor.lead = True
                    successor.wake.set()
                    return

    def _give_up(self, ticket: _Ticket) -> None:
        """After waiting ``timeout``: leave the queue if the event was never taken into a
        batch (the request answers 500). Handed the lead meanwhile, or being written now, it
        keeps waiting: a leader must not leave, or nobody would write for the others."""
        with self._lock:
            if ticket.lead or ticket not in self._pending:
                return
            self._pending.remove(ticket)
        raise TimeoutError("the AuditEvent was not written in time")

    def _write(self, batch: list[_Ticket]) -> None:
        try:
            with self.writing(SYSTEM) as repository:
                # The batch's journal entries are written together (fhir/journal_insert.py).
                repository.journal.defer()
                ids = [record(repository, ticket.event) for ticket in batch]
        except Exception:  # noqa: BLE001 - retried one by one below
            for ticket in batch:
                try:
                    with self.writing(SYSTEM) as repository:
                        audit_event_id = record(repository, ticket.event)
                except Exception as error:  # noqa: BLE001 - the request answers 500
                    ticket.finish(None, error)
                else:  # committed: only now may the request go on as audited
                    ticket.finish(audit_event_id, None)
            return
        for ticket, audit_event_id in zip(batch, ids, strict=True):
            ticket.finish(audit_event_id, None)

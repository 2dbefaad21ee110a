"""Group commit for AuditEvents: request threads hand their event to one writer thread per
process, which stores whatever has queued up in one transaction.

Every request writes an AuditEvent before its answer leaves. Written one transaction each,
concurrent requests queue behind one another for the database's write lock (SQLite) or the
audit chain's lock and a commit flush each (PostgreSQL). The writer takes every event waiting
and commits them together; each request still waits until its own event is committed, so
nothing is disclosed unrecorded. If a batch fails, its events are retried one by one so that
one bad event fails only its own request.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

from gateway.audit.log import record_own
from gateway.auth import SYSTEM, Principal
from gateway.fhir.repository import Repository

# How the writer opens a transaction: the app's GatewayState.writing.
Writing = Callable[[Principal], AbstractContextManager[Repository]]

MAX_BATCH = 64
_STOP = object()


class AuditWriter:
    def __init__(self, writing: Writing, timeout: float = 30.0) -> None:
        self.writing = writing
        self.timeout = timeout
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._owner_pid: int | None = None
        self._start_lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> str:
        """Store ``event`` (with the others waiting) and return its id once committed."""
        future: Future[str] = Future()
        self._ensure_running()
        self._queue.put((event, future))
        return future.result(self.timeout)

    def close(self) -> None:
        """Stop the writer thread once the events queued before this call are written."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(_STOP)
                self._thread.join(self.timeout)
            self._thread = None

    def _ensure_running(self) -> None:
        # Threads do not survive a fork: a gunicorn worker starts its own writer on first use.
        if self._thread is not None and self._owner_pid == os.getpid():
            return
        with self._start_lock:
            if self._thread is None or self._owner_pid != os.getpid():
                self._queue = queue.Queue()
                self._owner_pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[dict[str, Any], Future[str]]]) -> None:
        try:
            with self.writing(SYSTEM) as repository:
                # The batch's journal entries in one statement (and one per index table).
                repository.journal.defer()
                ids = [record_own(repository, event) for event, _ in batch]
        except Exception:  # noqa: BLE001 - retried one by one below
            for event, future in batch:
                try:
                    with self.writing(SYSTEM) as repository:
                        audit_event_id = record_own(repository, event)
                except Exception as error:  # noqa: BLE001 - the request answers 500
                    future.set_exception(error)
                else:  # committed: only now may the request go on as audited
                    future.set_result(audit_event_id)
            return
        for (_, future), audit_event_id in zip(batch, ids, strict=True):
            future.set_result(audit_event_id)

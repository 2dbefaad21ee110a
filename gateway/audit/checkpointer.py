"""Writing checkpoints: once on demand, or every N seconds in a loop of its own.

The loop is one process (``gateway audit checkpoint --every N``, which ``gateway serve`` starts
beside gunicorn when GATEWAY_AUDIT_CHECKPOINT_INTERVAL is set), not a thread in each gunicorn
worker: however many workers there are, and whenever they are restarted, one writer signs the
head, and it only reads the database. A target that is down is reported and tried again next
round; requests and their AuditEvents never wait for it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from gateway.audit.checkpoint import CheckpointError, make_checkpoint
from gateway.audit.targets import Target, write

Sessions = Callable[[], AbstractContextManager[Session]]


@dataclass
class Round:
    """One checkpoint and what became of it at each target."""

    record: dict[str, Any]
    written: list[Target] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line per target that failed
    unchanged: list[Target] = field(default_factory=list)  # skipped: head already written


def checkpoint_once(sessions: Sessions, key: Ed25519PrivateKey, targets: list[Target],
                    *, last_written: dict[Target, tuple[int, str]] | None = None) -> Round:
    """Sign the chain's head and write it to every target (a target whose last checkpoint in
    ``last_written`` has the same head is skipped)."""
    with sessions() as session:
        record = make_checkpoint(session, key)
    head = (record["count"], record["head"])
    result = Round(record)
    for target in targets:
        if last_written is not None and last_written.get(target) == head:
            result.unchanged.append(target)
            continue
        try:
            write(target, record)
        except CheckpointError as error:
            result.failed.append(str(error))
        else:
            result.written.append(target)
            if last_written is not None:
                last_written[target] = head
    return result


def checkpoint_every(seconds: float, sessions: Sessions, key: Ed25519PrivateKey,
                     targets: list[Target], report: Callable[[Round | str], None],
                     stop: threading.Event) -> None:
    """Write a checkpoint every ``seconds`` until ``stop`` is set; only when the head moved
    since the last one a target got. Every failure (database, target) is reported and the
    loop goes on."""
    last_written: dict[Target, tuple[int, str]] = {}
    while not stop.is_set():
        try:
            report(checkpoint_once(sessions, key, targets, last_written=last_written))
        except Exception as error:  # noqa: BLE001 - the database down and the like: next round
            report(f"cannot read the audit chain's head: "
                   f"{(str(error).strip().splitlines() or [type(error).__name__])[0]}")
        stop.wait(seconds)

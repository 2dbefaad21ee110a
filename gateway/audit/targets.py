"""Where audit checkpoints are written: places the database's writers cannot reach.

A target is named by one string (GATEWAY_AUDIT_CHECKPOINT_TARGET, comma-separated for several):

- a file path (or ``file:///path``): one JSON line appended per checkpoint and synced to disk;
  ``gateway audit verify`` reads the newest line from it. A write-once or remote-mounted file,
  or one another host collects, keeps it out of reach.
- ``syslog://host[:port]`` (UDP, port 514 by default), ``syslog+tcp://host[:port]``, or
  ``syslog:///dev/log`` (a local socket): one message per checkpoint through Python's
  ``logging.handlers.SysLogHandler``, facility ``auth``, tag ``gateway-audit-checkpoint:``,
  the JSON line as its text. Over UDP a lost datagram goes unnoticed: pair it with another
  target where that matters.
- ``http://...`` or ``https://...``: the record POSTed as JSON; any 2xx is success.

Writing a checkpoint only reads the database; a target that is down fails the checkpoint
command (one line, exit 1) and never a request or an AuditEvent.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
from dataclasses import dataclass
from logging.handlers import SysLogHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from gateway.audit.checkpoint import CheckpointError

SYSLOG_TAG = "gateway-audit-checkpoint: "
SYSLOG_PORT = 514
HTTP_TIMEOUT_SECONDS = 10.0
# requests nests the socket's error in its message: "... [Errno 111] Connection refused'))".
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


@dataclass(frozen=True)
class Target:
    kind: str  # "file", "syslog" or "http"
    where: str  # the path, the syslog address as written, or the URL

    def __str__(self) -> str:
        return self.where


def parse_target(spelling: str) -> Target:
    """A target from its spelling; CheckpointError when it names none."""
    spelling = spelling.strip()
    if not spelling:
        raise CheckpointError("an empty checkpoint target")
    parts = urlsplit(spelling)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise CheckpointError(f"checkpoint target {spelling}: no host in the URL")
        return Target("http", spelling)
    if parts.scheme in ("syslog", "syslog+tcp", "syslog+udp"):
        _syslog_address(spelling)  # refuse a bad one now, not at the first write
        return Target("syslog", spelling)
    if parts.scheme == "file":
        return Target("file", parts.path)
    if parts.scheme and len(parts.scheme) > 1:  # a drive letter is not a scheme
        raise CheckpointError(f"checkpoint target {spelling}: unknown scheme {parts.scheme!r} "
                              f"(a file path, syslog://, syslog+tcp://, http:// or https://)")
    return Target("file", spelling)


def parse_targets(spellings: tuple[str, ...]) -> list[Target]:
    return [parse_target(spelling) for spelling in spellings]


def write(target: Target, record: dict[str, Any]) -> None:
    """Write one checkpoint record to ``target``; CheckpointError (one line) on failure."""
    line = json.dumps(record, sort_keys=True, separators=(",", ":"))
    try:
        if target.kind == "file":
            _append_line(Path(target.where), line)
        elif target.kind == "syslog":
            _send_syslog(target.where, line)
        else:
            _post(target.where, record)
    except CheckpointError:
        raise
    except (OSError, requests.RequestException) as error:
        raise CheckpointError(f"cannot write the checkpoint to {target}: "
                              f"{_reason(error)}") from None


def _reason(error: BaseException) -> str:
    if isinstance(error, requests.Timeout):
        return f"no answer within {HTTP_TIMEOUT_SECONDS:g} s"
    if isinstance(error, requests.ConnectionError):
        found = _ERRNO_TEXT.search(str(error))
        return f"cannot connect ({found.group(1) if found else 'connection failed'})"
    if isinstance(error, OSError) and error.strerror and not isinstance(
            error, requests.RequestException):
        return error.strerror
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def first_file(targets: list[Target]) -> Path | None:
    """The file verify reads checkpoints from, when a target is one."""
    return next((Path(t.where) for t in targets if t.kind == "file"), None)


def _append_line(path: Path, line: str) -> None:
    # O_APPEND: concurrent writers (a loop and an on-demand run) never interleave within a
    # line; fsync: a checkpoint that was reported written survives a crash.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _syslog_address(spelling: str) -> tuple[str | tuple[str, int], socket.SocketKind]:
    parts = urlsplit(spelling)
    kind = socket.SOCK_STREAM if parts.scheme == "syslog+tcp" else socket.SOCK_DGRAM
    if not parts.hostname:
        if not parts.path:
            raise CheckpointError(f"checkpoint target {spelling}: no host or socket path")
        return parts.path, kind
    try:
        port = parts.port or SYSLOG_PORT
    except ValueError:
        raise CheckpointError(f"checkpoint target {spelling}: a bad port") from None
    return (parts.hostname, port), kind


class _RaisingSysLogHandler(SysLogHandler):
    # The standard handler prints a traceback on stderr and carries on when a send fails; a
    # checkpoint must know it was not written.
    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        raise  # noqa: PLE0704 - called by emit() inside its except block


def _send_syslog(spelling: str, line: str) -> None:
    address, kind = _syslog_address(spelling)
    handler = _RaisingSysLogHandler(address=address, facility=SysLogHandler.LOG_AUTH,
                                    socktype=kind)
    try:
        handler.ident = SYSLOG_TAG
        handler.emit(logging.LogRecord("gateway.audit.checkpoint", logging.INFO, __file__, 0,
                                       line, None, None))
    finally:
        handler.close()


def _post(url: str, record: dict[str, Any]) -> None:
    response = requests.post(url, json=record, timeout=HTTP_TIMEOUT_SECONDS,
                             allow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise CheckpointError(f"cannot write the checkpoint to {url}: HTTP "
                              f"{response.status_code}")

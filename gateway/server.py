"""Running the app under gunicorn, from the same Config every entry point uses."""
from __future__ import annotations

import json
import sys
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from gateway.app import create_app
from gateway.config import Config
from gateway.fhir.errors import issue, outcome


class GatewayServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with our app factory: each worker builds its own app (and database pool)."""

    def __init__(self, config: Config, options: dict[str, Any]) -> None:
        self.gateway_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.gateway_config)


# What gunicorn's own answers (before the request reaches the app) become: the issue code.
GUNICORN_ISSUE_CODES = {400: "invalid", 403: "forbidden", 414: "too-long", 417: "not-supported",
                        431: "too-long", 501: "not-supported", 500: "exception"}


class _Captured:
    """A stand-in socket that keeps what gunicorn would have written to the client."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, _flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data


class FhirThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, answering the requests gunicorn refuses itself (a bad
    request line: 400; a request line over ``limit_request_line``: 414; too many or too large
    header fields: 431; ...) with an OperationOutcome in FHIR JSON instead of its HTML page.

    gunicorn decides the status, logs and writes the access log entry as always
    (``Worker.handle_error``); only the bytes sent are ours. The connection is closed after
    the answer, as gunicorn does."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        captured = _Captured()
        super().handle_error(req, captured, addr, exc)
        status_line = captured.data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500
        reason = parts[2] if len(parts) > 2 else "Internal Server Error"
        diagnostics = reason if status >= 500 else f"{reason}: {str(exc)[:300]}"
        body = json.dumps(outcome([issue("error", GUNICORN_ISSUE_CODES.get(status, "invalid"),
                                         diagnostics)]), ensure_ascii=True).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                f"Content-Type: application/fhir+json; fhirVersion=4.0; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            util.write_nonblock(client, head + body)
        except Exception:  # noqa: BLE001 - the client is gone: as gunicorn does, say no more
            self.log.debug("Failed to send error message.")


def _child_exit(_server: Any, worker: Any) -> None:
    # Drop a dead worker's live gauges from the shared Prometheus files.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# How long a thread may hold the GIL while another waits (CPython's default is 5 ms). Requests
# wait on one another for their AuditEvents' group commit (audit/writer.py); with 4 request
# threads busy, a woken request waited up to 5 ms for the GIL, and requests queued behind it
# (measured with the earlier writer thread: +45% p50 for a slightly costlier request kind under
# load on SQLite, +4% with 1 ms).
GIL_SWITCH_INTERVAL_SECONDS = 0.001


def serve(config: Config, host: str, port: int, workers: int, *, quiet: bool = False) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)  # inherited by the forked workers
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": FhirThreadWorker,  # gthread, with FHIR error answers
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None if quiet else "-",
        "errorlog": "-",
        "loglevel": "warning" if quiet else "info",
        "proc_name": "fhir-care-gateway",
    }
    if config.prometheus_multiproc_dir:
        options["child_exit"] = _child_exit
    GatewayServer(config, options).run()

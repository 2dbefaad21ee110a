"""Running the app under gunicorn, from the same Config every entry point uses."""
from __future__ import annotations

import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from gateway.app import create_app
from gateway.config import Config


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


def _child_exit(_server: Any, worker: Any) -> None:
    # Drop a dead worker's live gauges from the shared Prometheus files.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# How long a thread may hold the GIL while another waits (CPython's default is 5 ms). Each
# request hands its AuditEvent to the worker's audit-writer thread and waits for the commit;
# with 4 request threads busy, that writer waited up to 5 ms per hand-over for the GIL, and
# requests queued behind it (measured: +45% p50 for a slightly costlier request kind under
# load on SQLite, +4% with 1 ms).
GIL_SWITCH_INTERVAL_SECONDS = 0.001


def serve(config: Config, host: str, port: int, workers: int, *, quiet: bool = False) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)  # inherited by the forked workers
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
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

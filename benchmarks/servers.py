"""Server subprocesses on loopback: ``gateway serve`` and the floor apps, always stopped.

Each server runs in its own session (process group), so it ignores the terminal's Ctrl-C and
is stopped here instead: SIGTERM to the gunicorn master (a graceful stop), then SIGKILL to the
group it leads if anything is left.
"""
from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    """A running server: its port and, for the gateway, the operator key it accepts."""

    name: str
    port: int
    pid: int
    token: str = ""
    log: Path | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def gateway_command() -> list[str]:
    script = Path(sys.executable).parent / "gateway"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


@contextmanager
def gateway_server(database_url: str, base_url: str, workdir: Path, workers: int = 2
                   ) -> Iterator[Server]:
    """``gateway serve --workers N`` on a free loopback port, ready (``/readyz``) on entry;
    ``base_url`` is its public base URL (GATEWAY_BASE_URL)."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = _clean_env(workdir)
    env.update(GATEWAY_DATABASE_URL=database_url, GATEWAY_OPERATOR_KEYS=token,
               GATEWAY_BASE_URL=base_url)
    command = [*gateway_command(), "serve", "--host", HOST, "--port", str(port),
               "--workers", str(workers)]
    with _process("gateway", command, env, workdir, port) as (pid, log):
        yield Server("gateway", port, pid, token, log)


@contextmanager
def floor_server(bodies_file: Path, workdir: Path, workers: int = 2) -> Iterator[Server]:
    """The floor app (``benchmarks.floor``) under the gateway's own gunicorn settings."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.floor", "--port", str(port),
               "--workers", str(workers), "--bodies", str(bodies_file)]
    with _process("floor", command, _clean_env(workdir), workdir, port) as (pid, log):
        yield Server("floor", port, pid, log=log)


@contextmanager
def storage_floor_server(database_url: str, workdir: Path, workers: int = 2
                         ) -> Iterator[Server]:
    """The storage floor app (``benchmarks.storage_floor``) under the gateway's own gunicorn
    settings, writing to ``database_url`` (a table of its own, made on start)."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.storage_floor", "--port", str(port),
               "--workers", str(workers)]
    env = _clean_env(workdir)
    env["STORAGE_FLOOR_DATABASE_URL"] = database_url  # not on the command line (a password)
    with _process("storage-floor", command, env, workdir, port) as (pid, log):
        yield Server("storage floor", port, pid, log=log)


def _clean_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEWAY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    # `gateway serve` makes its metrics directory with mkdtemp: keep it inside our workdir.
    env["TMPDIR"] = str(workdir)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


@contextmanager
def _process(name: str, command: Sequence[str], env: dict[str, str], workdir: Path,
             port: int) -> Iterator[tuple[int, Path]]:
    log_path = workdir / f"{name}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        wait_ready(process, port, log_path)
        yield process.pid, log_path
    finally:
        stop(process)


def wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path,
               timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"exited with status {process.returncode}: {_tail(log_path)}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise ServerFailed(f"not ready after {timeout:.0f}s: {_tail(log_path)}")


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the master, wait, then SIGKILL whatever is left of its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group this server leads (its workers)
    if process.poll() is None:
        process.wait(timeout=10)


class ServerFailed(RuntimeError):
    """A server did not start."""


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

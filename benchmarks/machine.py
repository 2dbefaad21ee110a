"""A description of the machine the figures come from."""
from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.databases import versions


@dataclass(frozen=True)
class Machine:
    date: str
    cores: str
    cpu: str
    memory: str
    python: str
    sqlite: str
    postgres: str
    packages: str
    commit: str
    load_before: str

    def rows(self) -> list[tuple[str, str]]:
        return [("date", self.date), ("nproc", self.cores), ("CPU", self.cpu),
                ("memory", self.memory), ("Python", self.python),
                ("SQLite (library)", self.sqlite), ("PostgreSQL (server)", self.postgres),
                ("packages", self.packages), ("code", self.commit),
                ("load average before the run (1/5/15 min)", self.load_before)]


def describe(project_root: Path) -> Machine:
    sqlite, postgres = versions()
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cores=_run(["nproc"]) or str(os.cpu_count()),
        cpu=_cpu_model(),
        memory=_memory(),
        python=f"{platform.python_version()} ({platform.python_implementation()})",
        sqlite=sqlite,
        postgres=postgres,
        packages=_packages(),
        commit=_run(["git", "-C", str(project_root), "describe", "--always", "--dirty"])
        or "unknown",
        load_before=load_average(),
    )


def load_average() -> str:
    """1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _packages() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found: list[Any] = []
    for name in ("Flask", "gunicorn", "SQLAlchemy", "psycopg", "fhir.resources", "pydantic"):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)

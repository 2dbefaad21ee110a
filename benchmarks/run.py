"""``make bench``: measure the gateway on SQLite and PostgreSQL and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py [--quick] [--databases sqlite,postgresql] [--output F]

The full run takes about half an hour on two cores (a quarter of an hour of HTTP
measurements: each request kind beside its floor, the storage floor for creates, six
alternating slices a side for the consent check; the rest `gateway import` of a
10,000-consumer agency, twice per database); --quick (a smoke run) about two and a half
minutes per database, and writes var/bench-quick.md instead. The hospital messages section
(benchmarks/inbound_messages.py, PostgreSQL only) runs last and adds about ten minutes to a full
run (half of them importing its own 10,000-consumer agency), one to a quick one.

Every server it starts listens on 127.0.0.1 and is stopped on exit, error or Ctrl-C; the
PostgreSQL schema and SQLite file it creates are dropped.
"""
from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(PROJECT_ROOT))

DATABASES = ("sqlite", "postgresql")


def parse_args(argv: list[str]) -> argparse.Namespace:
    from benchmarks.databases import POSTGRES_URL

    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small smoke run (hundreds of resources, seconds per measurement)")
    parser.add_argument("--databases", default=",".join(DATABASES),
                        help="comma-separated subset of: sqlite, postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="PostgreSQL database to make a throwaway schema in")
    parser.add_argument("--output", type=Path,
                        help="where to write the report (default: benchmarks/RESULTS.md; with "
                             "--quick var/bench-quick.md, so a smoke run keeps the real figures)")
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = (PROJECT_ROOT / "var" / "bench-quick.md" if args.quick
                       else PROJECT_ROOT / "benchmarks" / "RESULTS.md")
    chosen = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not chosen or any(d not in DATABASES for d in chosen):
        parser.error(f"--databases takes a subset of {', '.join(DATABASES)}")
    args.databases = chosen
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)

    def on_sigterm(_signum: int, _frame: object) -> None:
        print("benchmarks: terminated; stopping servers and dropping databases", file=sys.stderr)
        raise SystemExit(143)  # unwinds every context manager: servers stop, schemas drop

    signal.signal(signal.SIGTERM, on_sigterm)
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {message}", file=sys.stderr, flush=True)

    from benchmarks.driver import run_all

    command = shlex.join(["benchmarks/run.py", *argv])
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as scratch:
        report = run_all(args.quick, args.databases, args.postgres_url, Path(scratch), log,
                         command)
        if "postgresql" in args.databases:
            report = _with_inbound(report, args, Path(scratch), log, began)
    from benchmarks.report import render

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(report), encoding="utf-8")
    log(f"wrote {args.output} in {report.seconds / 60:.1f} minutes"
        + (f"; {len(report.failures)} failure(s)" if report.failures else ""))
    return 1 if report.failures else 0


def _with_inbound(report: Any, args: argparse.Namespace, workdir: Path,
                  log: Callable[[str], None], began: float) -> Any:
    """The report with the hospital messages section (PostgreSQL only) measured after the
    others; its failures join theirs."""
    from dataclasses import replace

    from benchmarks.inbound_messages import run_section
    from benchmarks.machine import load_average

    inbound = run_section(args.quick, args.postgres_url, workdir, log, report.failures)
    return replace(report, inbound=inbound, seconds=time.monotonic() - began,
                   load_after=load_average())


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # servers, schemas and files are gone already (context managers)
        print("benchmarks: interrupted; servers stopped, databases dropped", file=sys.stderr)
        sys.exit(130)

"""``gateway audit verify|checkpoint|keygen``: the accounting of disclosures' tamper evidence.

verify exits 0 when the trail is intact, 1 when it found a problem (one line each on stderr) or
could not read the database, 3 when the checkpoint cannot vouch for the chain (missing, not
signed by the public key, malformed) and nothing worse was found; 2 is a usage error.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from gateway.cli.database import open_sessions
from gateway.cli.errors import CliError, first_line
from gateway.config import Config, config_from_env

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).

EXIT_PROBLEMS = 1
EXIT_CHECKPOINT_REFUSED = 3
# Lines printed for problems before the rest is summed up (--json lists them all).
SHOWN_PROBLEMS = 50


@click.group()
def audit() -> None:
    """The accounting of disclosures (AuditEvents in a tamper-evident hash chain)."""


def _config() -> Config:
    try:
        return config_from_env()
    except ValueError as error:
        raise CliError(f"bad configuration: {first_line(error)}") from None


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(path_type=Path),
              help="file of checkpoints (JSON lines) to check against; default: the file "
                   "named in GATEWAY_AUDIT_CHECKPOINT_TARGET")
@click.option("--public-key", type=click.Path(path_type=Path),
              help="Ed25519 public key (PEM) the checkpoint must be signed with; default: "
                   "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY, or that of GATEWAY_AUDIT_CHECKPOINT_KEY")
@click.option("--json", "as_json", is_flag=True, help="the result as one JSON object")
def audit_verify(checkpoint_file: Path | None, public_key: Path | None, as_json: bool) -> None:
    """Check every AuditEvent as read, its version copy and search index rows, and the chain
    against the latest signed checkpoint (nothing cut off, nothing recomputed)."""
    from gateway.audit.checkpoint import CheckpointError
    from gateway.audit.verify import verify_chain
    from gateway.fhir.search.registry import SearchParameterRegistry

    config = _config()
    refused: str | None = None
    note: str | None = None
    checkpoint = None
    try:
        checkpoint, note = _latest_checkpoint(config, checkpoint_file, public_key)
    except CheckpointError as error:
        refused = str(error)
    with open_sessions() as sessions:
        try:
            with sessions() as session:
                result = verify_chain(session, checkpoint=checkpoint,
                                      registry=SearchParameterRegistry.load(),
                                      base_url=config.fhir_base_url)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot verify the audit chain: {first_line(error)}") from None
    status = (EXIT_PROBLEMS if result.problems else EXIT_CHECKPOINT_REFUSED if refused else 0)
    if as_json:
        click.echo(json.dumps(_as_json(result, refused, note), indent=2))
    else:
        _report(result, refused, note)
    raise SystemExit(status)


def _latest_checkpoint(config: Config, checkpoint_file: Path | None,
                       public_key: Path | None) -> tuple[Any, str | None]:
    """The latest checkpoint, verified; or None and why there is none."""
    from gateway.audit.checkpoint import (
        CheckpointError,
        latest_record,
        load_public_key,
        open_checkpoint,
    )
    from gateway.audit.targets import first_file, parse_targets

    if checkpoint_file is None:
        checkpoint_file = first_file(parse_targets(config.audit_checkpoint_targets))
    if checkpoint_file is None:
        return None, ("no checkpoint file to check against (--checkpoint, or a file in "
                      "GATEWAY_AUDIT_CHECKPOINT_TARGET): a cut-off tail or a recomputed chain "
                      "cannot be found")
    key_file = public_key or config.audit_checkpoint_public_key or config.audit_checkpoint_key
    if key_file is None:
        raise CheckpointError("no public key to check the checkpoint with (--public-key or "
                              "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY)")
    key = load_public_key(key_file)
    if not checkpoint_file.exists():
        raise CheckpointError(f"no checkpoint: {checkpoint_file} does not exist (write one "
                              f"with 'gateway audit checkpoint')")
    record = latest_record(checkpoint_file)
    if record is None:
        raise CheckpointError(f"no checkpoint in {checkpoint_file} (write one with "
                              f"'gateway audit checkpoint')")
    return open_checkpoint(record, key), None


def _report(result: Any, refused: str | None, note: str | None) -> None:
    for problem in result.problems[:SHOWN_PROBLEMS]:
        click.echo(f"gateway: error: {problem}", err=True)
    if len(result.problems) > SHOWN_PROBLEMS:
        click.echo(f"gateway: error: {len(result.problems) - SHOWN_PROBLEMS} more problems "
                   f"(--json lists them all)", err=True)
    if refused:
        click.echo(f"gateway: error: {refused}", err=True)
    if note and not result.problems:
        click.echo(f"gateway: note: {note}", err=True)
    if not result.problems:
        against = (f"; it extends the {result.checkpoint.describe()}"
                   if result.checkpoint is not None else "")
        click.echo(f"audit chain intact: {result.entries} entries{against}")


def _as_json(result: Any, refused: str | None, note: str | None) -> dict[str, Any]:
    checkpoint = result.checkpoint
    return {
        "intact": result.intact and not refused,
        "entries": result.entries,
        "checkpoint": None if checkpoint is None else checkpoint.claims(),
        "checkpoint_refused": refused,
        "note": note,
        "problems": [problem.as_json() for problem in result.problems],
    }


@audit.command("checkpoint")
@click.option("--target", "targets", multiple=True,
              help="where to write (repeatable): a file path, syslog://host:port, "
                   "syslog+tcp://host:port, syslog:///dev/log, or an http(s) URL; default: "
                   "GATEWAY_AUDIT_CHECKPOINT_TARGET")
@click.option("--key", "key_file", type=click.Path(path_type=Path),
              help="Ed25519 private key (PEM); default: GATEWAY_AUDIT_CHECKPOINT_KEY")
@click.option("--every", type=click.FloatRange(min=1.0), metavar="SECONDS",
              help="keep writing one every SECONDS (when the head moved) until stopped")
# `gateway serve` starts the loop with this: it ends when serve's process is gone, even
# after a kill -9 that gave serve no chance to stop it.
@click.option("--while-parent-lives", is_flag=True, hidden=True)
def audit_checkpoint(targets: tuple[str, ...], key_file: Path | None,
                     every: float | None, while_parent_lives: bool) -> None:
    """Sign the audit chain's head (event count and head hash) and write it outside the
    database."""
    from gateway.audit.checkpoint import CheckpointError, load_private_key
    from gateway.audit.checkpointer import checkpoint_once
    from gateway.audit.targets import parse_targets

    config = _config()
    key_file = key_file or config.audit_checkpoint_key
    if key_file is None:
        raise CliError("no signing key: set GATEWAY_AUDIT_CHECKPOINT_KEY or pass --key "
                       "(make one with 'gateway audit keygen')")
    spellings = targets or config.audit_checkpoint_targets
    if not spellings:
        raise CliError("no checkpoint target: set GATEWAY_AUDIT_CHECKPOINT_TARGET or pass "
                       "--target")
    try:
        key = load_private_key(key_file)
        where = parse_targets(tuple(spellings))
    except CheckpointError as error:
        raise CliError(str(error)) from None
    with open_sessions() as sessions:
        if every is not None:
            _loop(every, sessions, key, where, os.getppid() if while_parent_lives else None)
            return
        try:
            result = checkpoint_once(sessions, key, where)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot read the audit chain's head: {first_line(error)}") from None
    _print_round(result)
    if result.failed:
        raise SystemExit(1)


def _print_round(result: Any) -> None:
    record = result.record
    for target in result.written:
        click.echo(f"checkpoint written to {target}: {record['count']} events, head "
                   f"{record['head']}, key {record['key_id']}")
    for line in result.failed:
        click.echo(f"gateway: error: {line}", err=True)


def _loop(every: float, sessions: Any, key: Any, where: list[Any], parent: int | None
          ) -> None:
    from gateway.audit.checkpointer import checkpoint_every

    stop = threading.Event()

    def stop_on_signal(_signal: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stop_on_signal)

    def report(result: Any) -> None:
        if parent is not None and os.getppid() != parent:
            stop.set()  # orphaned: serve is gone
        if isinstance(result, str):
            click.echo(f"gateway: error: {result}", err=True)
        else:
            _print_round(result)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop quietly
        checkpoint_every(every, sessions, key, where, report, stop)


@audit.command("keygen")
@click.argument("private_key", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path),
              help="where the public key goes (default: PRIVATE_KEY.pub)")
def audit_keygen(private_key: Path, public_key: Path | None) -> None:
    """Make an Ed25519 key pair for signing checkpoints (the private key is never
    overwritten). Keep the private key off the database's host if you can, and give
    verify the public one."""
    from gateway.audit.checkpoint import CheckpointError, generate_key_pair

    public_key = public_key or private_key.with_name(private_key.name + ".pub")
    if private_key.exists():
        raise CliError(f"{private_key} exists; not overwriting a key")
    try:
        kid = generate_key_pair(private_key, public_key)
    except CheckpointError as error:
        raise CliError(str(error)) from None
    click.echo(f"private key {private_key} (keep it from the database's writers)\n"
               f"public key  {public_key} (for gateway audit verify)\nkey id      {kid}")

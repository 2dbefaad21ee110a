"""``gateway db upgrade``, ``gateway serve`` and ``gateway demo``."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import click

from gateway.cli.database import check_migrated
from gateway.cli.errors import CliError, first_line
from gateway.config import Config, ConfigError, check_config, config_from_env

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


@click.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (Alembic) to GATEWAY_DATABASE_URL."""
    from gateway.db.engine import head_revision, make_engine, upgrade

    config = config_from_env()
    engine = make_engine(config.database_url)
    try:
        upgrade(engine)
    except Exception as error:  # noqa: BLE001 - reported as one line
        raise CliError(f"migration failed: {first_line(error)}") from None
    finally:
        engine.dispose()
    click.echo(f"database at migration {head_revision()}")


def _prepare_metrics_dir(config: Config) -> Config:
    # prometheus_client picks its multiprocess mode from this variable when first imported, so
    # it is set before the app (and the library) is loaded in the gunicorn workers.
    directory = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return config.with_overrides(prometheus_multiproc_dir=directory)


def _checked(config: Config) -> Config:
    """The configuration, or a one-line error (exit 1) before anything starts."""
    try:
        check_config(config)
    except ConfigError as error:
        raise CliError(str(error)) from None
    return config


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Run the production server (gunicorn)."""
    from gateway.server import serve as run_server

    try:
        config = config_from_env()
    except ValueError as error:
        raise CliError(f"bad configuration: {first_line(error)}") from None
    config = _checked(config)
    check_migrated(config)
    checkpointer = _start_checkpointer(config)
    try:
        run_server(_prepare_metrics_dir(config), host, port, workers)
    finally:
        if checkpointer is not None:
            checkpointer.terminate()
            checkpointer.wait(10)


def _start_checkpointer(config: Config) -> subprocess.Popen[bytes] | None:
    """With GATEWAY_AUDIT_CHECKPOINT_INTERVAL set, one ``gateway audit checkpoint --every N``
    process beside gunicorn (not a thread per worker: one writer however many workers, and
    it outlives their restarts). Its settings are checked here, so a bad key or target stops
    the start with one line instead of failing quietly later."""
    if config.audit_checkpoint_interval <= 0:
        return None
    from gateway.audit.checkpoint import CheckpointError, load_private_key
    from gateway.audit.targets import parse_targets

    if config.audit_checkpoint_key is None or not config.audit_checkpoint_targets:
        raise CliError("GATEWAY_AUDIT_CHECKPOINT_INTERVAL needs GATEWAY_AUDIT_CHECKPOINT_KEY "
                       "and GATEWAY_AUDIT_CHECKPOINT_TARGET")
    if config.audit_checkpoint_interval < 1:
        raise CliError("GATEWAY_AUDIT_CHECKPOINT_INTERVAL: at least 1 second")
    try:
        load_private_key(config.audit_checkpoint_key)
        parse_targets(config.audit_checkpoint_targets)
    except CheckpointError as error:
        raise CliError(str(error)) from None
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "audit", "checkpoint",
                             "--every", f"{config.audit_checkpoint_interval:g}",
                             "--while-parent-lives"])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file for the demo (default: var/demo.db, recreated)")
def demo(host: str, port: int, db_path: Path | None) -> None:
    """Run the gateway on a fresh demo database loaded from fixtures/."""
    from gateway.demo import (
        add_console_data,
        add_demo_operators,
        add_r4_consent,
        prepare_demo,
        start_companions,
    )
    from gateway.server import serve as run_server

    config = config_from_env()
    db_path = db_path or config.var_dir / "demo.db"
    keys = config.operator_keys or (secrets.token_urlsafe(24),)
    config = _checked(config.with_overrides(database_url=f"sqlite:///{db_path.resolve()}",
                                            base_url=f"http://{host}:{port}",
                                            operator_keys=keys))
    summary = prepare_demo(config, db_path)
    r4_consent = add_r4_consent(config)
    console_data = add_console_data(config)
    console_password = secrets.token_urlsafe(12)
    console_operators = add_demo_operators(config, console_password)
    companions = start_companions(config)
    base = config.fhir_base_url
    console_lines = textwrap.fill(f"its pages show {console_data}", width=92,
                                  initial_indent=" " * 17, subsequent_indent=" " * 17)
    operator_lines = "\n".join(f"                 {name:<22} {role}"
                                for name, role in console_operators)
    partner_lines = "\n".join(f"                 {partner:<18} {where}"
                               for partner, where in sorted(companions.endpoints.items()))
    click.echo(f"""
fhir-care-gateway demo
  database       {db_path}  ({summary})
  FHIR base      {base}
  metadata       {base}/metadata
  health         http://{host}:{port}/healthz   metrics http://{host}:{port}/metrics
  operator token {keys[0]}

  console        http://{host}:{port}/console/  sign in as one of these operators, each with
                 the password {console_password}
{operator_lines}
{console_lines}

  token endpoint http://{host}:{port}/auth/token  (SMART Backend Services; demo partners and
                 their keys in fixtures/partners/)
  deliveries     a delivery worker runs; each demo partner receives here (a FHIR endpoint's
                 summary page is its URL without /fhir):
{partner_lines}
  dead letters   http://{host}:{port}/admin/deliveries?status=dead (operator token)
  consents       read the FHIR R4 way; problems: gateway consents problems,
                 http://{host}:{port}/admin/consents/problems
                 an R4-style consent: {r4_consent}

  hospitals      discharge notifications: POST {base}/$process-message (Da Vinci), HL7 v2
                 ADT: POST http://{host}:{port}/hl7v2 or MLLP on 127.0.0.1:{companions.mllp_port}
                 referrals  http://{host}:{port}/admin/referrals   (open, by FUH deadline)
                 matches    http://{host}:{port}/admin/matches     (uncertain people)
                 intake     {config.var_dir / "local-outbox" / "intake"}
  referral loop  in another shell: export GATEWAY_DATABASE_URL=sqlite:///{db_path.resolve()}
                 gateway referrals list; gateway referrals accept ID; gateway referrals start ID
                 gateway referrals complete ID --encounter-date YYYY-MM-DD
                 (also reject/hold/resume/cancel; the hospital sees status and output)
  send the public Da Vinci discharge example as St. Brigid:
       TOKEN=$(gateway partners token hospital-stbrigid --url http://{host}:{port} \\
               --scope 'system/Task.read' --token-only)
       curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/fhir+json' \\
            --data @fixtures/conformance/davinci-discharge-notification-message-bundle-01.json \\
            '{base}/$process-message'

  try: curl -H 'Authorization: Bearer {keys[0]}' '{base}/Patient?_count=5'
       gateway partners token pcp-cedar --url http://{host}:{port}
  Ctrl-C stops it.
""")
    try:
        run_server(_prepare_metrics_dir(config), host, port, workers=2, quiet=True)
    finally:
        companions.stop()

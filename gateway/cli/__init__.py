"""The ``gateway`` command line (INTERFACE.md): every command builds the app from one Config."""
from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from gateway.config import Config, config_from_env
from gateway.partners.registry import KINDS, OUTBOUND_METHODS


class CliError(click.ClickException):
    """A failure reported as one line on stderr, exit status 1."""

    def show(self, file=None) -> None:  # type: ignore[no-untyped-def]
        click.echo(f"gateway: error: {self.format_message()}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fhir-care-gateway")
def cli() -> None:
    """FHIR gateway for community mental-health case management."""


# -- database ------------------------------------------------------------------------------------

@cli.group()
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
        raise CliError(f"migration failed: {_first_line(error)}") from None
    finally:
        engine.dispose()
    click.echo(f"database at migration {head_revision()}")


# -- servers -------------------------------------------------------------------------------------

def _prepare_metrics_dir(config: Config) -> Config:
    # prometheus_client picks its multiprocess mode from this variable when first imported, so
    # it is set before the app (and the library) is loaded in the gunicorn workers.
    directory = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return config.with_overrides(prometheus_multiproc_dir=directory)


def _check_migrated(config: Config) -> None:
    from gateway.db.engine import DatabaseNotMigrated, ensure_migrated, make_engine

    engine = make_engine(config.database_url)
    try:
        ensure_migrated(engine)
    except DatabaseNotMigrated as error:
        raise CliError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - unreachable database and the like
        raise CliError(f"cannot open the database: {_first_line(error)}") from None
    finally:
        engine.dispose()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Run the production server (gunicorn)."""
    from gateway.server import serve as run_server

    config = config_from_env()
    _check_migrated(config)
    run_server(_prepare_metrics_dir(config), host, port, workers)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file for the demo (default: var/demo.db, recreated)")
def demo(host: str, port: int, db_path: Path | None) -> None:
    """Run the gateway on a fresh demo database loaded from fixtures/."""
    from gateway.demo import prepare_demo, start_companions
    from gateway.server import serve as run_server

    config = config_from_env()
    db_path = db_path or config.var_dir / "demo.db"
    keys = config.operator_keys or (secrets.token_urlsafe(24),)
    config = config.with_overrides(database_url=f"sqlite:///{db_path.resolve()}",
                                   base_url=f"http://{host}:{port}", operator_keys=keys)
    summary = prepare_demo(config, db_path)
    companions = start_companions(config)
    base = config.fhir_base_url
    partner_lines = "\n".join(f"                 {partner:<18} {where}"
                               for partner, where in sorted(companions.endpoints.items()))
    click.echo(f"""
fhir-care-gateway demo
  database       {db_path}  ({summary})
  FHIR base      {base}
  metadata       {base}/metadata
  health         http://{host}:{port}/healthz   metrics http://{host}:{port}/metrics
  operator token {keys[0]}

  token endpoint http://{host}:{port}/auth/token  (SMART Backend Services; demo partners and
                 their keys in fixtures/partners/)
  deliveries     a delivery worker runs; each demo partner receives here (a FHIR endpoint's
                 summary page is its URL without /fhir):
{partner_lines}
  dead letters   http://{host}:{port}/admin/deliveries?status=dead (operator token)

  hospitals      discharge notifications: POST {base}/$process-message (Da Vinci), HL7 v2
                 ADT: POST http://{host}:{port}/hl7v2 or MLLP on 127.0.0.1:{companions.mllp_port}
                 referrals  http://{host}:{port}/admin/referrals   (open, by FUH deadline)
                 matches    http://{host}:{port}/admin/matches     (uncertain people)
                 intake     {config.var_dir / "local-outbox" / "intake"}
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


# -- local records -------------------------------------------------------------------------------

@cli.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="where rejected records go (NDJSON; default var/rejects/import-<time>.ndjson)")
def import_records(paths: tuple[Path, ...], rejects_path: Path | None) -> None:
    """Load local case-management records (files or folders: JSON, NDJSON, CSV)."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gateway.adapters.local_files import count_records, iter_records
    from gateway.app import create_app
    from gateway.local.pipeline import RecordImporter, Summary, organizations_first
    from gateway.local.rejects import RejectsFile
    from gateway.local.translate import translator_for

    config = config_from_env()
    _check_migrated(config)
    state = create_app(config).extensions["gateway"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rejects_path = rejects_path or config.var_dir / "rejects" / f"import-{stamp}.ndjson"
    console = Console(stderr=True)
    summary = Summary()
    # A progress bar for a person at a terminal; nothing of it in CI logs or pipes.
    progress = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                        console=console, disable=not console.is_terminal, transient=True)
    try:
        with progress, RejectsFile(rejects_path) as rejects:
            task = progress.add_task("import", total=count_records(paths))
            importer = RecordImporter(state, translator_for(config))
            for outcome in importer.run(organizations_first(lambda: iter_records(paths))):
                summary.add(outcome)
                if outcome.status == "rejected":
                    rejects.write(outcome)
                progress.advance(task)
    except Exception as error:  # noqa: BLE001 - database down and the like: one line
        raise CliError(f"import stopped: {_first_line(error)} (records reported before this "
                       f"point were committed)") from None
    finally:
        state.engine.dispose()
    line = (f"accepted {summary.accepted}, unchanged {summary.unchanged}, "
            f"rejected {summary.rejected}")
    if summary.rejected:
        line += f" (reasons in {rejects_path})"
    click.echo(line)
    if summary.rejected:
        sys.exit(1)


@cli.command()
@click.option("--source", "source_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file naming the case-management database and one SELECT per type")
@click.option("--once", is_flag=True, help="poll once and exit (default: keep polling)")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="seconds between polls")
def poll(source_path: Path, once: bool, interval: float) -> None:
    """Import changed rows from the agency's case-management database."""
    import time

    from gateway.adapters.local_database import (
        DatabasePoller,
        SourceConfigError,
        SourceQueryError,
        load_source,
    )
    from gateway.app import create_app
    from gateway.local.pipeline import RecordImporter, Summary
    from gateway.local.rejects import RejectsFile
    from gateway.local.translate import translator_for

    config = config_from_env()
    _check_migrated(config)
    try:
        source = load_source(source_path)
    except SourceConfigError as error:
        raise CliError(str(error)) from None
    state = create_app(config).extensions["gateway"]
    rejects_path = config.var_dir / "rejects" / f"poll-{source.name}.ndjson"
    try:
        while True:
            summary = Summary()
            with DatabasePoller(source, state.session_factory) as poller, \
                    RejectsFile(rejects_path) as rejects:
                # The watermark moves only past rows whose chunk was committed.
                importer = RecordImporter(state, translator_for(config),
                                          on_committed=lambda _: poller.advance_polled())
                for outcome in importer.run(record for _, record in poller.changes()):
                    summary.add(outcome)
                    if outcome.status == "rejected":
                        rejects.write(outcome)
            click.echo(f"{source.name}: accepted {summary.accepted}, unchanged "
                       f"{summary.unchanged}, rejected {summary.rejected}"
                       + (f" (reasons in {rejects_path})" if summary.rejected else ""))
            if once:
                if summary.rejected:
                    sys.exit(1)
                return
            time.sleep(interval)
    except SourceQueryError as error:
        raise CliError(str(error)) from None
    finally:
        state.engine.dispose()


@cli.group()
def workflows() -> None:
    """Care-management rules (due assessments and plan reviews)."""


@workflows.command("run")
def workflows_run() -> None:
    """Bring every consumer's due-assessment and plan-review Tasks up to date, and flag
    hospital referrals past a follow-up deadline (run daily)."""
    from datetime import UTC, datetime

    from gateway.app import create_app
    from gateway.local.translate import translator_for
    from gateway.workflows.referral_deadlines import flag_overdue
    from gateway.workflows.refresh import refresh_due_tasks

    config = config_from_env()
    _check_migrated(config)
    state = create_app(config).extensions["gateway"]
    try:
        summary = refresh_due_tasks(state, translator_for(config))
        flagged = flag_overdue(state, datetime.now(UTC).date())
    finally:
        state.close()
    click.echo(f"{summary.consumers} consumers, {summary.tasks} due Tasks, "
               f"{summary.changed} changed; {flagged} referrals newly overdue")


# -- deliveries ----------------------------------------------------------------------------------

def delivery_worker(config: Config, state: Any, name: str | None = None,
                    batch_size: int = 20) -> Any:
    """The delivery worker for ``state``, configured from ``config`` (also used by the demo)."""
    from gateway.delivery.retry import RetryPolicy
    from gateway.delivery.worker import DeliveryWorker, WorkerSettings
    from gateway.partners.client import load_private_jwk

    private_jwk = None
    if config.client_key_file is not None:
        try:
            private_jwk = load_private_jwk(config.client_key_file)
        except (OSError, ValueError) as error:
            raise CliError(f"GATEWAY_CLIENT_KEY_FILE: {_first_line(error)}") from None
    settings = WorkerSettings(
        batch_size=batch_size, lease_seconds=config.delivery_lease_seconds,
        connect_timeout=min(5.0, config.delivery_timeout_seconds),
        read_timeout=config.delivery_timeout_seconds, poll_seconds=config.delivery_poll_seconds,
        breaker_cooldown=config.delivery_breaker_cooldown_seconds,
        policy=RetryPolicy(max_attempts=config.delivery_max_attempts,
                           base_seconds=config.delivery_backoff_seconds))
    return DeliveryWorker(state, name, settings, private_jwk=private_jwk)


@cli.command()
@click.option("--once", is_flag=True, help="deliver what is due, then exit")
@click.option("--batch", "batch_size", default=20, show_default=True,
              type=click.IntRange(1, 1000), help="deliveries claimed at a time")
@click.option("--name", help="this worker's name in leases (default: host-pid)")
def deliver(once: bool, batch_size: int, name: str | None) -> None:
    """Run the outbound delivery worker (several may run at once on PostgreSQL)."""
    import signal
    import threading

    from gateway.app import create_app

    config = config_from_env()
    _check_migrated(config)
    state = create_app(config).extensions["gateway"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        summary = delivery_worker(config, state, name, batch_size).run(once=once, stop=stop)
    except KeyboardInterrupt:
        summary = None
    finally:
        state.close()
    if summary is not None:
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.counts.items()))
        click.echo(f"deliveries: {counts or 'none due'}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2575, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="listener processes; connections are handed to them in turn")
def mllp(host: str, port: int, workers: int) -> None:
    """HL7 v2 listener over MLLP (ADT in, ACK out). Connections are taken only from the
    addresses in GATEWAY_MLLP_ALLOWED_SOURCES (CIDRs, comma-separated), or else from those
    the hospital partners list in endpoints.mllp_sources. With --workers N (N > 1) this
    process accepts connections and hands each to the next of N listener processes."""
    import multiprocessing
    import signal
    import threading

    from gateway.adapters.mllp_dispatch import MllpDispatcher
    from gateway.workflows.hl7_messages import mllp_sources

    config = config_from_env()
    with _gateway_state() as state:
        if not mllp_sources(state):
            raise CliError("no source may send: set GATEWAY_MLLP_ALLOWED_SOURCES or register "
                           "a hospital partner with endpoints.mllp_sources")
    if workers == 1:
        _serve_mllp(config, host, port)
        return
    pipes = [multiprocessing.Pipe() for _ in range(workers)]  # socket pairs: they carry sockets
    ours = [end for end, _ in pipes]
    children = [multiprocessing.Process(target=_listener_process,
                                        args=(config, host, port, theirs, ours),
                                        name=f"mllp-{n}") for n, (_, theirs) in enumerate(pipes)]
    for child in children:
        child.start()
    for _, theirs in pipes:
        theirs.close()
    # SIGTERM or Ctrl-C only ask the accept loop to stop (a handler that raises can land in
    # a finalizer, where the exception is printed and lost). Closing the pipes then stops the
    # listener processes, which finish their connections first.
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    dispatcher = None
    try:
        try:
            dispatcher = MllpDispatcher(host, port, ours)
        except (OSError, ValueError) as error:
            raise _cannot_listen(host, port, error) from None
        bound_host, bound_port = dispatcher.server_address
        click.echo(f"MLLP listening on {bound_host}:{bound_port} (pid {os.getpid()}), handing "
                   f"connections in turn to {workers} listener processes", err=True)
        dispatcher.serve_forever(keep_going=lambda: not stopping.is_set()
                                 and all(c.is_alive() for c in children))
    finally:
        if dispatcher is not None:
            dispatcher.close()
        else:
            for end in ours:
                end.close()
        for child in children:
            child.join(15)
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(5)
    if any(child.exitcode != 0 for child in children):
        raise CliError("an MLLP listener process failed (see above)")


def _listener_process(config: Config, host: str, port: int, pipe: Any,
                      dispatcher_ends: list[Any]) -> None:
    for end in dispatcher_ends:  # the parent's: so that the pipe ends when the parent does
        end.close()
    try:
        _serve_mllp(config, host, port, handed_by=pipe)
    except click.ClickException as error:
        error.show()
        sys.exit(1)


def _serve_mllp(config: Config, host: str, port: int, handed_by: Any = None) -> None:
    """One MLLP listener process: its own app state (database connections are not shared
    across processes), serving until SIGTERM or Ctrl-C; the connections it accepts itself, or
    those the dispatcher hands it over the pipe ``handed_by``."""
    import signal

    from gateway.adapters.mllp import MllpServer
    from gateway.adapters.mllp_dispatch import handed_over
    from gateway.app import create_app
    from gateway.workflows.hl7_messages import mllp_sources, receive_hl7

    state = create_app(config).extensions["gateway"]
    try:
        allowed = mllp_sources(state)
        try:
            server = MllpServer(host, port,
                                lambda raw, peer: receive_hl7(state, raw, peer=peer),
                                allowed, listen=handed_by is None)
        except (OSError, ValueError) as error:
            raise _cannot_listen(host, port, error) from None
        if handed_by is None:
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
        else:  # the dispatcher stops it, by closing the pipe
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        accepting = ", ".join(str(a) for a in allowed)
        if handed_by is None:
            bound_host, bound_port = server.server_address[:2]
            click.echo(f"MLLP listening on {bound_host}:{bound_port} (pid {os.getpid()}), "
                       f"accepting {accepting}", err=True)
        else:
            click.echo(f"MLLP listener process (pid {os.getpid()}) ready, accepting "
                       f"{accepting}", err=True)
        try:
            if handed_by is None:
                server.serve_forever()
            else:
                server.serve_handed(handed_over(handed_by))
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    finally:
        state.close()


def _cannot_listen(host: str, port: int, error: Exception) -> CliError:
    return CliError(f"cannot listen on {host}:{port}: "
                    f"{getattr(error, 'strerror', None) or error}")


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt  # serve_forever returns; the finally block shuts down cleanly


@cli.group()
def deadletters() -> None:
    """Deliveries that failed for good (a permanent error, or too many attempts)."""


@deadletters.command("list")
@click.option("--partner", "partner_id", help="only this partner's")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def deadletters_list(partner_id: str | None, as_json: bool) -> None:
    """The dead letters, oldest first."""
    from gateway.delivery import queue

    with _sessions() as sessions, sessions() as session:
        dead = queue.deliveries(session, queue.DEAD, partner_id, limit=10_000)
    for item in dead:
        if as_json:
            click.echo(json.dumps(item.to_json()))
        else:
            click.echo(f"{item.seq}\t{item.partner_id}\tPatient/{item.patient_id}\t"
                       f"{item.attempts} attempts\t{item.last_error or ''}")
    if not as_json:
        click.echo(f"{len(dead)} dead letter{'s' if len(dead) != 1 else ''}", err=True)


@deadletters.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="every dead letter")
@click.option("--partner", "partner_id", help="only this partner's (with --all)")
def deadletters_replay(ids: tuple[int, ...], replay_all: bool, partner_id: str | None) -> None:
    """Queue dead letters again (IDS from 'deadletters list', or --all)."""
    from datetime import UTC, datetime

    from gateway.db.engine import begin_write
    from gateway.delivery import queue

    if not ids and not replay_all:
        raise click.UsageError("give dead-letter ids, or --all")
    if ids and replay_all:
        raise click.UsageError("give dead-letter ids or --all, not both")
    with _sessions() as sessions, sessions() as session, session.begin():
        begin_write(session)
        replayed = queue.replay(session, datetime.now(UTC), None if replay_all else ids,
                                partner_id)
    missing = sorted(set(ids) - set(replayed))
    click.echo(f"replayed {len(replayed)}")
    if missing:
        raise CliError(f"not dead letters: {', '.join(map(str, missing))}")


# -- validation ----------------------------------------------------------------------------------

@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Validate FHIR JSON resources or Bundles; print an OperationOutcome per file."""
    from gateway.fhir.validation import ValidationIssue, Validator, has_errors, outcome_from_issues

    validator = Validator(config_from_env().profiles_dir)
    failed = 0
    for path in files:
        try:
            resource = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            issues = [ValidationIssue("fatal", "structure",
                                      f"not valid JSON: {_first_line(error)}", "")]
        else:
            issues = validator.validate(resource)
        errors = sum(1 for i in issues if i.severity in ("error", "fatal"))
        warnings = sum(1 for i in issues if i.severity == "warning")
        failed += has_errors(issues)
        verdict = "valid" if not errors else f"{errors} error(s)"
        click.echo(f"{path}: {verdict}, {warnings} warning(s)", err=True)
        click.echo(json.dumps(outcome_from_issues(issues), indent=2))
    if failed:
        sys.exit(1)


# -- partners ------------------------------------------------------------------------------------

@cli.group()
def partners() -> None:
    """The partner registry (who may authenticate to us, and what they may ever receive)."""


@contextmanager
def _sessions() -> Iterator[Any]:
    """A session factory on the migrated GATEWAY_DATABASE_URL, its engine disposed after."""
    from gateway.db.engine import make_engine, make_session_factory

    config = config_from_env()
    _check_migrated(config)
    engine = make_engine(config.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@partners.command("list")
def partners_list() -> None:
    """One line per partner: id, type, enabled, name."""
    from gateway.partners.registry import PartnerRegistry

    with _sessions() as sessions, sessions() as session:
        for partner in PartnerRegistry(session).all():
            state = "enabled" if partner.enabled else "disabled"
            click.echo(f"{partner.id}\t{partner.kind}\t{state}\t{partner.name}")


@partners.command("show")
@click.argument("partner_id")
def partners_show(partner_id: str) -> None:
    """One partner as JSON (including its FHIR ``organization``)."""
    from gateway.partners.registry import PartnerRegistry

    with _sessions() as sessions, sessions() as session:
        partner = PartnerRegistry(session).get(partner_id)
    if partner is None:
        raise CliError(f"no partner {partner_id!r}")
    click.echo(json.dumps(partner.to_json(), indent=2))


@partners.command("add")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "partner_id", help="the partner's id (instead of FILES)")
@click.option("--type", "kind", type=click.Choice(KINDS), help="the partner kind")
@click.option("--name", help="the partner's name")
@click.option("--organization", help="its FHIR Organization id (default: one is created)")
@click.option("--fhir-base", help="its FHIR base URL, where deliveries go")
@click.option("--drop-folder", help="a folder deliveries are written into instead")
@click.option("--auth", "auth_method", type=click.Choice(OUTBOUND_METHODS), default="none",
              show_default=True, help="how the gateway authenticates to it")
@click.option("--token", help="the bearer token it issued us (--auth bearer)")
@click.option("--token-url", help="its token endpoint (--auth smart)")
@click.option("--client-id", help="our client id at its token endpoint (--auth smart)")
@click.option("--purpose", "purposes", multiple=True,
              help="purposes of use it may receive for (default: by kind)")
@click.option("--resource-type", "resource_types", multiple=True,
              help="resource types it may ever receive (default: by kind)")
def partners_add(files: tuple[Path, ...], **options: Any) -> None:
    """Add or replace partners: from JSON files (see fixtures/partners/), or one from options
    (gateway partners add --id ID --type physical-health --name NAME --fhir-base URL)."""
    from gateway.partners.registry import Partner, PartnerError, PartnerRegistry, from_options

    loaded = []
    if files and options["partner_id"]:
        raise click.UsageError("give partner FILES or --id and its options, not both")
    if not files:
        missing = [f"--{name}" for name in ("id", "type", "name")
                   if not options["partner_id" if name == "id" else
                                  "kind" if name == "type" else name]]
        if missing:
            raise click.UsageError(f"give partner FILES, or {', '.join(missing)}")
        try:
            loaded.append(from_options(**options))
        except PartnerError as error:
            raise CliError(str(error)) from None
    for path in files:
        try:
            loaded.append(Partner.from_json(json.loads(path.read_bytes())))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CliError(f"{path}: not valid JSON: {_first_line(error)}") from None
        except PartnerError as error:
            raise CliError(f"{path}: {error}") from None
    with _sessions() as sessions, sessions() as session, session.begin():
        registry = PartnerRegistry(session)
        for partner in loaded:
            try:
                created = registry.put(partner)
            except PartnerError as error:
                raise CliError(f"{partner.id}: {error}") from None
            click.echo(f"{'added' if created else 'replaced'} {partner.id}")
    if not files and not options["organization"]:
        _ensure_organization(loaded[0])


def _ensure_organization(partner: Any) -> None:
    """The FHIR Organization a partner added from options stands for, created if missing."""
    from gateway.app import create_app
    from gateway.auth import SYSTEM

    config = config_from_env()
    state = create_app(config).extensions["gateway"]
    try:
        with state.writing(SYSTEM) as repository:
            repository.update("Organization", partner.organization, {
                "resourceType": "Organization", "id": partner.organization, "active": True,
                "name": partner.name})
    finally:
        state.close()
    click.echo(f"organization Organization/{partner.organization}")


@partners.command("disable")
@click.argument("partner_id")
def partners_disable(partner_id: str) -> None:
    """Disable a partner: its access tokens stop working at once."""
    _set_enabled(partner_id, False)


@partners.command("enable")
@click.argument("partner_id")
def partners_enable(partner_id: str) -> None:
    """Enable a disabled partner again."""
    _set_enabled(partner_id, True)


@partners.command("token")
@click.argument("partner_id")
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the partner's private JWK (default fixtures/partners/<id>.private.jwk.json)")
@click.option("--scope", default="system/*.read", show_default=True)
@click.option("--url", "base_url", default="http://127.0.0.1:8080", show_default=True,
              help="the gateway's base URL")
@click.option("--token-only", is_flag=True, help="print only the access token")
def partners_token(partner_id: str, key_path: Path | None, scope: str, base_url: str,
                   token_only: bool) -> None:
    """Get an access token as a partner would (SMART Backend Services); prints the token
    response. For trying the demo: a real partner signs with its own key on its own side."""
    import requests

    from gateway.partners.client import client_assertion, load_private_jwk, token_request
    from gateway.partners.smart import token_endpoint

    key_path = key_path or config_from_env().fixtures_dir / "partners" / \
        f"{partner_id}.private.jwk.json"
    try:
        key = load_private_jwk(key_path)
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read the private key: {_first_line(error)}") from None
    url = token_endpoint(base_url)
    try:
        response = requests.post(url, data=token_request(
            client_assertion(key, partner_id, url), scope), timeout=10)
    except requests.RequestException as error:
        raise CliError(f"cannot reach {url}: {_first_line(error)}") from None
    if response.status_code != 200:
        click.echo(response.text.strip(), err=token_only)
        sys.exit(1)
    click.echo(response.json()["access_token"] if token_only else response.text.strip())


def _set_enabled(partner_id: str, enabled: bool) -> None:
    from gateway.partners.registry import PartnerRegistry

    with _sessions() as sessions, sessions() as session, session.begin():
        partner = PartnerRegistry(session).set_enabled(partner_id, enabled)
    if partner is None:
        raise CliError(f"no partner {partner_id!r}")
    click.echo(f"{partner_id} {'enabled' if enabled else 'disabled'}")


# -- audit trail ---------------------------------------------------------------------------------

@cli.group()
def audit() -> None:
    """The accounting of disclosures (AuditEvents in a tamper-evident hash chain)."""


@audit.command("verify")
def audit_verify() -> None:
    """Check that no AuditEvent was changed, removed or added outside the chain."""
    from gateway.audit.verify import verify_chain

    with _sessions() as sessions:
        try:
            with sessions() as session:
                result = verify_chain(session)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot verify the audit chain: {_first_line(error)}") from None
    if result.broken is not None:
        raise CliError(str(result.broken))
    click.echo(f"audit chain intact: {result.entries} entries")


# -- referrals -----------------------------------------------------------------------------------

@cli.group()
def referrals() -> None:
    """Open discharge referrals and their 7- and 30-day follow-up deadlines (HEDIS FUH)."""


@contextmanager
def _gateway_state() -> Iterator[Any]:
    """The app's state on the migrated GATEWAY_DATABASE_URL, closed after."""
    from gateway.app import create_app

    config = config_from_env()
    _check_migrated(config)
    state = create_app(config).extensions["gateway"]
    try:
        yield state
    finally:
        state.close()


@referrals.command("list")
@click.option("--overdue", is_flag=True, help="only those past a follow-up deadline")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def referrals_list(overdue: bool, as_json: bool) -> None:
    """Open referrals with follow-up deadlines, most urgent first (overdue first)."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from gateway.workflows.referral_deadlines import open_referrals

    today = datetime.now(UTC).date()
    with _gateway_state() as state:
        try:
            found = open_referrals(state, today, overdue_only=overdue)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot list referrals: {_first_line(error)}") from None
    if as_json:
        for item in found:
            click.echo(json.dumps(item.to_json()))
        return
    table = Table("Task", "Patient", "Status", "Discharged", "7-day due", "30-day due",
                  "Days left", "Overdue", "Business status", box=None, pad_edge=False)
    for item in found:
        table.add_row(item.task_id, item.patient or "", item.status,
                      item.discharged_on.isoformat(), item.due_7_day.isoformat(),
                      item.due_30_day.isoformat(), str(item.days_left),
                      ", ".join(item.overdue), item.business_status or "")
    # Piped, the table keeps its rows on one line each rather than fitting 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 240)
    if found:
        console.print(table)
    click.echo(f"{len(found)} open referral{'s' if len(found) != 1 else ''}"
               f"{' past a deadline' if overdue else ''} on {today.isoformat()}", err=True)


@referrals.command("flag-overdue")
def referrals_flag_overdue() -> None:
    """Set businessStatus on open referrals past a follow-up deadline (run daily)."""
    from datetime import UTC, datetime

    from gateway.workflows.referral_deadlines import flag_overdue

    with _gateway_state() as state:
        try:
            flagged = flag_overdue(state, datetime.now(UTC).date())
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot flag overdue referrals: {_first_line(error)}") from None
    click.echo(f"flagged {flagged} overdue referral{'s' if flagged != 1 else ''}")


@cli.group()
def matches() -> None:
    """Hospital events whose person matched a consumer only uncertainly (the review queue)."""


@matches.command("list")
@click.option("--status", type=click.Choice(["open", "linked", "created"]), default="open",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def matches_list(status: str, as_json: bool) -> None:
    """Match reviews, oldest first, with their scored candidates."""
    from gateway.workflows import match_review

    with _gateway_state() as state:
        found = match_review.reviews(state, status, limit=10_000)
    for review in found:
        if as_json:
            click.echo(json.dumps(review.to_json(), ensure_ascii=False))
            continue
        candidates = ", ".join(f"Patient/{c['patient_id']} {c['grade']} {c['score']}"
                               for c in review.candidates)
        click.echo(f"{review.id}\t{review.partner_id}\t{review.kind}\t"
                   f"{review.person['name']} {review.person.get('birth_date') or ''}\t"
                   f"{candidates}")
    if not as_json:
        click.echo(f"{len(found)} {status} review{'s' if len(found) != 1 else ''}", err=True)


@matches.command("link")
@click.argument("review_id", type=int)
@click.argument("patient_id")
def matches_link(review_id: int, patient_id: str) -> None:
    """The person of review REVIEW_ID is consumer PATIENT_ID (a Patient id)."""
    _decide(review_id, patient_id)


@matches.command("new")
@click.argument("review_id", type=int)
def matches_new(review_id: int) -> None:
    """The person of review REVIEW_ID is none of the candidates: take them in as new."""
    _decide(review_id, None)


def _decide(review_id: int, patient_id: str | None) -> None:
    import getpass

    from gateway.auth import Principal
    from gateway.fhir.errors import FhirError
    from gateway.workflows import match_review

    operator = Principal(kind="operator", name=f"cli:{getpass.getuser()}")
    with _gateway_state() as state:
        try:
            taken = (match_review.link(state, review_id, patient_id, operator)
                     if patient_id is not None
                     else match_review.take_in_as_new(state, review_id, operator))
        except FhirError as error:
            raise CliError(str(error)) from None
    click.echo(taken.detail)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def main() -> None:
    cli(prog_name="gateway")


if __name__ == "__main__":
    main()

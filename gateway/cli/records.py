"""``gateway import``, ``gateway poll`` (local records in) and ``gateway validate``."""
from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from gateway.cli.database import check_migrated
from gateway.cli.errors import CliError, first_line
from gateway.config import config_from_env

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


@click.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="where rejected records go (NDJSON; default var/rejects/import-<time>.ndjson)")
def import_records(paths: tuple[Path, ...], rejects_path: Path | None) -> None:
    """Load local case-management records (files or folders: JSON, NDJSON, CSV)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gateway.adapters.local_files import count_records, iter_records
    from gateway.app import create_app
    from gateway.local.pipeline import RecordImporter, Summary, organizations_first
    from gateway.local.rejects import RejectsFile
    from gateway.local.translate import translator_for

    config = config_from_env()
    check_migrated(config)
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
        raise CliError(f"import stopped: {first_line(error)} (records reported before this "
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


@click.command()
@click.option("--source", "source_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file naming the case-management database and one SELECT per type")
@click.option("--once", is_flag=True, help="poll once and exit (default: keep polling)")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="seconds between polls")
def poll(source_path: Path, once: bool, interval: float) -> None:
    """Import changed rows from the agency's case-management database."""
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
    check_migrated(config)
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


@click.command()
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
                                      f"not valid JSON: {first_line(error)}", "")]
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

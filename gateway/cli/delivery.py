"""``gateway deliver`` (the outbound delivery worker) and ``gateway deadletters``."""
from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from gateway.cli.database import check_migrated, open_sessions
from gateway.cli.errors import CliError, first_line
from gateway.config import Config, config_from_env

if TYPE_CHECKING:  # imported by the commands that need them, for start-up time (see below)
    from gateway.delivery.worker import DeliveryWorker
    from gateway.state import GatewayState

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


def delivery_worker(config: Config, state: GatewayState, name: str | None = None,
                    batch_size: int = 20) -> DeliveryWorker:
    """The delivery worker for ``state``, configured from ``config`` (also used by the demo)."""
    from gateway.delivery.retry import RetryPolicy
    from gateway.delivery.worker import DeliveryWorker, WorkerSettings
    from gateway.partners.client import load_private_jwk

    private_jwk = None
    if config.client_key_file is not None:
        try:
            private_jwk = load_private_jwk(config.client_key_file)
        except (OSError, ValueError) as error:
            raise CliError(f"GATEWAY_CLIENT_KEY_FILE: {first_line(error)}") from None
    settings = WorkerSettings(
        batch_size=batch_size, lease_seconds=config.delivery_lease_seconds,
        connect_timeout=min(5.0, config.delivery_timeout_seconds),
        read_timeout=config.delivery_timeout_seconds, poll_seconds=config.delivery_poll_seconds,
        breaker_cooldown=config.delivery_breaker_cooldown_seconds,
        policy=RetryPolicy(max_attempts=config.delivery_max_attempts,
                           base_seconds=config.delivery_backoff_seconds))
    return DeliveryWorker(state, name, settings, private_jwk=private_jwk)


@click.command()
@click.option("--once", is_flag=True, help="deliver what is due, then exit")
@click.option("--batch", "batch_size", default=20, show_default=True,
              type=click.IntRange(1, 1000), help="deliveries claimed at a time")
@click.option("--name", help="this worker's name in leases (default: host-pid)")
def deliver(once: bool, batch_size: int, name: str | None) -> None:
    """Run the outbound delivery worker (several may run at once on PostgreSQL)."""
    from gateway.app import create_app

    config = config_from_env()
    check_migrated(config)
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


@click.group()
def deadletters() -> None:
    """Deliveries that failed for good (a permanent error, or too many attempts)."""


@deadletters.command("list")
@click.option("--partner", "partner_id", help="only this partner's")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def deadletters_list(partner_id: str | None, as_json: bool) -> None:
    """The dead letters, oldest first."""
    from gateway.delivery import queue

    with open_sessions() as sessions, sessions() as session:
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
    from gateway.db.engine import begin_write
    from gateway.delivery import queue

    if not ids and not replay_all:
        raise click.UsageError("give dead-letter ids, or --all")
    if ids and replay_all:
        raise click.UsageError("give dead-letter ids or --all, not both")
    with open_sessions() as sessions, sessions() as session, session.begin():
        begin_write(session)
        replayed = queue.replay(session, datetime.now(UTC), None if replay_all else ids,
                                partner_id)
    missing = sorted(set(ids) - set(replayed))
    click.echo(f"replayed {len(replayed)}")
    if missing:
        raise CliError(f"not dead letters: {', '.join(map(str, missing))}")

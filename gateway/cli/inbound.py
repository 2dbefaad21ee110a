"""``gateway inbound held|replay``: HL7 v2 messages held because nobody registered sends them."""
from __future__ import annotations

import getpass
import json

import click

from gateway.cli.database import open_state
from gateway.cli.errors import CliError, first_line

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


@click.group()
def inbound() -> None:
    """Inbound HL7 v2 messages from facilities not (yet) registered: held, then replayed."""


@inbound.command("held")
@click.option("--all", "show_all", is_flag=True, help="also those replayed already")
@click.option("--facility", help="only those from this sending facility (MSH-4)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def inbound_held(show_all: bool, facility: str | None, as_json: bool) -> None:
    """Held messages, oldest first: id, received, facility, message type, control id."""
    from gateway.workflows import held_messages

    with open_state() as state:
        try:
            found = held_messages.held(state, status=None if show_all else held_messages.HELD,
                                       facility=facility)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot list held messages: {first_line(error)}") from None
    for item in found:
        if as_json:
            click.echo(json.dumps(item.to_json(), ensure_ascii=False))
            continue
        click.echo("\t".join([str(item.id), item.received_at.isoformat(timespec="seconds"),
                              item.facility, item.message_type, item.control_id,
                              item.channel] + ([item.status] if show_all else [])))
    if not as_json:
        click.echo(f"{len(found)} {'' if show_all else 'held '}message"
                   f"{'s' if len(found) != 1 else ''}", err=True)


@inbound.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--facility", help="every message held from this sending facility (MSH-4)")
def inbound_replay(ids: tuple[int, ...], facility: str | None) -> None:
    """Send held messages through the receive path again (register the facility first:
    gateway partners add ... --hl7-facility F, or partners update ID --hl7-facility F).
    One line each; exit 1 when any is still not taken."""
    from gateway.workflows import held_messages
    from gateway.workflows.hl7_messages import replay_held

    if bool(ids) == bool(facility):
        raise click.UsageError("give held message IDs or --facility F")
    with open_state() as state:
        chosen = list(ids) or held_messages.ids_of_facility(state, facility or "")
        if not chosen:
            raise CliError(f"no message held from facility {facility!r}")
        results = replay_held(state, chosen, by=f"cli:{getpass.getuser()}")
    for result in results:
        click.echo(result.text)
    if any(r.outcome in ("still-held", "not-held") for r in results):
        raise SystemExit(1)

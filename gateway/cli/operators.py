"""``gateway operators ...``: the named operators who sign in to the console."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gateway.cli.database import open_sessions
from gateway.cli.errors import CliError

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).
ROLES = ("intake", "case-manager", "privacy-officer", "admin")  # gateway/console/roles.py

_password_file = click.option(
    "--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="read the password from the first line of this file (default: standard input)")


@click.group()
def operators() -> None:
    """The people who sign in to the console at /console/ (README: Operator roles)."""


@operators.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@_password_file
def operators_add(name: str, role: str, password_file: Path | None) -> None:
    """Add operator NAME with ROLE; the password comes from stdin or --password-file."""
    password = _read_password(password_file)
    _change(lambda store: store.add(name, role, password))
    click.echo(f"operator {name} added ({role})")


@operators.command("list")
def operators_list() -> None:
    """One line per operator: name, role, enabled or disabled, created."""
    from gateway.console.operators import OperatorStore

    with open_sessions() as sessions, sessions() as session:
        for operator in OperatorStore(session).all():
            state = "disabled" if operator.disabled else "enabled"
            click.echo(f"{operator.name}\t{operator.role}\t{state}\t"
                       f"{operator.created_at:%Y-%m-%d}")


@operators.command("disable")
@click.argument("name")
def operators_disable(name: str) -> None:
    """Disable operator NAME (their sessions end; the audit trail keeps their name)."""
    _change(lambda store: store.disable(name))
    click.echo(f"operator {name} disabled")


@operators.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def operators_set_role(name: str, role: str) -> None:
    """Give operator NAME another ROLE (their sessions end)."""
    _change(lambda store: store.set_role(name, role))
    click.echo(f"operator {name} is now {role}")


@operators.command("reset-password")
@click.argument("name")
@_password_file
def operators_reset_password(name: str, password_file: Path | None) -> None:
    """Set a new password for NAME, from stdin or --password-file (their sessions end)."""
    password = _read_password(password_file)
    _change(lambda store: store.reset_password(name, password))
    click.echo(f"operator {name}: password changed")


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        lines = password_file.read_text().splitlines()
        password = lines[0] if lines else ""
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("no password given (on standard input or with --password-file)")
    return password


def _change(action: Callable[[Any], object]) -> None:
    """Run ``action`` on an OperatorStore in one transaction; its refusal as one line."""
    from gateway.console.operators import OperatorError, OperatorStore

    with open_sessions() as sessions, sessions() as session, session.begin():
        try:
            action(OperatorStore(session))
        except OperatorError as error:
            raise CliError(str(error)) from None

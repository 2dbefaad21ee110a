"""How a command fails: one line on stderr, exit status 1."""
from __future__ import annotations

import click


class CliError(click.ClickException):
    """A failure reported as one line on stderr, exit status 1."""

    def show(self, file=None) -> None:  # type: ignore[no-untyped-def]
        click.echo(f"gateway: error: {self.format_message()}", err=True)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]

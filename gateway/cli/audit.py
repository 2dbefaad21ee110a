"""``gateway audit verify``: the accounting of disclosures' hash chain."""
from __future__ import annotations

import click

from gateway.cli.database import open_sessions
from gateway.cli.errors import CliError, first_line

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


@click.group()
def audit() -> None:
    """The accounting of disclosures (AuditEvents in a tamper-evident hash chain)."""


@audit.command("verify")
def audit_verify() -> None:
    """Check that no AuditEvent was changed, removed or added outside the chain."""
    from gateway.audit.verify import verify_chain

    with open_sessions() as sessions:
        try:
            with sessions() as session:
                result = verify_chain(session)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot verify the audit chain: {first_line(error)}") from None
    if result.broken is not None:
        raise CliError(str(result.broken))
    click.echo(f"audit chain intact: {result.entries} entries")

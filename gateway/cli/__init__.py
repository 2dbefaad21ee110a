"""The ``gateway`` command line (INTERFACE.md): every command builds the app from one Config.

One module per command group; this one holds the root group and registers them all.
"""
from __future__ import annotations

import click

from gateway.cli.audit import audit
from gateway.cli.consents import consents
from gateway.cli.delivery import deadletters, deliver
from gateway.cli.inbound import inbound
from gateway.cli.mllp import mllp
from gateway.cli.operators import operators
from gateway.cli.partners import partners
from gateway.cli.records import import_records, poll, validate
from gateway.cli.referrals import matches, referrals, workflows
from gateway.cli.server import db, demo, serve
from gateway.config import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fhir-care-gateway")
def cli() -> None:
    """FHIR gateway for community mental-health case management."""


cli.add_command(db)
cli.add_command(serve)
cli.add_command(demo)
cli.add_command(import_records)
cli.add_command(poll)
cli.add_command(workflows)
cli.add_command(deliver)
cli.add_command(mllp)
cli.add_command(deadletters)
cli.add_command(validate)
cli.add_command(partners)
cli.add_command(audit)
cli.add_command(referrals)
cli.add_command(matches)
cli.add_command(consents)
cli.add_command(inbound)
cli.add_command(operators)


def main() -> None:
    try:
        cli(prog_name="gateway")
    except ConfigError as error:  # from any command that builds the app
        click.echo(f"gateway: error: {error}", err=True)
        raise SystemExit(1) from None

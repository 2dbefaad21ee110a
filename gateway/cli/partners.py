"""``gateway partners ...``: the partner registry."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli.database import open_sessions
from gateway.cli.errors import CliError, first_line
from gateway.config import config_from_env
from gateway.partners.registry import KINDS, OUTBOUND_METHODS

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package). The registry import above is needed when the module
# loads (the --type and --auth choices); with SQLAlchemy and the models it is 0.7 s of the 1.3 s.


@click.group()
def partners() -> None:
    """The partner registry (who may authenticate to us, and what they may ever receive)."""


@partners.command("list")
def partners_list() -> None:
    """One line per partner: id, type, enabled, name."""
    from gateway.partners.registry import PartnerRegistry

    with open_sessions() as sessions, sessions() as session:
        for partner in PartnerRegistry(session).all():
            state = "enabled" if partner.enabled else "disabled"
            click.echo(f"{partner.id}\t{partner.kind}\t{state}\t{partner.name}")


@partners.command("show")
@click.argument("partner_id")
def partners_show(partner_id: str) -> None:
    """One partner as JSON (including its FHIR ``organization``)."""
    from gateway.partners.registry import PartnerRegistry

    with open_sessions() as sessions, sessions() as session:
        partner = PartnerRegistry(session).get(partner_id)
    if partner is None:
        raise CliError(f"no partner {partner_id!r}")
    click.echo(json.dumps(partner.to_json(), indent=2))


def onboarding_options(command: Any) -> Any:
    """The options ``partners add`` and ``partners update`` share: what an HL7 v2 sender and
    a SMART client need (for update, a repeatable option replaces the list)."""
    options = [
        click.option("--hl7-facility", help="its HL7 v2 sending facility (MSH-4)"),
        click.option("--mllp-source", "mllp_sources", multiple=True,
                     help="an address or CIDR its MLLP connections come from (repeatable)"),
        click.option("--hl7-timezone",
                     help="the IANA time zone of its HL7 v2 times without offset"),
        click.option("--hl7-charset",
                     help="the character set it really sends HL7 v2 in, read instead of its "
                          "MSH-18 (e.g. latin-1, windows-1252)"),
        click.option("--identifier-system", "identifier_systems", multiple=True,
                     help="a system of its own patient identifiers, its MRNs (repeatable)"),
        click.option("--jwks-url", help="where its public keys are published (https)"),
        click.option("--jwks", "jwks_file", help="a file with its public keys (a JWK Set)",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--submits", multiple=True,
                     help="a resource type it may create here, e.g. Task (repeatable)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


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
@onboarding_options
def partners_add(files: tuple[Path, ...], **options: Any) -> None:
    """Add or replace partners: from JSON files (see fixtures/partners/), or one from options
    (gateway partners add --id ID --type physical-health --name NAME --fhir-base URL)."""
    from gateway.partners.registry import Partner, PartnerError, PartnerRegistry, from_options

    options["jwks"] = _jwks(options.pop("jwks_file"))
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
            raise CliError(f"{path}: not valid JSON: {first_line(error)}") from None
        except PartnerError as error:
            raise CliError(f"{path}: {error}") from None
    with open_sessions() as sessions, sessions() as session, session.begin():
        registry = PartnerRegistry(session)
        for partner in loaded:
            try:
                created = registry.put(partner)
            except PartnerError as error:
                raise CliError(f"{partner.id}: {error}") from None
            click.echo(f"{'added' if created else 'replaced'} {partner.id}")
    if not files and not options["organization"]:
        _ensure_organization(loaded[0])


def _jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: not valid JSON: {first_line(error)}") from None


@partners.command("update")
@click.argument("partner_id")
@click.option("--name", help="the partner's name")
@click.option("--fhir-base", help="its FHIR base URL")
@click.option("--drop-folder", help="its drop folder")
@onboarding_options
@click.option("--purpose", "purposes", multiple=True, help="purposes of use (replaces)")
@click.option("--resource-type", "resource_types", multiple=True,
              help="resource types it may ever receive (replaces)")
def partners_update(partner_id: str, **options: Any) -> None:
    """Change some of a registered partner's settings; the others stay as they are (a
    repeatable option, when given, replaces the whole list):
    gateway partners update hospital-x --hl7-facility STBRIGID --mllp-source 10.2.0.0/16."""
    from gateway.partners.registry import (
        Partner,
        PartnerError,
        PartnerRegistry,
        check_fhir_base,
        hl7_endpoints,
    )

    jwks = _jwks(options.pop("jwks_file"))
    if jwks is None and not any(options.values()):
        raise click.UsageError("give at least one setting to change")
    with open_sessions() as sessions, sessions() as session, session.begin():
        registry = PartnerRegistry(session)
        current = registry.get(partner_id)
        if current is None:
            raise CliError(f"no partner {partner_id!r}")
        body = current.to_json()
        try:
            if options["fhir_base"]:
                check_fhir_base(options["fhir_base"])
            body["endpoints"] = {
                **body["endpoints"],
                **{key: options[key] for key in ("fhir_base", "drop_folder", "hl7_facility")
                   if options[key]},
                **hl7_endpoints(None, options["mllp_sources"], options["hl7_timezone"],
                                options["hl7_charset"])}
            for option, key in (("identifier_systems", "patient_identifier_systems"),
                                ("submits", "submits"), ("purposes", "purposes"),
                                ("resource_types", "resource_types"),
                                ("name", "name"), ("jwks_url", "jwks_url")):
                if options[option]:
                    value = options[option]
                    body[key] = list(value) if isinstance(value, tuple) else value
            if jwks is not None:
                body["jwks"] = jwks
            registry.put(Partner.from_json(body))
        except PartnerError as error:
            raise CliError(f"{partner_id}: {error}") from None
    click.echo(f"updated {partner_id}")


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
        raise CliError(f"cannot read the private key: {first_line(error)}") from None
    url = token_endpoint(base_url)
    try:
        response = requests.post(url, data=token_request(
            client_assertion(key, partner_id, url), scope), timeout=10)
    except requests.RequestException as error:
        raise CliError(f"cannot reach {url}: {first_line(error)}") from None
    if response.status_code != 200:
        click.echo(response.text.strip(), err=token_only)
        sys.exit(1)
    click.echo(response.json()["access_token"] if token_only else response.text.strip())


def _set_enabled(partner_id: str, enabled: bool) -> None:
    from gateway.partners.registry import PartnerRegistry

    with open_sessions() as sessions, sessions() as session, session.begin():
        partner = PartnerRegistry(session).set_enabled(partner_id, enabled)
    if partner is None:
        raise CliError(f"no partner {partner_id!r}")
    click.echo(f"{partner_id} {'enabled' if enabled else 'disabled'}")

"""``gateway consents``: Consents the gateway cannot read, and who would see what of a consumer."""
from __future__ import annotations

import json

import click

from gateway.cli.database import open_state
from gateway.cli.errors import CliError, first_line

# Commands import the gateway inside the functions (see gateway/cli/referrals.py).


@click.group()
def consents() -> None:
    """Consents as the decision point reads them (FHIR R4 semantics; see README)."""


@consents.command("problems")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def consents_problems(as_json: bool) -> None:
    """Consents that cannot be read or acted on in full, why, and what they count as."""
    from gateway.workflows.consent_review import consent_problems

    with open_state() as state:
        try:
            found = consent_problems(state)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot read consents: {first_line(error)}") from None
    for problem in found:
        if as_json:
            click.echo(json.dumps(problem.to_json(), ensure_ascii=False))
            continue
        click.echo(f"Consent/{problem.consent_id} (Patient/{problem.patient_id}, "
                   f"{problem.status}): counts as {problem.counts_as}")
        for text in problem.problems:
            click.echo(f"  - {text}")
    click.echo(f"{len(found)} consent{'s' if len(found) != 1 else ''} with problems", err=True)


@consents.command("explain")
@click.argument("patient")
@click.option("--partner", "partner_id", help="only this partner")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per partner and purpose")
def consents_explain(patient: str, partner_id: str | None, as_json: bool) -> None:
    """What each partner would see of consumer PATIENT (a Patient id) now, and why."""
    from gateway.fhir.errors import FhirError
    from gateway.workflows.consent_review import disclosure_preview

    with open_state() as state:
        try:
            views = disclosure_preview(state, patient, partner_id)
        except FhirError as error:
            raise CliError(str(error)) from None
    for view in views:
        if as_json:
            click.echo(json.dumps(view.to_json(), ensure_ascii=False))
            continue
        click.echo(f"{view.partner} ({view.kind}, Organization/{view.organization}, purpose "
                   f"{view.purpose}): sees {len(view.sees)}, withheld {len(view.withheld)}")
        for item in view.sees:
            removed = f"; removed {', '.join(item['removed'])}" if item["removed"] else ""
            click.echo(f"  sees     {item['resource']}: {item['why']}{removed}")
        for item in view.withheld:
            click.echo(f"  withheld {item['resource']}: {item['why']}")

"""``gateway referrals``, ``gateway matches`` (hospital events) and ``gateway workflows run``."""
from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime

import click

from gateway.cli.database import check_migrated, open_state
from gateway.cli.errors import CliError, first_line
from gateway.config import config_from_env

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


@click.group()
def referrals() -> None:
    """Open discharge referrals and their 7- and 30-day follow-up deadlines (HEDIS FUH)."""


@referrals.command("list")
@click.option("--overdue", is_flag=True, help="only those past a follow-up deadline")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def referrals_list(overdue: bool, as_json: bool) -> None:
    """Open referrals with follow-up deadlines, most urgent first (overdue first)."""
    from rich.console import Console
    from rich.table import Table

    from gateway.workflows.referral_deadlines import open_referrals

    today = datetime.now(UTC).date()
    with open_state() as state:
        try:
            found = open_referrals(state, today, overdue_only=overdue)
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot list referrals: {first_line(error)}") from None
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
    from gateway.workflows.referral_deadlines import flag_overdue

    with open_state() as state:
        try:
            flagged = flag_overdue(state, datetime.now(UTC).date())
        except Exception as error:  # noqa: BLE001 - database down and the like: one line
            raise CliError(f"cannot flag overdue referrals: {first_line(error)}") from None
    click.echo(f"flagged {flagged} overdue referral{'s' if flagged != 1 else ''}")


# The referral loop, one command per action (gateway/workflows/referral_actions.py): what
# each does, for --help.
ACTION_HELP = {
    "accept": "Accept referral TASK_ID (requested or received -> accepted).",
    "reject": "Reject referral TASK_ID before work starts (needs --reason).",
    "start": "Start work on referral TASK_ID (-> in-progress).",
    "hold": "Put referral TASK_ID on hold (needs --reason).",
    "resume": "Resume referral TASK_ID after a hold (on-hold -> in-progress).",
    "complete": "Complete referral TASK_ID: Task.output names the follow-up Encounter (given, "
                "entered with --encounter-date, or found in the record) and the FUH windows.",
    "cancel": "Cancel referral TASK_ID (needs --reason).",
    "fail": "Mark referral TASK_ID failed: tried, could not be done (needs --reason).",
    "entered-in-error": "Mark referral TASK_ID entered in error (needs --reason).",
}


def _action_command(action: str) -> click.Command:
    @click.argument("task_id")
    @click.option("--reason", help="why (statusReason); required for reject, hold, cancel, "
                                   "fail and entered-in-error")
    def command(task_id: str, reason: str | None, **completion: object) -> None:
        _act(action, task_id, reason, completion.get("encounter"),
             completion.get("encounter_date"))

    if action == "complete":
        command = click.option("--encounter", help="the follow-up Encounter's id")(command)
        command = click.option("--encounter-date", type=click.DateTime(["%Y-%m-%d"]),
                               help="enter the follow-up visit of this day (YYYY-MM-DD)"
                               )(command)
    return click.command(action, help=ACTION_HELP[action])(command)


def _act(action: str, task_id: str, reason: str | None, encounter: object,
         encounter_date: object) -> None:
    from gateway.auth import Principal
    from gateway.fhir.errors import FhirError
    from gateway.workflows.referral_actions import act

    operator = Principal(kind="operator", name=f"cli:{getpass.getuser()}")
    when = encounter_date.date() if isinstance(encounter_date, datetime) else None
    with open_state() as state:
        try:
            task = act(state, task_id, action, operator, reason=reason,
                       encounter=encounter if isinstance(encounter, str) else None,
                       encounter_date=when)
        except FhirError as error:
            raise CliError(str(error)) from None
    line = f"referral Task/{task['id']} is {task['status']}"
    if task.get("statusReason"):
        line += f" ({task['statusReason']['text']})"
    for output in task.get("output", []) if task["status"] == "completed" else []:
        value = output.get("valueReference", {}).get("reference") \
            if "valueReference" in output else output.get("valueBoolean")
        line += f"; {output['type']['text']}: {value}"
    click.echo(line)


for _action in ACTION_HELP:
    referrals.add_command(_action_command(_action))


@click.group()
def matches() -> None:
    """Hospital events whose person matched a consumer only uncertainly (the review queue)."""


@matches.command("list")
@click.option("--status", type=click.Choice(["open", "linked", "created", "cancelled"]),
              default="open",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def matches_list(status: str, as_json: bool) -> None:
    """Match reviews, oldest first, with their scored candidates."""
    from gateway.workflows import match_review

    with open_state() as state:
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
    from gateway.auth import Principal
    from gateway.fhir.errors import FhirError
    from gateway.workflows import match_review

    operator = Principal(kind="operator", name=f"cli:{getpass.getuser()}")
    with open_state() as state:
        try:
            taken = (match_review.link(state, review_id, patient_id, operator)
                     if patient_id is not None
                     else match_review.take_in_as_new(state, review_id, operator))
        except FhirError as error:
            raise CliError(str(error)) from None
    click.echo(taken.detail)


@click.group()
def workflows() -> None:
    """Care-management rules (due assessments and plan reviews)."""


@workflows.command("run")
def workflows_run() -> None:
    """Bring every consumer's due-assessment and plan-review Tasks up to date, and flag
    hospital referrals past a follow-up deadline (run daily)."""
    from gateway.app import create_app
    from gateway.local.translate import translator_for
    from gateway.workflows.referral_deadlines import flag_overdue
    from gateway.workflows.refresh import refresh_due_tasks

    config = config_from_env()
    check_migrated(config)
    state = create_app(config).extensions["gateway"]
    try:
        summary = refresh_due_tasks(state, translator_for(config))
        flagged = flag_overdue(state, datetime.now(UTC).date())
    finally:
        state.close()
    click.echo(f"{summary.consumers} consumers, {summary.tasks} due Tasks, "
               f"{summary.changed} changed; {flagged} referrals newly overdue")

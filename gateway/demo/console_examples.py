"""What the demo's console shows from the first minute: hospital referrals in different
states and with different follow-up deadlines, a match review waiting, and a dead letter.

Each is made the way real ones are: the hospital partner's Da Vinci discharge notification
through ``$process-message`` (the same workflow the API runs), the referral steps through
the referral workflow as a demo operator, and the dead letter by the delivery queue's own
claim and finish (as a worker that gave up on a partner would).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.auth import SYSTEM
from gateway.config import Config
from gateway.console.fhir_pages import search_all
from gateway.console.web import operator_principal
from gateway.db.engine import begin_write
from gateway.delivery import queue
from gateway.mappings.codes import TASK_REFERRAL
from gateway.mappings.ids import DEFAULT_IDENTIFIER_BASE, fhir_id
from gateway.partners.registry import PartnerRegistry, principal_for
from gateway.state import GatewayState
from gateway.workflows.process_message import process_message
from gateway.workflows.referral_actions import act

HOSPITAL = "hospital-stbrigid"
EXAMPLE = "conformance/davinci-discharge-notification-message-bundle-01.json"
DEAD_LETTER_PARTNER = "pcp-cedar"


@dataclass(frozen=True)
class Example:
    consumer: str  # the agency's consumer id
    discharged_days_ago: int
    steps: tuple[tuple[str, str | None], ...]  # referral actions and their reasons


REFERRALS = (
    Example("C-1004", 1, ()),
    Example("C-1005", 3, (("accept", None),)),
    Example("C-1002", 6, (("accept", None), ("start", None))),
    Example("C-1006", 9, ()),
    Example("C-1007", 4, (("reject", "Already in treatment with another CMH agency"),)),
)
UNCERTAIN = "C-1003"  # sent with name and birth date only: a review for an operator


def add_console_examples(config: Config, state: GatewayState) -> str:
    """Make the examples in the demo database; a line saying what was made."""
    bundle = json.loads((config.fixtures_dir / EXAMPLE).read_text())
    with state.session_factory() as session:
        hospital = PartnerRegistry(session).get(HOSPITAL)
    assert hospital is not None, f"the demo partner {HOSPITAL} is not registered"
    sender = principal_for(hospital)
    operator = operator_principal("demo-intake")
    today = datetime.now(UTC).date()
    made = []
    for example in REFERRALS:
        patient = _patient(state, example.consumer)
        message = _discharge(bundle, f"demo-{example.consumer}", patient,
                             today - timedelta(days=example.discharged_days_ago))
        _answer, status, _recorded = process_message(state, sender, message)
        assert status == 200, f"the demo discharge of {example.consumer} was refused"
        task_id = _referral_of(state, patient["id"])
        for action, reason in example.steps:
            act(state, task_id, action, operator, reason=reason)
        made.append(example.consumer)
    uncertain = _patient(state, UNCERTAIN)
    probe = {"resourceType": "Patient", "id": uncertain["id"], "name": [
        {k: v for k, v in uncertain["name"][0].items() if k in ("family", "given")}],
        "birthDate": uncertain["birthDate"]}
    process_message(state, sender, _discharge(bundle, "demo-uncertain", probe,
                                              today - timedelta(days=2), full=False))
    dead = _dead_letter(state)
    return (f"{len(made)} hospital referrals (requested, accepted, in progress, rejected; "
            f"due in 1 to 7 days and overdue), a match review waiting ({UNCERTAIN} without "
            f"identifiers), a dead letter to {DEAD_LETTER_PARTNER}"
            + ("" if dead else " (none: nothing was queued)"))


def _patient(state: GatewayState, consumer: str) -> dict[str, Any]:
    with state.reading(SYSTEM) as repository:
        return repository.read("Patient", fhir_id("consumer", consumer,
                                                   DEFAULT_IDENTIFIER_BASE)).json()


def _discharge(bundle: dict[str, Any], message_id: str, patient: dict[str, Any],
               discharged: date, full: bool = True) -> dict[str, Any]:
    """The Da Vinci example as a new message about ``patient`` discharged on ``discharged``
    (``full``: with the demographics a hospital has; otherwise only name and birth date)."""
    message = copy.deepcopy(bundle)
    end = datetime.combine(discharged, time(10, 30), UTC)
    for entry in message["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        if kind == "MessageHeader":
            resource["id"] = message_id
        elif kind == "Encounter":
            resource["identifier"] = [{"system": "urn:example:stbrigid:encounter",
                                       "value": message_id}]
            resource["period"] = {"start": (end - timedelta(days=3)).isoformat(),
                                  "end": end.isoformat()}
        elif kind == "Patient":
            keep = ("name", "birthDate", "gender", "telecom", "address") if full else (
                "name", "birthDate")
            for name in ("name", "birthDate", "gender", "telecom", "address"):
                resource.pop(name, None)
            resource.update({k: patient[k] for k in keep if k in patient})
            resource["identifier"] = [{"system": "urn:example:stbrigid:mrn",
                                       "value": f"MRN-{message_id}"}]
    return message


def _referral_of(state: GatewayState, patient_id: str) -> str:
    with state.reading(SYSTEM) as repository:
        tasks = list(search_all(repository, "Task", [
            ("patient", patient_id), ("code", f"{TASK_REFERRAL['system']}|referral")]))
    tasks.sort(key=lambda t: str(t.get("authoredOn", "")))
    assert tasks, f"no referral was made for Patient/{patient_id}"
    return str(tasks[-1]["id"])


def _dead_letter(state: GatewayState) -> bool:
    """One pending delivery to the demo clinic, given up on as a worker does after its
    last attempt."""
    now = datetime.now(UTC)
    with state.session_factory() as session, session.begin():
        begin_write(session)
        others = [p.id for p in PartnerRegistry(session).all() if p.id != DEAD_LETTER_PARTNER]
        claimed = queue.claim_due(session, "demo", 1, now + timedelta(days=1),
                                  now + timedelta(minutes=5), skip_partners=others)
        for delivery in claimed:
            queue.mark_finished(session, delivery, "demo", queue.DEAD, now, 503,
                                "503 Service Unavailable: the clinic's FHIR server was down "
                                "for maintenance (demo)", attempted=True)
    return bool(claimed)

"""A hospital's referral posted as FHIR (a Task with the ServiceRequest it asks the agency to
fulfil, in the style of the Gravity SDOH Clinical Care referral workflow and BSeR) becomes the
agency's referral.

The hospital creates the Task and ServiceRequest here (a ``transaction``, or one by one) with
its own token; once the write has committed (gateway/workflows/inbound.py) the agency takes the
referral in, as the gateway:

- **who it is for**: ``Task.for`` is either our Patient or a Patient contained in the Task
  (which is what the Patient of the hospital's transaction, or a conditional reference on its
  MRN, became as it was written: gateway/workflows/referral_subject.py, which also refused a
  referral that names no one). A contained one is matched like a discharge's
  person (gateway/workflows/referrals.py): a certain match links, no match makes a prospective
  consumer, an uncertain one waits in the match review queue (the Task says so in its
  ``businessStatus``) and is attached when an operator decides;
- **what it is**: the Task becomes a cmh-task referral (code ``referral`` and FHIR's
  ``fulfill``, intent ``order``, tag ``hospital-referral``), status ``requested`` whatever the
  hospital sent (gateway/workflows/referral_subject.py keeps what it sent in a note),
  requested by the sending hospital (whatever it claimed), owned by the agency's Local Access
  unit; the hospital's Task identifiers are kept as the placer's (BSeR, v2-0203 ``PLAC``) and
  ours is added as the filler's (``FILL``);
- then, like every inbound referral, it is handed to the local system as an intake record and
  each change to it goes back to the hospital (gateway/adapters/intake.py, hospital.py).
"""
from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.adapters.adt_event import REFERRAL, AdtEvent
from gateway.adapters.intake import ensure_registered
from gateway.adapters.outbound import GATEWAY_TAGS
from gateway.audit.events import disclosure_event
from gateway.audit.log import record
from gateway.auth import SYSTEM
from gateway.local.store import LocalRecordStore
from gateway.local.translate import translator_for
from gateway.mappings.codes import (
    FILLER_IDENTIFIER,
    PLACER_IDENTIFIER,
    PROFILE_TASK,
    TASK_FULFILL,
    TASK_REFERRAL,
)
from gateway.partners.registry import Partner
from gateway.workflows.court_orders import referenced_id
from gateway.workflows.referrals import (
    AWAITING_REVIEW,
    REFERRAL_IDENTIFIER,
    Taken,
    local_access,
    take_event,
    without_version_meta,
)

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)

HOSPITAL_REFERRAL_TAG = {"system": GATEWAY_TAGS, "code": "hospital-referral",
                         "display": "Referral from a hospital"}


def receive(state: GatewayState, partner: Partner, submitted: list[dict[str, Any]]) -> None:
    orders = {r["id"]: r for r in submitted if r.get("resourceType") == "ServiceRequest"}
    for task in (r for r in submitted if r.get("resourceType") == "Task"):
        focus = (task.get("focus") or {}).get("reference", "")
        order = orders.get(focus.partition("/")[2]) if focus.startswith("ServiceRequest/") \
            else None
        take_referral(state, partner, task, order)


def take_referral(state: GatewayState, partner: Partner, task: dict[str, Any],
                  order: dict[str, Any] | None) -> Taken:
    now = datetime.now(UTC)
    with state.writing(SYSTEM) as repository:
        ensure_registered(repository.session, state.config)
        ctx = translator_for(state.config).context(LocalRecordStore(repository.session))
        referral = _as_referral(task, partner, local_access(repository, ctx), now)
        contained = _contained_patient(task)
        repository.update("Task", referral["id"], referral)
        if contained is None:
            patient_id = referenced_id((task.get("for") or {}).get("reference"), "Patient")
            taken = Taken("referral", f"referral Task/{task['id']} taken in",
                          patient_id=patient_id, task_id=task["id"],
                          written=(f"Task/{task['id']}",))
        else:
            event = AdtEvent(kind=REFERRAL, message_id=task["id"], source="fhir",
                             patient=contained, sender_name=partner.name)
            taken = take_event(repository, partner, event, ctx, now)
            if taken.outcome == "review":
                current = repository.read("Task", task["id"]).json()
                current["businessStatus"] = AWAITING_REVIEW
                repository.update("Task", task["id"], without_version_meta(current))
        record(repository, disclosure_event(
            requester_kind="partner", requester_name=partner.id,
            requester_organization=partner.organization, purpose="TREAT",
            interaction="inbound", action="C", outcome="permit",
            patients=[taken.patient_id] if taken.patient_id else [],
            resources=list(dict.fromkeys([f"Task/{task['id']}", *taken.written,
                                          *([f"ServiceRequest/{order['id']}"] if order
                                            else [])])),
            recorded=now, description=f"referral Task/{task['id']} from {partner.name}: "
                                      f"{taken.detail}"[:1000]))
    return taken


def _as_referral(task: dict[str, Any], partner: Partner, owner: dict[str, Any],
                 now: datetime) -> dict[str, Any]:
    referral = without_version_meta(copy.deepcopy(task))
    meta = referral.setdefault("meta", {})
    meta["profile"] = [PROFILE_TASK]
    tags = [t for t in meta.get("tag", []) if t.get("code") != "hospital-referral"]
    meta["tag"] = [*tags, HOSPITAL_REFERRAL_TAG]
    referral["code"] = {"coding": [TASK_REFERRAL, TASK_FULFILL]}
    referral["intent"] = "order"
    # BSeR: the hospital's identifiers of its Task are the placer's; ours is the filler's.
    referral["identifier"] = [
        *({**i, "type": i.get("type") or PLACER_IDENTIFIER}
          for i in referral.get("identifier", []) if i.get("system") != REFERRAL_IDENTIFIER),
        {"system": REFERRAL_IDENTIFIER, "value": referral["id"], "type": FILLER_IDENTIFIER}]
    referral["requester"] = {"reference": f"Organization/{partner.organization}",
                             "display": partner.name}
    referral["owner"] = owner
    referral.setdefault("authoredOn", now.isoformat(timespec="seconds"))
    referral["lastModified"] = now.isoformat(timespec="seconds")
    referral["status"] = "requested"  # as it was stored (gateway/workflows/referral_subject.py)
    return referral


def _contained_patient(task: dict[str, Any]) -> dict[str, Any] | None:
    reference = (task.get("for") or {}).get("reference", "")
    if not reference.startswith("#"):
        return None
    for contained in task.get("contained", []):
        if contained.get("id") == reference[1:] and contained.get("resourceType") == "Patient":
            return {k: v for k, v in contained.items() if k != "id"}
    return None

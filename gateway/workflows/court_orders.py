"""Court and probation orders: a court partner's Task (with the ServiceRequest it orders)
becomes a referral the agency acts on.

When a court partner creates a Task (or a lone ServiceRequest) here:
- the Task is marked received and owned by the agency (a lone ServiceRequest gets a Task);
- a local referral record (gateway/mappings/reverse.py) is handed to the case-management system
  in ``var/local-outbox/`` (written under a temporary name and renamed);
- the probation officer the order names (the Practitioner the ServiceRequest or Task gives as
  requester, contained in it) joins the consumer's care team, when the consumer's consents let
  the court see the care team: as a local ``assignment`` record (role ``probation-officer``),
  imported like any other so that the CareTeam keeps the officer when it is rebuilt, and handed
  to the case-management system beside the referral.
"""
from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.auth import SYSTEM
from gateway.delivery.transport import write_atomically
from gateway.fhir import json_text
from gateway.fhir.errors import FhirError
from gateway.local.pipeline import RecordImporter
from gateway.local.sources import SourceRecord
from gateway.local.store import LocalRecordStore
from gateway.local.translate import translator_for
from gateway.mappings.reverse import referral_record_from_task
from gateway.partners.registry import Partner, principal_for

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)

COURT_ORDER_TAG = {"system": "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-tag",
                   "code": "court-order", "display": "Court or probation order"}


def receive(state: GatewayState, partner: Partner, submitted: list[dict[str, Any]]) -> None:
    tasks = [r for r in submitted if r.get("resourceType") == "Task"]
    orders = {r["id"]: r for r in submitted if r.get("resourceType") == "ServiceRequest"}
    for task in tasks:
        focus = referenced_id((task.get("focus") or {}).get("reference"), "ServiceRequest")
        service_request = orders.pop(focus, None) if focus else None
        if service_request is None and focus:
            service_request = _read(state, "ServiceRequest", focus)
        receive_order(state, partner, task, service_request)
    for service_request in orders.values():  # ordered without a Task: the agency makes one
        receive_order(state, partner, None, service_request)


def receive_order(state: GatewayState, partner: Partner, task: dict[str, Any] | None,
                  service_request: dict[str, Any] | None) -> dict[str, Any] | None:
    """Take in one order; the Task as stored afterwards (None when there is nothing to do)."""
    order = task or service_request
    if order is None:
        return None
    patient_id = referenced_id((task or {}).get("for", {}).get("reference")
                           or (service_request or {}).get("subject", {}).get("reference"),
                           "Patient")
    translator = translator_for(state.config)
    now = datetime.now(UTC)
    with state.writing(SYSTEM) as repository:
        ctx = translator.context(LocalRecordStore(repository.session))
        task = _received_task(task, service_request, partner, ctx.agency_reference(), now,
                              patient_id)
        stored = (repository.update("Task", task["id"], task) if task.get("id")
                  else repository.create("Task", task)).stored.json()
        patient = _stored(repository, "Patient", patient_id)
        organization = _stored(repository, "Organization", partner.organization)
    consumer = _agency_id(patient, ctx.identifier_system("consumer"))
    court = _agency_id(organization, ctx.identifier_system("organization"))
    local_id = "CO-" + re.sub(r"[^A-Za-z0-9]", "", stored["id"])[:24]
    outbox = state.config.var_dir / "local-outbox"
    if consumer is None or service_request is None:
        log.warning("court order Task/%s: no consumer or no ServiceRequest to refer; left "
                    "for an operator", stored["id"])
        return stored
    local_ids = {f"Organization/{partner.organization}": court} if court else {}
    referral = referral_record_from_task(stored, service_request, ctx, local_ids=local_ids,
                                         local_id=local_id, consumer_id=consumer)
    _hand_over(outbox, f"{local_id}.referral.json", referral)
    officer = _officer(task, service_request)
    if officer is not None and patient_id is not None and _team_shared(state, partner,
                                                                       patient_id):
        assignment = {"type": "assignment", "id": f"{local_id}-PO",
                      "updated_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                      "consumer": consumer, "role": "probation-officer",
                      "member": {"person": officer}, "start": now.date().isoformat()}
        if court:
            assignment["on_behalf_of"] = court
        outcomes = list(RecordImporter(state, translator).run(
            [SourceRecord(f"court order Task/{stored['id']}", assignment)]))
        if outcomes and outcomes[0].status == "rejected":
            log.warning("court order Task/%s: the probation officer could not be added: %s",
                        stored["id"], outcomes[0].as_dict())
        else:
            _hand_over(outbox, f"{local_id}.assignment.json", assignment)
    return stored


def _received_task(task: dict[str, Any] | None, service_request: dict[str, Any] | None,
                   partner: Partner, agency: dict[str, Any], now: datetime,
                   patient_id: str | None) -> dict[str, Any]:
    """The order's Task, received and owned by the agency (made from the ServiceRequest when
    the court sent none)."""
    if task is None:
        assert service_request is not None
        task = {"resourceType": "Task", "status": "requested", "intent": "order",
                "focus": {"reference": f"ServiceRequest/{service_request['id']}"},
                "requester": {"reference": f"Organization/{partner.organization}"},
                "authoredOn": now.isoformat(timespec="seconds")}
        if patient_id:
            task["for"] = {"reference": f"Patient/{patient_id}"}
    task = {k: v for k, v in task.items() if k != "meta"} | {
        "meta": {"tag": [*(task.get("meta") or {}).get("tag", []), COURT_ORDER_TAG]}}
    if task.get("status") in ("draft", "requested"):
        task["status"] = "received"
    task.setdefault("owner", agency)
    task["lastModified"] = now.isoformat(timespec="seconds")
    return task


def _officer(task: dict[str, Any] | None, service_request: dict[str, Any]
             ) -> dict[str, Any] | None:
    """The probation officer the order names, as a local ``person``: the contained
    Practitioner its requester points at."""
    for resource in (service_request, task or {}):
        reference = (resource.get("requester") or {}).get("reference", "")
        if not reference.startswith("#"):
            continue
        for contained in resource.get("contained", []):
            if contained.get("id") == reference[1:] and \
                    contained.get("resourceType") == "Practitioner":
                return _person(contained)
    return None


def _person(practitioner: dict[str, Any]) -> dict[str, Any] | None:
    name = (practitioner.get("name") or [{}])[0]
    if not name.get("family"):
        return None
    person: dict[str, Any] = {"name": {"family": name["family"]}, "relationship": "professional"}
    if name.get("given"):
        person["name"]["given"] = list(name["given"])
    contacts = [{"kind": t["system"], "value": t["value"], "use": "work"}
                for t in practitioner.get("telecom", [])
                if t.get("system") in ("phone", "email", "fax", "sms") and t.get("value")]
    if contacts:
        person["contacts"] = contacts
    return person


def _team_shared(state: GatewayState, partner: Partner, patient_id: str) -> bool:
    """Whether the consumer's consents let the court see the care team (the officer joining
    it would see it too): asked of the decision point, for each purpose the court has."""
    for purpose in partner.purposes or (None,):
        with state.reading(principal_for(partner, purpose)) as repository:
            if repository.access.covers(patient_id, "CareTeam"):
                return True
    return False


def _hand_over(folder: Path, name: str, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / name, json_text.dumps(record, indent=1).encode())


def _stored(repository: Any, resource_type: str, resource_id: str | None
            ) -> dict[str, Any] | None:
    if not resource_id:
        return None
    try:
        return repository.read(resource_type, resource_id).json()
    except FhirError:
        return None


def _read(state: GatewayState, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    with state.reading(SYSTEM) as repository:
        return _stored(repository, resource_type, resource_id)


def referenced_id(reference: str | None, resource_type: str) -> str | None:
    """The id in a relative reference to ``resource_type`` (``Patient/abc`` -> ``abc``)."""
    if not reference or not reference.startswith(f"{resource_type}/"):
        return None
    return reference.split("/", 1)[1]


def _agency_id(resource: dict[str, Any] | None, system: str) -> str | None:
    for identifier in (resource or {}).get("identifier", []):
        if identifier.get("system") == system:
            return identifier.get("value")
    return None

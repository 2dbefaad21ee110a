"""Da Vinci Unsolicited Notifications (FHIR messaging) in, response messages out.

A hospital posts a ``message`` Bundle to ``$process-message``
(http://hl7.org/fhir/us/davinci-alerts/): the first entry is a MessageHeader whose
``eventCoding`` names the event (``notification-discharge``, ``-admit``, ``-transfer``) and
whose ``focus`` is the Encounter; the Encounter's ``subject`` is the Patient; Conditions
(``adt-notification-condition``) carry the diagnoses; ``sender``/``responsible`` or the
Encounter's ``serviceProvider`` is the facility. ``event_from`` turns that into an AdtEvent;
``response_message`` builds the answer (MessageHeader.response.code ``ok``,
``transient-error`` or ``fatal-error``, with an OperationOutcome when not ok).

References inside the Bundle are resolved by ``fullUrl`` (``urn:uuid:...`` or absolute) and,
for senders that use relative references, by ``Type/id``.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.adapters.adt_event import ADMIT, DISCHARGE, TRANSFER, AdtEvent
from gateway.fhir.errors import issue, outcome

NOTIFICATION_EVENTS = "http://hl7.org/fhir/us/davinci-alerts/CodeSystem/notification-event"
EVENTS = {"notification-discharge": DISCHARGE, "notification-admit": ADMIT,
          "notification-transfer": TRANSFER}
RESPONSE_CODES = ("ok", "transient-error", "fatal-error")


class MessageError(ValueError):
    """A message we cannot take, with the element at fault (a FHIRPath-like expression).
    ``header`` is the MessageHeader when it could be read (a response message can then be
    built); without it the answer is a plain OperationOutcome."""

    def __init__(self, expression: str, message: str, header: dict[str, Any] | None = None
                 ) -> None:
        super().__init__(f"{expression}: {message}")
        self.expression = expression
        self.message = message
        self.header = header


@dataclass(frozen=True)
class ReceivedMessage:
    header: dict[str, Any]
    event: AdtEvent


def header_of(bundle: Any) -> dict[str, Any]:
    """The message's MessageHeader (the first entry), or MessageError."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise MessageError("Bundle", "$process-message takes a Bundle of type message")
    if bundle.get("type") != "message":
        raise MessageError("Bundle.type", f"must be 'message', not {bundle.get('type')!r}")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MessageError("Bundle.entry", "a message needs entries, the first a MessageHeader")
    header = (entries[0] or {}).get("resource") if isinstance(entries[0], dict) else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        raise MessageError("Bundle.entry[0].resource", "the first entry must be a MessageHeader")
    if not isinstance(header.get("id"), str) or not header["id"]:
        raise MessageError("Bundle.entry[0].resource.id",
                           "the MessageHeader needs an id (it identifies the message)")
    return header


def event_from(bundle: Any) -> ReceivedMessage:
    """The AdtEvent a notification message carries, or MessageError naming what is wrong."""
    header = header_of(bundle)
    where = "Bundle.entry[0].resource"
    coding = header.get("eventCoding") or {}
    kind = EVENTS.get(coding.get("code")) if coding.get("system") in (
        NOTIFICATION_EVENTS, None) else None
    if kind is None:
        raise MessageError(f"{where}.eventCoding",
                           f"unsupported event {coding.get('system')}|{coding.get('code')}; "
                           f"this endpoint takes {', '.join(sorted(EVENTS))}", header)
    resources = _by_reference(bundle["entry"])
    focus = [resources.get(str((f or {}).get("reference"))) for f in header.get("focus", [])]
    encounter = next((r for r in focus if r and r.get("resourceType") == "Encounter"), None)
    if encounter is None:
        raise MessageError(f"{where}.focus",
                           "the focus must reference an Encounter in the Bundle", header)
    index = _entry_index(bundle["entry"], encounter)
    patient = resources.get(str((encounter.get("subject") or {}).get("reference")))
    if patient is None or patient.get("resourceType") != "Patient":
        raise MessageError(f"Bundle.entry[{index}].resource.subject",
                           "the Encounter's subject must reference a Patient in the Bundle",
                           header)
    if kind == DISCHARGE and not (encounter.get("period") or {}).get("end") \
            and not bundle.get("timestamp"):
        raise MessageError(f"Bundle.entry[{index}].resource.period.end",
                           "a discharge needs the discharge time (Encounter.period.end)", header)
    facility = next((resources.get(str((ref or {}).get("reference")))
                     for ref in (header.get("sender"), header.get("responsible"),
                                 encounter.get("serviceProvider"))
                     if resources.get(str((ref or {}).get("reference")))), None)
    # The diagnoses: the message's Conditions of this encounter (or of no encounter).
    encounter_urls = {url for url, r in resources.items() if r is encounter}
    conditions = tuple(r for r in _unique(resources.values())
                       if r.get("resourceType") == "Condition"
                       and (r.get("encounter") or {}).get("reference", "") in
                       encounter_urls | {""})
    return ReceivedMessage(header, AdtEvent(
        kind=kind, message_id=header["id"], source="fhir", patient=_bare(patient),
        encounter=_bare(encounter), conditions=tuple(_bare(c) for c in conditions),
        facility=_bare(facility) if facility and facility.get("resourceType") == "Organization"
        else None,
        occurred=bundle.get("timestamp"),
        sender_name=(header.get("sender") or {}).get("display")
        or (facility or {}).get("name")))


def response_message(request_header: dict[str, Any] | None, code: str, base_url: str, *,
                     issues: list[dict[str, Any]] | None = None,
                     focus: list[str] | None = None) -> dict[str, Any]:
    """The response message to ``request_header``'s message: ``code`` is ok, transient-error
    or fatal-error; ``issues`` (OperationOutcome issues) travel in an OperationOutcome that
    ``response.details`` references; ``focus`` names what the message became (``Task/...``)."""
    assert code in RESPONSE_CODES
    request_header = request_header or {}
    header_id = str(uuid.uuid4())
    header: dict[str, Any] = {
        "resourceType": "MessageHeader", "id": header_id,
        "eventCoding": request_header.get("eventCoding")
        or {"system": NOTIFICATION_EVENTS, "code": "notification-discharge"},
        "source": {"name": "fhir-care-gateway", "endpoint": f"{base_url}/$process-message"},
        "response": {"identifier": request_header.get("id", "unknown"), "code": code},
    }
    source_endpoint = (request_header.get("source") or {}).get("endpoint")
    if source_endpoint:
        header["destination"] = [{"endpoint": source_endpoint}]
    if focus:
        header["focus"] = [{"reference": f"{base_url}/{name}"} for name in focus]
    entries = [{"fullUrl": f"urn:uuid:{header_id}", "resource": header}]
    if issues or code != "ok":
        outcome_id = str(uuid.uuid4())
        details = outcome(issues or [issue("error", "exception", "the message was not processed")])
        details["id"] = outcome_id
        header["response"]["details"] = {"reference": f"urn:uuid:{outcome_id}"}
        entries.append({"fullUrl": f"urn:uuid:{outcome_id}", "resource": details})
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "message",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "entry": entries}


def _by_reference(entries: list[Any]) -> dict[str, dict[str, Any]]:
    """Each entry's resource under its fullUrl and under ``Type/id``."""
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if isinstance(entry.get("fullUrl"), str):
            found[entry["fullUrl"]] = resource
        if resource.get("id") and resource.get("resourceType"):
            found.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)
    return found


def _entry_index(entries: list[Any], resource: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(entries)
                if isinstance(e, dict) and e.get("resource") is resource)


def _unique(resources: Any) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for resource in resources:
        seen.setdefault(id(resource), resource)
    return list(seen.values())


def _bare(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without the sender's id, meta and narrative (it is stored under our own
    id; the sender's id is not ours to keep)."""
    return {k: v for k, v in resource.items() if k not in ("id", "meta", "text")}

"""Hospital events become referrals (discharges) or care-team notices (admits, transfers).

``take_event`` works inside the caller's transaction, on a repository of the gateway's own
(``SYSTEM``): gateway/workflows/inbound_messages.py owns the transaction, the idempotency record
and the AuditEvent around it.

1. **Who is it?** (``identify``) By identifier first: the hospital's MRN (an identifier whose
   system the partner registered, or an ``MR`` identifier, which is filed under the partner's
   registered MRN system: the crosswalk), the agency's consumer number, the Medicaid id. Else
   by demographics, scored (gateway/workflows/patient_matching.py). A certain match links; an
   uncertain one goes to the review queue (``match_review``) and waits for an operator; no
   match makes a prospective consumer (a Patient tagged ``prospective``). The hospital's
   identifiers learned this way are added to the Patient, so the hospital can later query with
   its own MRN.
2. **A discharge** becomes a referral: a ServiceRequest for community mental-health follow-up
   and a Task (profile cmh-task, code ``referral``, status ``requested``, owner the Local Access
   unit, focus the ServiceRequest) whose inputs are the Encounter (period, class, discharge
   disposition), the diagnoses (Conditions) and the sending facility; it carries the HEDIS FUH
   7- and 30-day deadlines (gateway/care/followup.py). The Task's identifier is the
   hospital's encounter, so the same discharge sent twice (say once as FHIR and once as HL7 v2)
   is one referral.
3. **An admit or transfer** of a known consumer becomes a Communication to the consumer's case
   manager / supports coordinator (or the Local Access unit when there is none); it makes no
   referral. Of someone who is not a consumer it is recorded and nothing else happens.
4. **An update** (ADT^A08) only teaches identifiers.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from gateway.adapters.adt_event import ADMIT, DISCHARGE, REFERRAL, TRANSFER, AdtEvent
from gateway.care import followup
from gateway.db.models import MatchReviewRow
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.local.store import organization_units
from gateway.mappings.codes import (
    FILLER_IDENTIFIER,
    PLACER_IDENTIFIER,
    PROFILE_TASK,
    TASK_FULFILL,
    TASK_REFERRAL,
)
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM, MappingContext
from gateway.partners.registry import Partner
from gateway.workflows.court_orders import referenced_id
from gateway.workflows.patient_matching import Candidate, find_candidates, sole_certain

FHIR_BASE = "http://fhir-care-gateway.example/fhir"
GATEWAY_TAGS = f"{FHIR_BASE}/CodeSystem/cmh-tag"
DISCHARGE_REFERRAL_TAG = {"system": GATEWAY_TAGS, "code": "hospital-discharge",
                          "display": "Referral from a hospital discharge"}
PROSPECTIVE_TAG = {"system": GATEWAY_TAGS, "code": "prospective",
                   "display": "Prospective consumer (not yet enrolled)"}
REFERRAL_INPUT = f"{FHIR_BASE}/CodeSystem/referral-input"
# Our identifier of a referral a hospital sent as a FHIR Task (BSeR's filler identifier).
REFERRAL_IDENTIFIER = f"{FHIR_BASE}/referral"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
SNOMED = "http://snomed.info/sct"
# What the referral asks for: follow-up care in community mental health after a discharge.
FOLLOW_UP = {"coding": [{"system": SNOMED, "code": "390906007",
                         "display": "Follow-up encounter"}],
             "text": "Community mental-health follow-up after hospital discharge"}
COMMUNICATION_CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "communication-category",
                                      "code": "notification", "display": "Notification"}]}
EVENT_WORDS = {ADMIT: "admitted to", TRANSFER: "transferred within", DISCHARGE: "discharged from"}
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, f"{FHIR_BASE}/inbound")
# A hospital referral whose person waits in the match review queue says so.
AWAITING_REVIEW = {"text": "awaiting identity review"}


@dataclass(frozen=True)
class Taken:
    """What an event became. ``outcome``: referral | referral-exists | care-team-notified |
    review | recorded, and for cancels and merges (adt_lifecycle.py) notice-withdrawn |
    referral-cancelled | review-cancelled | merged."""

    outcome: str
    detail: str
    patient_id: str | None = None
    task_id: str | None = None
    review_id: int | None = None
    written: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identified:
    patient_id: str | None  # the consumer, when certain
    how: str  # identifier | demographics | review | none
    candidates: tuple[Candidate, ...] = ()

    @property
    def patient(self) -> dict[str, Any]:
        """The certain consumer's Patient, as matching read it."""
        return next(c.patient for c in self.candidates if c.patient_id == self.patient_id)


def take_event(repository: Repository, partner: Partner, event: AdtEvent,
               ctx: MappingContext, now: datetime) -> Taken:
    """Take one hospital event in (see the module docstring)."""
    probe = crosswalked(event.patient, partner, ctx)
    identified = identify(repository, probe, trusted_systems(partner, ctx))
    if identified.how == "review":
        if event.kind not in (DISCHARGE, REFERRAL):
            return Taken("recorded", f"{event.kind}: the person matched no consumer with "
                                     f"certainty; no care-team notice sent")
        review_id = queue_review(repository, partner, event, identified, now)
        return Taken("review", f"the person matched {len(identified.candidates)} consumer(s) "
                               f"only uncertainly; match review {review_id} awaits an "
                               f"operator", review_id=review_id)
    if identified.patient_id is None:
        if event.kind not in (DISCHARGE, REFERRAL):
            return Taken("recorded", f"{event.kind}: not a consumer of the agency; recorded")
        patient_id = create_prospective(repository, probe)
        return act_on(repository, partner, event, patient_id, ctx, now,
                      written=(f"Patient/{patient_id}",), prospective=True)
    written = learn_identifiers(repository, identified.patient, probe, partner)
    return act_on(repository, partner, event, identified.patient_id, ctx, now, written=written)


def act_on(repository: Repository, partner: Partner, event: AdtEvent, patient_id: str,
           ctx: MappingContext, now: datetime, *, written: tuple[str, ...] = (),
           prospective: bool = False) -> Taken:
    """What the event means for a known (or just created) consumer."""
    if event.kind == DISCHARGE:
        return make_referral(repository, partner, event, patient_id, ctx, now,
                             written=written, prospective=prospective)
    if event.kind == REFERRAL:
        return attach_patient(repository, event.message_id, patient_id, written=written)
    if event.kind in (ADMIT, TRANSFER):
        return notify_care_team(repository, partner, event, patient_id, ctx, now,
                                written=written)
    return Taken("recorded", "patient information update: identifiers noted",
                 patient_id=patient_id, written=written)


def attach_patient(repository: Repository, task_id: str, patient_id: str, *,
                   written: tuple[str, ...] = ()) -> Taken:
    """The referral is for consumer ``patient_id``: its Task (and the ServiceRequest it
    focuses on) say so, and the contained person goes."""
    task = repository.read("Task", task_id).json()
    task["for"] = {"reference": f"Patient/{patient_id}"}
    task["contained"] = [c for c in task.get("contained", [])
                         if c.get("resourceType") != "Patient"] or None
    if task["contained"] is None:
        del task["contained"]
    if task.get("businessStatus") == AWAITING_REVIEW:
        del task["businessStatus"]
    repository.update("Task", task_id, without_version_meta(task))
    changed = [f"Task/{task_id}"]
    focus = referenced_id((task.get("focus") or {}).get("reference"), "ServiceRequest")
    if focus:
        try:
            order = repository.read("ServiceRequest", focus).json()
        except FhirError:
            order = None
        if order is not None:
            order["subject"] = {"reference": f"Patient/{patient_id}"}
            order.pop("contained", None)
            repository.update("ServiceRequest", focus, without_version_meta(order))
            changed.append(f"ServiceRequest/{focus}")
    return Taken("referral", f"referral Task/{task_id} is for Patient/{patient_id}",
                 patient_id=patient_id, task_id=task_id, written=(*written, *changed))


# -- who is it --------------------------------------------------------------------------------

def trusted_systems(partner: Partner, ctx: MappingContext) -> frozenset[str]:
    """Identifier systems that identify a consumer with certainty, for this sender: its own
    MRN systems, the agency's consumer number and the Medicaid id."""
    return frozenset({*partner.patient_identifier_systems, ctx.identifier_system("consumer"),
                      ctx.medicaid_system})


def crosswalked(patient: dict[str, Any], partner: Partner, ctx: MappingContext
                ) -> dict[str, Any]:
    """The hospital's Patient with its identifiers filed under the systems we know: an ``MR``
    identifier under the partner's registered MRN system (when the hospital labels its MRN
    system differently, as many do), a Medicaid number (``MA``/``MC``) under the agency's
    Medicaid system. Identifiers we cannot place (SSN, driver's licence, other systems) are
    dropped: they are neither needed nor ours to keep."""
    kept: list[dict[str, Any]] = []
    own = partner.patient_identifier_systems
    for identifier in patient.get("identifier", []):
        system, value = identifier.get("system"), identifier.get("value")
        if not value:
            continue
        types = {c.get("code") for c in (identifier.get("type") or {}).get("coding", [])
                 if c.get("system") == V2_0203}
        if system in own or system in (ctx.identifier_system("consumer"), ctx.medicaid_system):
            placed = system
        elif "MR" in types and own:
            placed = own[0]
        elif types & {"MA", "MC"}:
            placed = ctx.medicaid_system or DEFAULT_MEDICAID_SYSTEM
        else:
            continue
        entry = {"system": placed, "value": value}
        if identifier.get("type"):
            entry["type"] = identifier["type"]
        if entry not in kept:
            kept.append(entry)
    probe = {k: v for k, v in patient.items() if k != "identifier"}
    probe["resourceType"] = "Patient"
    if kept:
        probe["identifier"] = kept
    return probe


def identify(repository: Repository, probe: dict[str, Any], trusted: Collection[str]
             ) -> Identified:
    candidates = tuple(find_candidates(repository, probe, trusted_systems=trusted))
    certain = sole_certain(candidates)
    if certain is not None:
        how = "identifier" if any(r.startswith("identifier") for r in certain.reasons) \
            else "demographics"
        return Identified(certain.patient_id, how, candidates)
    if candidates:  # uncertain, or more than one certain: a person must decide
        return Identified(None, "review", candidates)
    return Identified(None, "none")


def learn_identifiers(repository: Repository, patient: dict[str, Any], probe: dict[str, Any],
                      partner: Partner) -> tuple[str, ...]:
    """Add the partner's identifiers for the consumer to their Patient (those it lacks).
    ``patient``: the stored Patient as matching read it (this transaction, moments ago); the
    update applies only to that version, and is made afresh on the current one if another
    writer changed the Patient in between."""
    learned = [i for i in probe.get("identifier", [])
               if i["system"] in partner.patient_identifier_systems]
    if not learned:
        return ()
    patient_id = patient["id"]
    version = (patient.get("meta") or {}).get("versionId")
    try:
        return _add_identifiers(repository, patient, learned,
                                if_match=f'W/"{version}"' if version else None)
    except FhirError as error:
        if error.status != 412:
            raise
    return _add_identifiers(repository, repository.read("Patient", patient_id).json(),
                            learned)


def _add_identifiers(repository: Repository, patient: dict[str, Any],
                     learned: list[dict[str, Any]], if_match: str | None = None
                     ) -> tuple[str, ...]:
    known = {(i.get("system"), i.get("value")) for i in patient.get("identifier", [])}
    new = [i for i in learned if (i["system"], i["value"]) not in known]
    if not new:
        return ()
    patient = {**patient, "identifier": [*patient.get("identifier", []), *new]}
    repository.update("Patient", patient["id"], without_version_meta(patient),
                      if_match=if_match)
    return (f"Patient/{patient['id']}",)


def create_prospective(repository: Repository, probe: dict[str, Any]) -> str:
    """A Patient for someone the agency does not know yet, from what the hospital sent (who
    they are and how to reach them; no clinical content)."""
    patient = {"resourceType": "Patient",
               "meta": {"tag": [PROSPECTIVE_TAG]}, "active": True}
    for name in ("identifier", "name", "telecom", "gender", "birthDate", "address",
                 "communication"):
        if probe.get(name):
            patient[name] = probe[name]
    return repository.create("Patient", patient).stored.id


def queue_review(repository: Repository, partner: Partner, event: AdtEvent,
                 identified: Identified, now: datetime) -> int:
    row = MatchReviewRow(
        partner_id=partner.id, message_id=event.message_id, status="open", created_at=now,
        event=json.dumps(asdict(event), ensure_ascii=False),
        candidates=json.dumps([{"patient_id": c.patient_id, "score": round(c.score, 3),
                                "grade": c.grade, "reasons": list(c.reasons)}
                               for c in identified.candidates]))
    repository.session.add(row)
    repository.session.flush()
    return row.id


def event_from_json(text: str) -> AdtEvent:
    data = json.loads(text)
    data["conditions"] = tuple(data.get("conditions") or ())
    data["notes"] = tuple(data.get("notes") or ())
    data["prior_identifiers"] = tuple(data.get("prior_identifiers") or ())
    return AdtEvent(**data)


# -- a discharge: the referral ---------------------------------------------------------------

def make_referral(repository: Repository, partner: Partner, event: AdtEvent, patient_id: str,
                  ctx: MappingContext, now: datetime, *, written: tuple[str, ...] = (),
                  prospective: bool = False) -> Taken:
    encounter = event.encounter or {"resourceType": "Encounter", "status": "finished",
                                     "class": {"code": "IMP"}}
    key = _referral_key(partner, event)
    ids = _Ids(partner, key)
    task_identifier = {"system": f"{FHIR_BASE}/partner/{partner.id}/discharge",
                       "value": ids["task"], "type": FILLER_IDENTIFIER}
    if _exists(repository, "Task", ids["task"]):  # its id follows from the encounter
        return Taken("referral-exists", f"this discharge is already referral "
                                        f"Task/{ids['task']}",
                     patient_id=patient_id, task_id=ids["task"], written=written)
    discharged = _discharge_date(encounter, event, now)
    due = followup.due_after(discharged)
    owner = local_access(repository, ctx)
    hospital = {"reference": f"Organization/{partner.organization}",
                "display": event.sender_name or partner.name}
    patient = {"reference": f"Patient/{patient_id}"}
    stored_encounter = {**encounter, "resourceType": "Encounter", "id": ids["encounter"],
                        "subject": patient, "serviceProvider": hospital}
    stored_encounter.pop("participant", None)  # references into the sender's message
    stored_encounter.pop("location", None)
    conditions = [{**c, "resourceType": "Condition", "id": ids[f"condition-{n}"],
                   "subject": patient, "encounter": {"reference": f"Encounter/{ids['encounter']}"}}
                  for n, c in enumerate(event.conditions)]
    for condition in conditions:
        condition.pop("recorder", None)
        condition.pop("asserter", None)
    service_request = {
        "resourceType": "ServiceRequest", "id": ids["service-request"],
        "status": "active", "intent": "order", "category": [{"text": "referral"}],
        "code": FOLLOW_UP, "subject": patient,
        "encounter": {"reference": f"Encounter/{ids['encounter']}"},
        "occurrencePeriod": {"start": due.discharged_on.isoformat(),
                             "end": due.within_7_days.isoformat()},
        "authoredOn": _instant(now), "requester": hospital,
        "performer": [owner],
    }
    if conditions:
        service_request["reasonReference"] = [{"reference": f"Condition/{c['id']}"}
                                              for c in conditions]
    task = {
        "resourceType": "Task", "id": ids["task"],
        "meta": {"profile": [PROFILE_TASK], "tag": [DISCHARGE_REFERRAL_TAG]},
        "extension": followup.extensions(due),
        # Ours (BSeR's filler), and the hospital's own encounter identifier, by which it knows
        # the discharge (what it placed the referral by: the placer's).
        "identifier": [task_identifier, *[
            {**i, "type": {**PLACER_IDENTIFIER, "text": "hospital encounter"}}
            for i in encounter.get("identifier", [])[:1] if i.get("value")]],
        "status": "requested", "businessStatus": {"text": "new referral"},
        "intent": "order", "priority": "urgent",
        "code": {"coding": [TASK_REFERRAL, TASK_FULFILL]},
        "description": _describe(event, partner, due, prospective),
        "focus": {"reference": f"ServiceRequest/{ids['service-request']}"},
        "for": patient,
        "encounter": {"reference": f"Encounter/{ids['encounter']}"},
        "authoredOn": _instant(now), "lastModified": _instant(now),
        "requester": hospital, "owner": owner,
        "restriction": {"period": {"start": due.discharged_on.isoformat(),
                                   "end": due.within_30_days.isoformat()}},
        "input": _inputs(ids, encounter, conditions, hospital),
    }
    # The Encounter may be stored already (an admission notice of the same stay); the rest
    # is new with the referral (its Task did not exist, and all of it is written together).
    repository.update("Encounter", stored_encounter["id"], stored_encounter)
    created = [f"Encounter/{stored_encounter['id']}"]
    for resource in (*conditions, service_request, task):
        repository.create(resource["resourceType"], resource, resource_id=resource["id"])
        created.append(f"{resource['resourceType']}/{resource['id']}")
    return Taken("referral", f"referral Task/{ids['task']} created (7-day follow-up due "
                             f"{due.within_7_days}, 30-day {due.within_30_days})",
                 patient_id=patient_id, task_id=ids["task"], written=(*written, *created))


def _exists(repository: Repository, resource_type: str, resource_id: str) -> bool:
    """Stored now, or once (deleted: the agency removed it, and it stays removed)."""
    try:
        repository.read(resource_type, resource_id)
    except FhirError as error:
        return error.status == 410
    return True


def _inputs(ids: _Ids, encounter: dict[str, Any], conditions: list[dict[str, Any]],
            hospital: dict[str, Any]) -> list[dict[str, Any]]:
    def kind(code: str, display: str) -> dict[str, Any]:
        return {"coding": [{"system": REFERRAL_INPUT, "code": code, "display": display}],
                "text": display}

    inputs = [{"type": kind("encounter", "Hospital encounter"),
               "valueReference": {"reference": f"Encounter/{ids['encounter']}"}}]
    disposition = (encounter.get("hospitalization") or {}).get("dischargeDisposition")
    if disposition:
        inputs.append({"type": kind("discharge-disposition", "Discharge disposition"),
                       "valueCodeableConcept": disposition})
    period = encounter.get("period")
    if period:
        inputs.append({"type": kind("stay", "Hospital stay"), "valuePeriod": period})
    inputs += [{"type": kind("diagnosis", "Diagnosis"),
                "valueReference": {"reference": f"Condition/{c['id']}"}} for c in conditions]
    inputs.append({"type": kind("sending-facility", "Sending facility"),
                   "valueReference": hospital})
    return inputs


def _describe(event: AdtEvent, partner: Partner, due: followup.FollowUpDue,
              prospective: bool) -> str:
    who = "a person not yet known to the agency" if prospective else "a consumer"
    return (f"Follow-up after discharge of {who} from {event.sender_name or partner.name} on "
            f"{due.discharged_on}: see them within 7 days (by {due.within_7_days}) and within "
            f"30 days (by {due.within_30_days}).")


def _referral_key(partner: Partner, event: AdtEvent) -> str:
    """The hospital's encounter (its identifier, else the message id): one referral each."""
    for identifier in (event.encounter or {}).get("identifier", []):
        if identifier.get("value"):
            return f"{identifier.get('system') or ''}|{identifier['value']}"[:200]
    return f"message|{event.message_id}"[:200]


class _Ids(dict):
    """Deterministic ids for what one referral makes, by name (``encounter``, ``task``,
    ``condition-0``...), so that a retried message writes the same resources."""

    def __init__(self, partner: Partner, key: str) -> None:
        super().__init__()
        self.seed = f"{partner.id}|{key}|"

    def __missing__(self, name: str) -> str:
        self[name] = str(uuid.uuid5(_IDS, self.seed + name))
        return self[name]


def _discharge_date(encounter: dict[str, Any], event: AdtEvent, now: datetime) -> date:
    end = (encounter.get("period") or {}).get("end") or event.occurred
    if not end:
        return now.date()
    try:
        return date.fromisoformat(end[:10])
    except ValueError:
        return now.date()


# -- an admit or transfer: tell the care team ------------------------------------------------

def notify_care_team(repository: Repository, partner: Partner, event: AdtEvent,
                     patient_id: str, ctx: MappingContext, now: datetime, *,
                     written: tuple[str, ...] = ()) -> Taken:
    recipients = case_managers(repository, patient_id) or [local_access(repository, ctx)]
    encounter = event.encounter or {}
    key = _referral_key(partner, event)
    ids = _Ids(partner, key)
    stored_encounter = None
    if encounter:
        stored_encounter = {**encounter, "resourceType": "Encounter", "id": ids["encounter"],
                            "subject": {"reference": f"Patient/{patient_id}"},
                            "serviceProvider": {"reference":
                                                f"Organization/{partner.organization}"}}
        stored_encounter.pop("participant", None)
        stored_encounter.pop("location", None)
    when = (encounter.get("period") or {}).get("start") or event.occurred or _instant(now)
    text = (f"{event.sender_name or partner.name}: the consumer was "
            f"{EVENT_WORDS[event.kind]} the hospital ({when[:16].replace('T', ' ')}).")
    communication_id = str(uuid.uuid5(_IDS, f"{partner.id}|{event.message_id}|notice"))
    communication = {
        "resourceType": "Communication", "id": communication_id, "status": "completed",
        "category": [COMMUNICATION_CATEGORY], "priority": "urgent",
        "subject": {"reference": f"Patient/{patient_id}"},
        "sent": _instant(now), "recipient": recipients,
        "sender": {"reference": f"Organization/{partner.organization}"},
        "payload": [{"contentString": text}],
    }
    if stored_encounter is not None:
        communication["about"] = [{"reference": f"Encounter/{ids['encounter']}"}]
        repository.update("Encounter", ids["encounter"], stored_encounter)
        written = (*written, f"Encounter/{ids['encounter']}")
    repository.update("Communication", communication_id, communication)
    names = ", ".join(r.get("reference", "") for r in recipients)
    return Taken("care-team-notified", f"{event.kind}: Communication/{communication_id} to "
                                       f"{names}", patient_id=patient_id,
                 written=(*written, f"Communication/{communication_id}"))


def case_managers(repository: Repository, patient_id: str) -> list[dict[str, Any]]:
    """The consumer's current case manager(s) / supports coordinator(s), from their active
    CareTeams (the participant whose role carries the current-case-manager coding)."""
    found: list[dict[str, Any]] = []
    for stored in repository.of_patient(patient_id, ["CareTeam"]):
        team = stored.json()
        if team.get("status") not in (None, "active", "proposed"):
            continue
        for participant in team.get("participant", []):
            codes = {c.get("code") for role in participant.get("role", [])
                     for c in role.get("coding", [])}
            member = (participant.get("member") or {}).get("reference")
            if "current-case-manager" in codes and member and \
                    {"reference": member} not in found:
                found.append({"reference": member})
    return found


# -- shared --------------------------------------------------------------------------------

def local_access(repository: Repository, ctx: MappingContext) -> dict[str, Any]:
    """The agency's Local Access unit (the organization record of kind ``local-access``),
    which owns new referrals; the agency itself when it has none."""
    unit = organization_units(repository.session).get("local-access")
    if unit is not None:
        return ctx.reference("Organization", "organization", unit["id"])
    return ctx.agency_reference()


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def without_version_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")}
    body = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        body["meta"] = meta
    return body



def visit_ids(partner: Partner, event: AdtEvent) -> dict[str, str]:
    """The ids of what the hospital's visit (its encounter identifier, PV1-19) made or would
    make (``encounter``, ``task``, ``service-request``...), as ``make_referral`` and
    ``notify_care_team`` name them: how a later message about the visit finds them."""
    return _Ids(partner, _referral_key(partner, event))

"""Hospital events that undo or rewrite earlier ones: a cancelled admission (ADT^A11), a
cancelled discharge (A13) and a merge of the hospital's patient identifiers (A40, A34). ``take``
sends every event where it belongs: these here, the others to gateway/workflows/referrals.py.

Each works inside the caller's transaction (gateway/workflows/inbound_messages.py) on the
gateway's own repository, as ``SYSTEM``, whom the referral state machine trusts
(gateway/workflows/referral_states.py). What the earlier message made is found by the same key
it was made with: the hospital's visit number (PV1-19) gives the ids of the Encounter, the
referral Task and its ServiceRequest (``visit_ids``). So an A03 after an A01 of the same visit
updates the one Encounter, and a cancel finds what it cancels.

- **A cancelled admission** (A11) withdraws the care-team notices about that visit: each
  Communication becomes ``entered-in-error`` (R4 event-status: "this instance should not have
  been part of this patient's medical record") with a ``statusReason``, and the Encounter
  ``cancelled``. The receipt's AuditEvent names what was withdrawn. A visit already discharged
  (its referral exists) is not un-admitted: AE, cancel the discharge (A13) first.
- **A cancelled discharge** (A13) cancels the referral the discharge made: Task ``cancelled``
  with a ``statusReason`` and a ``businessStatus`` saying why, its ServiceRequest ``revoked``,
  the Encounter ``in-progress`` again without an end. The hospital hears of it as of every
  change to its referral (gateway/adapters/hospital.py, through the delivery engine; it sees
  status and reason), and so does the local system's intake. A referral closed already
  (completed, rejected...) is left as it is, and the answer says so; a discharge still in the
  match review queue leaves it (status ``cancelled``).
- **A merge** (A40, A34) follows FHIR R4's guidance for merged records: Identifier.use ``old``
  ("the identifier is no longer considered valid, but may be relevant for search purposes.
  E.g. changes to identifier schemes, account merges, etc.", R4 valueset-identifier-use) and
  Patient.link ``replaced-by`` ("the patient resource containing this link must no longer be
  used", R4 patient.html#links). The Patient that has the prior MRN (MRG-1) keeps it as
  ``old`` and gets the surviving one (PID-3): the crosswalk follows the survivor, and so do
  its referrals (``Task?patient.identifier=<mrn system>|<surviving>`` finds them). When the
  surviving MRN is another Patient's and the prior one's Patient is prospective (made from a
  hospital message), that one is merged into the other: its referrals, encounters, diagnoses
  and notices name the survivor, and it becomes inactive, ``replaced-by`` the survivor. Two
  enrolled consumers are never merged here (the case-management system is the source of
  truth for its consumers): the prior MRN is marked old and the answer says so.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.adapters.adt_event import CANCEL_ADMIT, CANCEL_DISCHARGE, MERGE, AdtEvent
from gateway.db.models import MatchReviewRow
from gateway.fhir import search
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.mappings.context import MappingContext
from gateway.partners.registry import Partner
from gateway.workflows import match_review
from gateway.workflows.court_orders import referenced_id
from gateway.workflows.referrals import (
    PROSPECTIVE_TAG,
    Taken,
    crosswalked,
    event_from_json,
    take_event,
    visit_ids,
    without_version_meta,
)

# Referral statuses that are closed: a cancelled discharge leaves them as they are.
CLOSED = frozenset({"completed", "rejected", "cancelled", "failed", "entered-in-error"})
# What may name the merged Patient, by resource type: the elements moved to the survivor.
SUBJECT_ELEMENTS = {"Task": "for", "ServiceRequest": "subject", "Encounter": "subject",
                    "Condition": "subject", "Communication": "subject"}


def take(repository: Repository, partner: Partner, event: AdtEvent, ctx: MappingContext,
         now: datetime) -> Taken:
    """Take one hospital event in: a cancel or merge here, anything else as referrals.py
    does."""
    if event.kind == CANCEL_ADMIT:
        return cancel_admission(repository, partner, event)
    if event.kind == CANCEL_DISCHARGE:
        return cancel_discharge(repository, partner, event, now)
    if event.kind == MERGE:
        return merge(repository, partner, event, ctx)
    return take_event(repository, partner, event, ctx, now)


# -- A11: the admission did not happen ---------------------------------------------------------

def cancel_admission(repository: Repository, partner: Partner, event: AdtEvent) -> Taken:
    ids = visit_ids(partner, event)
    visit = _visit_number(event)
    task = _current(repository, "Task", ids["task"])
    if task is not None and task.get("status") not in CLOSED:
        raise FhirError(422, "business-rule", f"visit {visit} was discharged already "
                                              f"(referral Task/{task['id']}); cancel the "
                                              f"discharge (A13) before the admission")
    encounter = _current(repository, "Encounter", ids["encounter"])
    if encounter is None:
        return Taken("recorded", f"admission of visit {visit} cancelled: no admission of it "
                                 f"on record, nothing to withdraw")
    patient_id = referenced_id((encounter.get("subject") or {}).get("reference"), "Patient")
    reason = {"text": f"withdrawn: {event.sender_name or partner.name} cancelled the "
                      f"admission (ADT^A11 {event.message_id})"}
    about = f"Encounter/{ids['encounter']}"
    written = []
    for stored in repository.of_patient(patient_id, ["Communication"]) if patient_id else []:
        notice = stored.json()
        if notice.get("status") == "entered-in-error" or about not in {
                a.get("reference") for a in notice.get("about", [])}:
            continue
        notice.update(status="entered-in-error", statusReason=reason)
        repository.update("Communication", notice["id"], without_version_meta(notice))
        written.append(f"Communication/{notice['id']}")
    if encounter.get("status") != "cancelled":
        repository.update("Encounter", encounter["id"],
                          without_version_meta({**encounter, "status": "cancelled"}))
        written.append(about)
    withdrawn = ", ".join(w for w in written if w.startswith("Communication/")) or "none left"
    return Taken("notice-withdrawn", f"admission of visit {visit} cancelled: care-team notice "
                                     f"withdrawn (entered-in-error): {withdrawn}",
                 patient_id=patient_id, written=tuple(written))


# -- A13: the discharge did not happen ---------------------------------------------------------

def cancel_discharge(repository: Repository, partner: Partner, event: AdtEvent,
                     now: datetime) -> Taken:
    ids = visit_ids(partner, event)
    visit = _visit_number(event)
    task = _current(repository, "Task", ids["task"])
    if task is None:
        reviews = _close_reviews(repository, partner, ids["task"])
        if reviews:
            return Taken("review-cancelled", f"discharge of visit {visit} cancelled: match "
                                             f"review {', '.join(map(str, reviews))} closed, "
                                             f"no referral made")
        return Taken("recorded", f"discharge of visit {visit} cancelled: no referral was made "
                                 f"for it")
    patient_id = referenced_id((task.get("for") or {}).get("reference"), "Patient")
    if task.get("status") in CLOSED:
        return Taken("referral-exists", f"discharge of visit {visit} cancelled: referral "
                                        f"Task/{task['id']} is {task['status']} already and "
                                        f"stays so", patient_id=patient_id, task_id=task["id"])
    hospital = event.sender_name or partner.name
    task.update(status="cancelled", lastModified=_instant(now),
                statusReason={"text": f"{hospital} cancelled the discharge (ADT^A13 "
                                      f"{event.message_id}); no follow-up is needed for it"},
                businessStatus={"text": "discharge cancelled by the hospital"})
    repository.update("Task", task["id"], without_version_meta(task))
    written = [f"Task/{task['id']}"]
    order = _current(repository, "ServiceRequest", ids["service-request"])
    if order is not None and order.get("status") in ("draft", "active", "on-hold"):
        repository.update("ServiceRequest", order["id"],
                          without_version_meta({**order, "status": "revoked"}))
        written.append(f"ServiceRequest/{order['id']}")
    encounter = _current(repository, "Encounter", ids["encounter"])
    if encounter is not None and encounter.get("status") == "finished":
        encounter["status"] = "in-progress"
        period = {k: v for k, v in (encounter.get("period") or {}).items() if k != "end"}
        encounter.pop("period", None)
        if period:
            encounter["period"] = period
        stay = {k: v for k, v in (encounter.get("hospitalization") or {}).items()
                if k != "dischargeDisposition"}
        encounter.pop("hospitalization", None)
        if stay:
            encounter["hospitalization"] = stay
        repository.update("Encounter", encounter["id"], without_version_meta(encounter))
        written.append(f"Encounter/{encounter['id']}")
    return Taken("referral-cancelled", f"discharge of visit {visit} cancelled: referral "
                                       f"Task/{task['id']} cancelled",
                 patient_id=patient_id, task_id=task["id"], written=tuple(written))


def _close_reviews(repository: Repository, partner: Partner, task_id: str) -> list[int]:
    """Close the open match reviews of the discharge whose referral would be ``task_id``."""
    closed = []
    rows = repository.session.scalars(select(MatchReviewRow).where(
        MatchReviewRow.partner_id == partner.id, MatchReviewRow.status == "open"))
    for row in rows:
        if visit_ids(partner, event_from_json(row.event))["task"] == task_id:
            row.status = match_review.CANCELLED
            closed.append(row.id)
    repository.session.flush()
    return closed


# -- A40, A34: the hospital merged two of its patient identifiers -------------------------------

def merge(repository: Repository, partner: Partner, event: AdtEvent,
          ctx: MappingContext) -> Taken:
    own = partner.patient_identifier_systems
    surviving = [i for i in crosswalked(event.patient, partner, ctx).get("identifier", [])
                 if i["system"] in own]
    prior = [i for i in crosswalked({"identifier": list(event.prior_identifiers)}, partner,
                                    ctx).get("identifier", []) if i["system"] in own]
    if not own or not prior or not surviving:
        return Taken("recorded", f"merge: {partner.id} has no MRN system registered"
                     if not own else "merge: no prior and surviving MRN in its MRN system "
                                     "(MRG-1, PID-3); nothing to merge")
    sources = _holders(repository, prior)
    if not sources:
        return Taken("recorded", f"merge: the prior MRN {_mrns(prior)} is not known here; "
                                 f"nothing to merge")
    targets = [p for p in _holders(repository, surviving) if p["id"] != sources[0]["id"]]
    if len(sources) > 1 or len(targets) > 1:
        raise FhirError(422, "business-rule", f"MRN {_mrns(prior)} or {_mrns(surviving)} "
                                              f"names more than one Patient here; an operator "
                                              f"must merge them first")
    source, target = sources[0], (targets[0] if targets else None)
    if target is None:  # the usual case: the consumer is known by the prior MRN only
        written = _put_identifiers(repository, source, prior, surviving)
        return Taken("merged", f"merge: Patient/{source['id']} is known by MRN "
                               f"{_mrns(surviving)} now ({_mrns(prior)} kept as old)",
                     patient_id=source["id"], written=tuple(written))
    if not (_is_prospective(source) or _is_prospective(target)):
        written = _put_identifiers(repository, source, prior, [])
        return Taken("merged", f"merge: Patient/{source['id']} (MRN {_mrns(prior)}, now old) "
                               f"and Patient/{target['id']} (MRN {_mrns(surviving)}) are both "
                               f"consumers: not merged here, for the agency to decide",
                     patient_id=source["id"], written=tuple(written))
    # One of them was made from a hospital message: it goes into the other.
    merged, survivor = (source, target) if _is_prospective(source) else (target, source)
    written = _move_records(repository, merged["id"], survivor["id"])
    written += _put_identifiers(repository, merged, prior, [], replaced_by=survivor["id"])
    written += _put_identifiers(repository, survivor, prior, surviving)
    return Taken("merged", f"merge: prospective Patient/{merged['id']} merged into "
                           f"Patient/{survivor['id']} (MRN {_mrns(surviving)}; {_mrns(prior)} "
                           f"kept as old); its referrals follow",
                 patient_id=survivor["id"], written=tuple(dict.fromkeys(written)))


def _holders(repository: Repository, identifiers: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """The current Patients with any of ``identifiers``."""
    value = ",".join(f"{_escaped(i['system'])}|{_escaped(i['value'])}" for i in identifiers)
    request = search.parse_search("Patient", [("identifier", value)], repository.registry,
                                  lenient=False, default_count=20, max_count=20,
                                  base_url=repository.base_url)
    request.total_mode = "none"
    return [stored.json() for stored in repository.search(request).rows
            if stored.content is not None]


def _put_identifiers(repository: Repository, patient: dict[str, Any],
                     prior: list[dict[str, Any]], surviving: list[dict[str, Any]], *,
                     replaced_by: str | None = None) -> list[str]:
    """The prior MRNs as ``use: old`` (added when missing), the surviving ones added, and a
    ``replaced-by`` link (and ``active: false``) when the Patient is merged away."""
    current = repository.read("Patient", patient["id"]).json()
    identifiers = [dict(i) for i in current.get("identifier", [])]
    keys = {(i.get("system"), i.get("value")) for i in identifiers}
    retired = {(i["system"], i["value"]) for i in prior}
    for identifier in identifiers:
        if (identifier.get("system"), identifier.get("value")) in retired:
            identifier["use"] = "old"
    identifiers += [{**i, "use": "old"} for i in prior if (i["system"], i["value"]) not in keys]
    identifiers += [i for i in surviving if (i["system"], i["value"]) not in keys]
    changed = {**current, "identifier": identifiers}
    if replaced_by:
        changed["active"] = False
        changed["link"] = [*[link for link in current.get("link", [])
                             if link.get("type") != "replaced-by"],
                           {"other": {"reference": f"Patient/{replaced_by}"},
                            "type": "replaced-by"}]
    if changed == current:
        return []
    repository.update("Patient", current["id"], without_version_meta(changed))
    return [f"Patient/{current['id']}"]


def _move_records(repository: Repository, source_id: str, target_id: str) -> list[str]:
    """What names Patient ``source_id`` as its subject (referrals, their orders, encounters,
    diagnoses, notices) names ``target_id`` instead."""
    moved = []
    old, new = f"Patient/{source_id}", {"reference": f"Patient/{target_id}"}
    for stored in repository.of_patient(source_id, sorted(SUBJECT_ELEMENTS)):
        resource = stored.json()
        element = SUBJECT_ELEMENTS[resource["resourceType"]]
        if (resource.get(element) or {}).get("reference") != old:
            continue
        resource[element] = new
        repository.update(resource["resourceType"], resource["id"],
                          without_version_meta(resource))
        moved.append(f"{resource['resourceType']}/{resource['id']}")
    return moved


# -- shared ------------------------------------------------------------------------------------

def _current(repository: Repository, resource_type: str, resource_id: str
             ) -> dict[str, Any] | None:
    try:
        return repository.read(resource_type, resource_id).json()
    except FhirError as error:
        if error.status in (404, 410):
            return None
        raise


def _visit_number(event: AdtEvent) -> str:
    return next((i["value"] for i in (event.encounter or {}).get("identifier", [])
                 if i.get("value")), event.message_id)


def _is_prospective(patient: dict[str, Any]) -> bool:
    return any(tag.get("system") == PROSPECTIVE_TAG["system"]
               and tag.get("code") == PROSPECTIVE_TAG["code"]
               for tag in (patient.get("meta") or {}).get("tag", []))


def _mrns(identifiers: list[dict[str, Any]]) -> str:
    return ", ".join(i["value"] for i in identifiers)


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace(
        "$", "\\$")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

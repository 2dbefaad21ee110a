"""A hospital's new referral Task, settled as it is written: who it is for, and where it starts.

Gravity SDOH Clinical Care (SDOHCC Task For Referral Management: ``Task.for`` 1..1) and BSeR
(``Task.for`` 1..1, a US Core Patient) require the referral to name its subject. A hospital
names the person in one of five ways, and the first three become one form, a Patient
contained in the Task (and in the ServiceRequest it focuses on), which is a match probe:
gateway/workflows/hospital_referrals.py matches it after the commit like a discharge's patient
(certain: linked; uncertain: the match review queue; none: a prospective consumer). The
hospital's Patient is never stored as it was sent.

1. **the Patient in its transaction** (an entry the Task's ``for`` refers to): the entry is
   taken out of the transaction before its entries are authorized (``before_transaction``), so
   a hospital needs no right to create Patients here, and nothing of it is stored but the probe;
2. **a conditional reference** on its MRN (``Patient?identifier=system|value``) or a logical
   one (``for.identifier``): a probe with that identifier. With no name to take the person in
   by, the identifier must name a consumer with certainty, now (else 422);
3. **a contained Patient** (``#id``), as sent;
4. **our Patient** (``Patient/id``): referential integrity (gateway/fhir/integrity.py) checks
   that it exists;
5. anything else (a URL on the hospital's own server, another resource type, no ``for`` at
   all, a contained Patient with neither name nor identifier) is a dangling subject: the write
   is refused with 422 and nothing of the transaction is stored.

And whatever status the hospital sent, a new referral starts ``requested`` (the IGs' first
status for the performer; the sender's value is kept in a ``Task.note``) with ``intent``
``order``.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from gateway.auth import SYSTEM, Principal
from gateway.fhir.errors import FhirError
from gateway.fhir.hooks import RepositoryHooks
from gateway.fhir.repository import Repository
from gateway.fhir.search.references import parse_reference
from gateway.local.store import LocalRecordStore
from gateway.local.translate import translator_for
from gateway.partners.registry import PartnerRegistry
from gateway.workflows.referrals import crosswalked, identify, trusted_systems

if TYPE_CHECKING:
    from gateway.state import GatewayState

# The id of the contained Patient a referral's subject becomes.
SUBJECT = "referral-subject"
_CONDITIONAL = re.compile(r"^Patient\?(.+)$")
# What a Task's ``for`` and a ServiceRequest's ``subject`` are, by type.
SUBJECT_ELEMENT = {"Task": "for", "ServiceRequest": "subject"}
# What of the hospital's Patient the probe keeps: who the person is and how to reach them
# (what matching and a prospective consumer use), nothing that refers elsewhere.
PROBE_ELEMENTS = ("identifier", "name", "telecom", "gender", "birthDate", "address",
                  "communication")


def register(hooks: RepositoryHooks, state: GatewayState) -> None:
    """Settle each new referral a hospital writes (first among the ``before_write`` hooks:
    the referral state machine then sees a Task that starts as requested)."""
    hooks.before_transaction.append(patient_entries_as_probes)
    hooks.before_write.insert(0, lambda repository, resource_type, previous, resource:
                              settle_new_referral(state, repository, resource_type, previous,
                                                  resource))


def _from_hospital(requester: Any) -> bool:
    return isinstance(requester, Principal) and requester.kind == "partner" \
        and requester.partner_kind == "hospital"


# -- 1. the Patient in the transaction ---------------------------------------------------------

def patient_entries_as_probes(requester: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    """A hospital's transaction whose Task (or ServiceRequest) refers to a Patient entry, or
    names its subject by identifier: the Patient (or the identifier) contained in them
    instead, the Patient's entry gone, before the transaction resolves its references. Other
    transactions as they are."""
    entries = bundle.get("entry")
    if not _from_hospital(requester) or not isinstance(entries, list):
        return bundle
    patients = {key: index for index, entry in enumerate(entries)
                for key in _patient_entry_keys(entry)}
    used: set[int] = set()
    rewritten = copy.deepcopy(entries)
    changed = False
    for entry in rewritten:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        element = SUBJECT_ELEMENT.get(str((resource or {}).get("resourceType")))
        if element is None or (entry.get("request") or {}).get("method") not in ("POST",
                                                                                "PUT"):
            continue
        subject = resource.get(element)
        reference = subject.get("reference") if isinstance(subject, dict) else None
        if reference in patients:
            used.add(patients[reference])
            _contain(resource, element, entries[patients[reference]]["resource"])
            changed = True
        elif (named := identifier_named(subject)) is not None:
            _contain(resource, element, {"identifier": [named]})
            changed = True
    if not changed:
        return bundle
    return {**bundle, "entry": [e for i, e in enumerate(rewritten) if i not in used]}


def _patient_entry_keys(entry: Any) -> list[str]:
    """How the other entries may refer to a Patient entry: its fullUrl, and ``Patient/id``
    for a PUT or an absolute fullUrl."""
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict) \
            or entry["resource"].get("resourceType") != "Patient" \
            or (entry.get("request") or {}).get("method") not in ("POST", "PUT"):
        return []
    keys = []
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str) and full_url:
        keys.append(full_url)
        tail = re.search(r"(Patient/[A-Za-z0-9\-.]{1,64})$", full_url)
        if tail and "://" in full_url:
            keys.append(tail.group(1))
    url = (entry.get("request") or {}).get("url")
    if isinstance(url, str) and re.match(r"^Patient/[A-Za-z0-9\-.]{1,64}$", url):
        keys.append(url)
    return keys


def _contain(resource: dict[str, Any], element: str, patient: dict[str, Any]) -> None:
    probe = {"resourceType": "Patient", "id": SUBJECT,
             **{k: patient[k] for k in PROBE_ELEMENTS if patient.get(k)}}
    resource["contained"] = [c for c in resource.get("contained", [])
                             if isinstance(c, dict) and c.get("id") != SUBJECT] + [probe]
    resource[element] = {"reference": f"#{SUBJECT}"}


# -- 2. to 5. as the Task is written ---------------------------------------------------------

def settle_new_referral(state: GatewayState, repository: Repository, resource_type: str,
                        previous: str | None, resource: Any) -> None:
    """A hospital's new Task (or ServiceRequest): its subject as a probe where it was named by
    identifier, refused when it names no one; a Task starts requested."""
    requester = repository.access.requester
    if previous is not None or resource_type not in SUBJECT_ELEMENT \
            or not isinstance(resource, dict) or not _from_hospital(requester):
        return
    element = SUBJECT_ELEMENT[resource_type]
    probe_identifier = identifier_named(resource.get(element))
    if probe_identifier is not None:
        _contain(resource, element, {"identifier": [probe_identifier]})
    if resource_type != "Task":
        return
    start_requested(resource)
    check_subject(state, repository, resource)


def identifier_named(subject: Any) -> dict[str, str] | None:
    """The identifier a conditional (``Patient?identifier=system|value``) or logical
    (``{"identifier": ...}``) reference names; None for any other form."""
    if not isinstance(subject, dict):
        return None
    reference = subject.get("reference")
    if isinstance(reference, str):
        match = _CONDITIONAL.match(reference)
        if not match:
            return None
        params = dict(parse_qsl(match.group(1)))
        system, bar, value = params.get("identifier", "").rpartition("|")
        if not value:
            return None
        return {"system": system, "value": value} if bar and system else {"value": value}
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str) \
            and identifier["value"].strip():
        return {k: identifier[k] for k in ("system", "value", "type") if identifier.get(k)}
    return None


def start_requested(task: dict[str, Any]) -> None:
    """Whatever status the hospital sent, the referral starts requested (a ``note`` keeps what
    it sent, and the reason it gave for it), as an order."""
    sent = task.get("status")
    if sent != "requested":
        reason = (task.get("statusReason") or {}).get("text") \
            if isinstance(task.get("statusReason"), dict) else None
        text = f"Sent with status {sent}" if isinstance(sent, str) else "Sent without a status"
        if reason:
            text += f" ({reason})"
        task["note"] = [*(task.get("note") or []), {"text": text}]
        task["status"] = "requested"
        task.pop("statusReason", None)
    task["intent"] = "order"


def check_subject(state: GatewayState, repository: Repository, task: dict[str, Any]) -> None:
    """A 422 FhirError unless the Task's ``for`` names someone (module docstring, 2 to 5)."""
    subject = task.get("for")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if isinstance(reference, str) and reference.startswith("#"):
        patient = next((c for c in task.get("contained", []) if isinstance(c, dict)
                        and c.get("id") == reference[1:]
                        and c.get("resourceType") == "Patient"), None)
        if patient is None:
            raise _dangling(f"Task.for {reference!r} names no contained Patient")
        if not _has_name(patient):
            if not patient.get("identifier"):
                raise _dangling("the contained Patient has neither a name nor an identifier "
                                "to know the person by")
            _known_for_certain(state, repository, patient)
        return
    target = parse_reference(reference, repository.base_url) if isinstance(reference, str) \
        else None
    if target is not None and target.url is None and target.type == "Patient" and target.id:
        return  # ours: referential integrity checks that it exists
    shown = repr(reference) if reference else "nothing"
    raise _dangling(f"Task.for names {shown}, which is no Patient of this server")


def _known_for_certain(state: GatewayState, repository: Repository,
                       patient: dict[str, Any]) -> None:
    """A subject named only by identifier must be a consumer the agency knows for certain:
    there is nothing else to take the person in by."""
    requester = repository.access.requester
    partner = PartnerRegistry(repository.session).get(getattr(requester, "name", ""))
    if partner is None:
        raise _dangling("the sender is not a registered partner")
    ctx = translator_for(state.config).context(LocalRecordStore(repository.session))
    probe = crosswalked({k: v for k, v in patient.items() if k != "id"}, partner, ctx)
    identified = identify(state.repository(repository.session, SYSTEM), probe,
                          trusted_systems(partner, ctx))
    if identified.patient_id is None or identified.how != "identifier":
        named = ", ".join(f"{i.get('system', '')}|{i.get('value')}"
                          for i in patient.get("identifier", []))
        raise _dangling(f"the identifier {named} names no consumer the agency knows; send the "
                        f"Patient (name, birth date) with the referral")


def _has_name(patient: dict[str, Any]) -> bool:
    return any(isinstance(n, dict) and (n.get("family") or n.get("given") or n.get("text"))
               for n in patient.get("name", []) or [])


def _dangling(why: str) -> FhirError:
    return FhirError(422, "not-found",
                     f"a referral must name who it is for: {why} (send our Patient/id, the "
                     f"Patient in the transaction, a contained Patient, or a conditional "
                     f"reference on the hospital's MRN)", "Task.for")

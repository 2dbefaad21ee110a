"""FHIR -> local records, for inbound data: Patient -> consumer, Task + ServiceRequest ->
referral. The records pass ``record_problems``: values the local format cannot hold (a state
spelled out, a pager number) are left out rather than guessed; what a record must have and FHIR
does not give raises MappingError at the FHIR element's path.

References are resolved to local ids through the agency identifier on ``Reference.identifier``,
or through ``local_ids`` (``{"Organization/<id>": "ORG-7"}``, see ``reference_index``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .codes import BCP47_SYSTEM, EXT_APPLICATION_DATE, EXT_ELIGIBILITY, EXT_INTERPRETER_REQUIRED
from .context import MappingContext
from .errors import MappingError
from .people import GUARDIAN
from .referrals import TASK_STATUS
from .terminology import ELIGIBILITY, RELATIONSHIP, SERVICE

_LOCAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_STATE = re.compile(r"[A-Z]{2}")
_POSTAL_CODE = re.compile(r"\d{5}(-\d{4})?")
_CONTACT_KINDS = ("phone", "sms", "email", "fax")
_CONTACT_USES = ("home", "work", "mobile")
_ADDRESS_USES = ("home", "work", "temp", "old")
_GENDERS = ("female", "male", "other", "unknown")
_PRIORITIES = ("routine", "urgent", "asap", "stat")
# Task.status -> referral.status: the inverse of TASK_STATUS, plus the statuses a partner may
# use that the local format folds into its own.
REFERRAL_STATUS = {task: local for local, task in TASK_STATUS.items()} | {
    "draft": "pending", "ready": "accepted", "on-hold": "in-progress", "failed": "cancelled"}


def reference_index(resource_type: str, kind: str, local_ids: Iterable[str],
                    ctx: MappingContext) -> dict[str, str]:
    """``{"Type/<fhir id>": local id}`` for records this agency mapped, to resolve references."""
    return {f"{resource_type}/{ctx.fhir_id(kind, local_id)}": local_id for local_id in local_ids}


def consumer_record_from_patient(patient: Mapping[str, Any], ctx: MappingContext, *,
                                 related_persons: Iterable[Mapping[str, Any]] = (),
                                 updated_at: str | None = None,
                                 local_id: str | None = None) -> dict[str, Any]:
    """A consumer record from a Patient (and its guardian among ``related_persons``)."""
    _expect(patient, "Patient")
    consumer_id = local_id or _identifier(patient, ctx.identifier_system("consumer"))
    if not consumer_id:
        raise MappingError("identifier", "the Patient has no agency consumer identifier "
                                         "(pass local_id)")
    _check_local_id(consumer_id, "identifier")
    agency_number = _identifier(patient, ctx.identifier_system("agency-number"))
    if not agency_number:
        raise MappingError("identifier", "the Patient has no agency number")
    birth_date = patient.get("birthDate")
    if not isinstance(birth_date, str) or not _DATE.fullmatch(birth_date):
        raise MappingError("birthDate", "a full birth date (YYYY-MM-DD) is required")
    record: dict[str, Any] = {
        "type": "consumer",
        "id": consumer_id,
        # A Patient has no lastModified of its own: only meta.lastUpdated can stand in.
        "updated_at": _updated_at(updated_at, patient, "meta.lastUpdated"),
        "name": _name(patient.get("name"), "name"),
        "birth_date": birth_date,
        "identifiers": {"agency_number": agency_number},
    }
    medicaid = _identifier(patient, ctx.medicaid_system)
    if medicaid:
        record["identifiers"]["medicaid_id"] = medicaid
    if patient.get("gender") in _GENDERS:
        record["gender"] = patient["gender"]
    tag = _language(patient.get("communication"))
    if tag:
        record["language"] = tag
    extensions = [e for e in patient.get("extension") or () if isinstance(e, Mapping)]
    for extension in extensions:
        if extension.get("url") == EXT_INTERPRETER_REQUIRED \
                and isinstance(extension.get("valueBoolean"), bool):
            record["interpreter_needed"] = extension["valueBoolean"]
        elif extension.get("url") == EXT_APPLICATION_DATE \
                and _is_date(extension.get("valueDate")):
            record["application_date"] = extension["valueDate"]
    eligibility = [_eligibility(e, ctx, index) for index, e in enumerate(extensions)
                   if e.get("url") == EXT_ELIGIBILITY]
    _put(record, "contacts", _contacts(patient.get("telecom")))
    _put(record, "addresses", _addresses(patient.get("address")))
    _put(record, "eligibility", eligibility)
    guardian = _guardian(patient, related_persons, ctx)
    if guardian:
        record["guardian"] = guardian
    if isinstance(patient.get("active"), bool):
        record["active"] = patient["active"]
    return record


def referral_record_from_task(task: Mapping[str, Any], service_request: Mapping[str, Any],
                              ctx: MappingContext, *, local_ids: Mapping[str, str] | None = None,
                              local_id: str | None = None, consumer_id: str | None = None,
                              updated_at: str | None = None) -> dict[str, Any]:
    """A referral record from a referral Task and the ServiceRequest it is about."""
    _expect(task, "Task")
    _expect(service_request, "ServiceRequest")
    local_ids = local_ids or {}
    system = ctx.identifier_system("referral")
    referral_id = local_id or _identifier(task, system) or _identifier(service_request, system)
    if not referral_id:
        raise MappingError("identifier", "the Task has no agency referral identifier "
                                         "(pass local_id)")
    _check_local_id(referral_id, "identifier")
    consumer = consumer_id or _resolve(task.get("for"), ctx.identifier_system("consumer"),
                                       local_ids)
    if not consumer:
        raise MappingError("for", "cannot tell which consumer the referral is for "
                                  "(pass consumer_id)")
    status = REFERRAL_STATUS.get(task.get("status"))  # type: ignore[arg-type]
    if status is None:
        raise MappingError("status", f"a {task.get('status')!r} task is not a referral")
    organizations = ctx.identifier_system("organization")
    source = _resolve(task.get("requester") or service_request.get("requester"),
                      organizations, local_ids)
    target = _resolve(task.get("owner"), organizations, local_ids)
    direction = "outgoing" if source == ctx.agency_organization \
        and target != ctx.agency_organization else "incoming"
    record: dict[str, Any] = {
        "type": "referral",
        "id": referral_id,
        "updated_at": _updated_at(updated_at, task, "lastModified"),
        "consumer": consumer,
        "direction": direction,
        "status": status,
        "reason": _reason(task, service_request),
    }
    _put(record, "source", source)
    _put(record, "target", target)
    service = next((code for code in (ctx.terminology.local_code(SERVICE, coding)
                                      for coding in _codings(service_request.get("code")))
                    if code), None)
    _put(record, "service", service)
    urgency = task.get("priority") or service_request.get("priority")
    _put(record, "urgency", urgency if urgency in _PRIORITIES else None)
    authored = _date_part(task.get("authoredOn") or service_request.get("authoredOn"))
    _put(record, "sent_on" if direction == "outgoing" else "received_on", authored)
    restriction = task.get("restriction")
    if isinstance(restriction, Mapping) and isinstance(restriction.get("period"), Mapping):
        _put(record, "due_on", _date_part(restriction["period"].get("end")))
    status_reason = task.get("statusReason")
    if isinstance(status_reason, Mapping) and isinstance(status_reason.get("text"), str):
        _put(record, "status_reason", status_reason["text"].strip())
    return record


# Helpers


def _expect(resource: Any, resource_type: str) -> None:
    if not isinstance(resource, Mapping) or resource.get("resourceType") != resource_type:
        raise MappingError("resourceType", f"expected a {resource_type}")


def _check_local_id(value: str, path: str) -> None:
    if not _LOCAL_ID.fullmatch(value):
        raise MappingError(path, f"{value!r} is not a usable local id")


def _put(record: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        record[key] = value


def _identifier(resource: Mapping[str, Any], system: str) -> str | None:
    for identifier in resource.get("identifier") or ():
        if isinstance(identifier, Mapping) and identifier.get("system") == system \
                and isinstance(identifier.get("value"), str) and identifier["value"]:
            return identifier["value"]
    return None


def _resolve(reference: Any, system: str, local_ids: Mapping[str, str]) -> str | None:
    if not isinstance(reference, Mapping):
        return None
    identifier = reference.get("identifier")
    if isinstance(identifier, Mapping) and identifier.get("system") == system \
            and isinstance(identifier.get("value"), str):
        return identifier["value"]
    literal = reference.get("reference")
    return local_ids.get(literal) if isinstance(literal, str) else None


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and bool(_DATE.fullmatch(value))


def _date_part(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and _is_date(value[:10]) else None


def _updated_at(given: str | None, resource: Mapping[str, Any], field: str) -> str:
    """``given``, else ``resource[field]``, else ``meta.lastUpdated``: the first that is a
    date-time with a time zone, as the local format requires."""
    if given is not None:
        if not _DATETIME.fullmatch(given):
            raise MappingError("updated_at", f"{given!r} is not a date-time with a time zone")
        return given
    meta = resource.get("meta") if isinstance(resource.get("meta"), Mapping) else {}
    for value in (resource.get(field), meta.get("lastUpdated")):
        if isinstance(value, str) and _DATETIME.fullmatch(value):
            return value
    raise MappingError(field, "needs a date-time with a time zone (or pass updated_at)")


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or () if isinstance(c, Mapping)]


def _texts(concept: Any) -> list[str]:
    if not isinstance(concept, Mapping):
        return []
    texts = [concept.get("text")] + [c.get("display") for c in _codings(concept)]
    return [t.strip() for t in texts if isinstance(t, str) and t.strip()]


def _reason(task: Mapping[str, Any], service_request: Mapping[str, Any]) -> str:
    candidates = _texts(task.get("reasonCode"))
    for concept in service_request.get("reasonCode") or ():
        candidates += _texts(concept)
    if isinstance(task.get("description"), str):
        candidates.append(task["description"].strip())
    candidates += _texts(service_request.get("code"))
    reason = next((text for text in candidates if text), None)
    if reason is None:
        raise MappingError("reasonCode", "a referral needs a reason (Task.reasonCode, "
                                         "ServiceRequest.reasonCode or a description)")
    return reason


def _name(names: Any, path: str) -> dict[str, Any]:
    names = [n for n in names or () if isinstance(n, Mapping)]
    official = next((n for n in names if n.get("use") == "official"), None) or next(
        (n for n in names if n.get("use") not in ("usual", "nickname", "old", "maiden")),
        names[0] if names else None)
    if official is None or not isinstance(official.get("family"), str) \
            or not official["family"].strip():
        raise MappingError(path, "a family name is required")
    name: dict[str, Any] = {"family": official["family"].strip()}
    given = [g.strip() for g in official.get("given") or () if isinstance(g, str) and g.strip()]
    _put(name, "given", given)
    for key in ("prefix", "suffix"):
        values = [v for v in official.get(key) or () if isinstance(v, str) and v.strip()]
        if values:
            name[key] = " ".join(values)
    usual = next((n for n in names if n.get("use") in ("usual", "nickname")
                  and n is not official), None)
    preferred = next((g for g in (usual or {}).get("given") or ()
                      if isinstance(g, str) and g.strip()), None)
    _put(name, "preferred", preferred.strip() if preferred else None)
    return name


def _language(communications: Any) -> str | None:
    items = [c for c in communications or () if isinstance(c, Mapping)]
    items.sort(key=lambda c: c.get("preferred") is not True)  # stable: preferred first
    for item in items:
        for coding in _codings(item.get("language")):
            code = coding.get("code")
            if coding.get("system") in (BCP47_SYSTEM, None) and isinstance(code, str) \
                    and _LANGUAGE.fullmatch(code):
                return code
    return None


def _contacts(telecoms: Any) -> list[dict[str, str]]:
    contacts = []
    for point in telecoms or ():
        if not isinstance(point, Mapping) or point.get("system") not in _CONTACT_KINDS \
                or not isinstance(point.get("value"), str) or not point["value"].strip():
            continue
        contact = {"kind": point["system"], "value": point["value"].strip()}
        if point.get("use") in _CONTACT_USES:
            contact["use"] = point["use"]
        contacts.append(contact)
    return contacts


def _addresses(items: Any) -> list[dict[str, Any]]:
    found = []
    for address in items or ():
        if not isinstance(address, Mapping):
            continue
        local: dict[str, Any] = {}
        _put(local, "lines", [line.strip() for line in address.get("line") or ()
                              if isinstance(line, str) and line.strip()])
        if isinstance(address.get("city"), str):
            _put(local, "city", address["city"].strip())
        if isinstance(address.get("state"), str) and _STATE.fullmatch(address["state"]):
            local["state"] = address["state"]
        if isinstance(address.get("postalCode"), str) \
                and _POSTAL_CODE.fullmatch(address["postalCode"]):
            local["postal_code"] = address["postalCode"]
        if local and address.get("use") in _ADDRESS_USES:
            local["use"] = address["use"]
        if local:
            found.append(local)
    return found


def _eligibility(extension: Mapping[str, Any], ctx: MappingContext, index: int) -> dict:
    parts = {part.get("url"): part for part in extension.get("extension") or ()
             if isinstance(part, Mapping)}
    group = ctx.terminology.local_code(ELIGIBILITY, (parts.get("group") or {}).get("valueCoding"))
    if group is None:
        raise MappingError(f"extension[{index}]", "an eligibility group the eligibility map "
                                                  "does not know")
    item = {"group": group}
    since = (parts.get("since") or {}).get("valueDate")
    if _is_date(since):
        item["since"] = since
    return item


def _guardian(patient: Mapping[str, Any], related_persons: Iterable[Mapping[str, Any]],
              ctx: MappingContext) -> dict[str, Any] | None:
    guardian_coding = ctx.terminology.translate(RELATIONSHIP, GUARDIAN)
    own = f"Patient/{patient.get('id')}" if patient.get("id") else None
    for index, person in enumerate(related_persons):
        if not isinstance(person, Mapping) or person.get("resourceType") != "RelatedPerson":
            continue
        target = (person.get("patient") or {}).get("reference")
        if own and target and target != own:
            continue
        codes = [ctx.terminology.local_code(RELATIONSHIP, coding)
                 for concept in person.get("relationship") or ()
                 for coding in _codings(concept)]
        if not any(_same(coding, guardian_coding) for concept in person.get("relationship") or ()
                   for coding in _codings(concept)):
            continue
        relationship = next((c for c in codes if c and c != GUARDIAN), GUARDIAN)
        guardian: dict[str, Any] = {
            "name": _name(person.get("name"), f"related_persons[{index}].name"),
            "relationship": relationship,
        }
        person_id = _identifier(person, ctx.identifier_system("person"))
        if person_id and _LOCAL_ID.fullmatch(person_id):
            guardian = {"id": person_id, **guardian}
        _put(guardian, "contacts", _contacts(person.get("telecom")))
        _put(guardian, "addresses", _addresses(person.get("address")))
        return guardian
    return None


def _same(coding: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    return coding.get("system") == other.get("system") and coding.get("code") == other.get("code")

"""HL7 v2 ADT -> ``AdtEvent``: PID -> Patient, PV1 -> Encounter, DG1 -> Conditions, MSH-4 ->
Organization, following the HL7 v2-to-FHIR IG. Pure functions over a parsed ``Hl7Message``
(gateway/adapters/hl7v2.py reads the wire and writes the ACK).

    event = event_from_v2(hl7v2.parse(raw), sender_zone=ZoneInfo("America/Chicago"))

Content we cannot take is an ``Hl7Error``, as the ACK will say it: AR 200/201 for a message
type or trigger event we do not take, AE for missing or malformed content.

Decisions worth knowing:

- **What is checked** is what the events need (hl7apy parses tolerantly): a PID with an
  identifier (or a name and birth date), a name, a PV1 (except for A08), valid dates.
- **Times** without an offset are read in ``sender_zone`` when the caller gives one, else in
  the offset of MSH-7 (HL7: the sender's zone is implied), else only their date is kept (FHIR
  needs a zone with a time; a guessed zone could move a discharge to another day).
- **A03 without PV1-45** is taken: the discharge time is EVN-2 (else MSH-7), with a note,
  since the referral only needs the discharge day and losing it would lose the follow-up.
- **Cancels and merges**: A11 (cancel admit) and A13 (cancel discharge) name the visit they
  undo by its number (PV1-19), which they must carry. A40 and A34 (merge) carry the prior
  identifiers in MRG-1 (an identifier without a type is taken as an MRN, CX.5 ``MR``: A40
  merges PID-3 identifiers, v2.5.1 3.3.40) and the surviving ones in PID-3; one merge (PID
  and MRG pair) per message.
- **Codes**: the few v2 tables the mapping needs are small dicts below, each with its table.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import quote

from gateway.adapters.adt_event import (
    ADMIT,
    CANCEL_ADMIT,
    CANCEL_DISCHARGE,
    DISCHARGE,
    MERGE,
    TRANSFER,
    UPDATE,
    AdtEvent,
)
from gateway.adapters.hl7v2 import (
    DATA_TYPE_ERROR,
    ERROR,
    REJECT,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE_ERROR,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    Hl7Error,
    Hl7Field,
    Hl7Message,
    Hl7Segment,
)

TRIGGER_KINDS = {"A01": ADMIT, "A04": ADMIT, "A02": TRANSFER, "A03": DISCHARGE, "A08": UPDATE,
                 "A11": CANCEL_ADMIT, "A13": CANCEL_DISCHARGE, "A34": MERGE, "A40": MERGE}

# FHIR code systems and identifier systems the mapping writes (v2-to-FHIR IG, FHIR R4).
V2_TABLE = "http://terminology.hl7.org/CodeSystem/v2-"  # + table number, e.g. 0203
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
US_SSN = "http://hl7.org/fhir/sid/us-ssn"
US_NPI = "http://hl7.org/fhir/sid/us-npi"
URI_SYSTEM = "urn:ietf:rfc:3986"
SSA_OID = "2.16.840.1.113883.4.1"
AUTHORITY_PREFIX = "urn:hl7v2:assigning-authority:"  # an assigning authority known by name only
# Coding system names (table 0396, and spellings seen in the wild) -> FHIR system.
DIAGNOSIS_SYSTEMS = {
    "I10": "http://hl7.org/fhir/sid/icd-10-cm", "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10": "http://hl7.org/fhir/sid/icd-10-cm", "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm", "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "ICD9": "http://hl7.org/fhir/sid/icd-9-cm", "ICD9CM": "http://hl7.org/fhir/sid/icd-9-cm",
    "SCT": "http://snomed.info/sct", "SNOMEDCT": "http://snomed.info/sct",
}
# Tables 0004 (patient class) -> v3 ActCode, 0001 (sex) -> gender, 0200 (name type) -> use,
# 0190 (address type) -> use, 0201 (telecom use) and 0202 (equipment) -> ContactPoint.
PATIENT_CLASSES = {"E": "EMER", "I": "IMP", "O": "AMB", "P": "PRENC"}
GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}
NAME_USES = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname"}
ADDRESS_USES = {"H": "home", "P": "home", "B": "work", "O": "work", "C": "temp", "BA": "old"}
TELECOM_SYSTEMS = {"PH": "phone", "CP": "phone", "FX": "fax", "BP": "pager",
                   "INTERNET": "email", "X.400": "email"}
# DG1-6 diagnosis type (table 0052): admitting and working diagnoses are not yet confirmed.
PROVISIONAL_DIAGNOSIS_TYPES = {"A", "W"}

_OID = re.compile(r"[0-2](\.(0|[1-9]\d*))+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_TS = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d+))?)?)?)?)?)?"
                 r"([+-]\d{4})?")


def event_from_v2(message: Hl7Message, *, sender_zone: tzinfo | None = None) -> AdtEvent:
    """The hospital event the message reports, or Hl7Error: AR 200/201 for a message type or
    trigger we do not take, AE for missing or malformed content. ``sender_zone`` is the
    hospital's time zone, for times sent without an offset."""
    if message.message_type != "ADT":
        raise Hl7Error(REJECT, f"message type {message.message_type or '(none)'} is not "
                               f"supported; this interface takes ADT", "MSH-9",
                       UNSUPPORTED_MESSAGE_TYPE)
    kind = TRIGGER_KINDS.get(message.trigger)
    if kind is None:
        raise Hl7Error(REJECT, f"ADT event {message.trigger or '(none)'} is not supported; "
                               f"this interface takes {', '.join(sorted(TRIGGER_KINDS))}",
                       "MSH-9", UNSUPPORTED_EVENT_CODE)
    msh = message.segments[0]  # parse() makes sure it is the MSH
    sent = msh.field(7).text()
    times = _Times(sender_zone or _offset_of(sent))
    evn = message.segment("EVN")
    recorded = evn.field(2).text() if evn else ""
    occurred_from = "EVN-2" if recorded else "MSH-7"
    occurred = times.read(recorded or sent, occurred_from)
    pv1 = message.segment("PV1")
    if pv1 is None and kind not in (UPDATE, MERGE):
        raise Hl7Error(ERROR, f"an ADT {message.trigger} needs a PV1 segment (the visit)",
                       "PV1", SEGMENT_SEQUENCE_ERROR)
    if pv1 is not None and kind in (CANCEL_ADMIT, CANCEL_DISCHARGE) \
            and not pv1.field(19).text():
        raise Hl7Error(ERROR, f"an ADT {message.trigger} names the visit it cancels by its "
                              f"visit number (PV1-19), which is empty", "PV1-19",
                       REQUIRED_FIELD_MISSING)
    prior = _prior_identifiers(message) if kind == MERGE else ()
    notes = list(message.notes)
    encounter = _encounter(pv1, kind, times) if pv1 is not None else None
    if encounter and kind == DISCHARGE and "end" not in encounter.get("period", {}):
        if occurred:
            encounter["period"] = {**encounter.get("period", {}), "end": occurred}
            notes.append(f"PV1-45 (discharge date/time) is empty; the discharge time is "
                         f"{occurred_from}")
        else:
            notes.append("PV1-45 (discharge date/time) is empty, and so are EVN-2 and MSH-7")
    facility = _organization(msh.field(4))
    return AdtEvent(
        kind=kind, message_id=message.control_id, source="hl7v2",
        patient=_patient(message.segment("PID")), encounter=encounter,
        conditions=tuple(_conditions(message.segments_named("DG1"), times, notes)),
        facility=facility, occurred=occurred, sender_name=(facility or {}).get("name"),
        notes=tuple(notes + times.notes), prior_identifiers=prior)


def _prior_identifiers(message: Hl7Message) -> tuple[dict[str, Any], ...]:
    """MRG-1 -> the identifiers merged away (an untyped one is an MRN), or Hl7Error AE."""
    merges = message.segments_named("MRG")
    if not merges:
        raise Hl7Error(ERROR, f"an ADT {message.trigger} needs an MRG segment (the prior "
                              f"identifiers)", "MRG", SEGMENT_SEQUENCE_ERROR)
    if len(merges) > 1 or len(message.segments_named("PID")) > 1:
        raise Hl7Error(ERROR, "one merge (a PID and its MRG) per message; send the others "
                              "one by one", "MRG[2]", SEGMENT_SEQUENCE_ERROR)
    prior = tuple(i for cx in merges[0].repetitions(1)
                  if (i := _identifier(cx, default_type="MR")))
    if not prior:
        raise Hl7Error(ERROR, "the prior patient identifier (MRG-1) is empty", "MRG-1",
                       REQUIRED_FIELD_MISSING)
    return prior


# -- times -----------------------------------------------------------------------------------

class _Times:
    """HL7 TS -> FHIR dateTime, reading times without an offset in ``zone`` (see the module
    docstring) and noting each time it had to keep a date only."""

    def __init__(self, zone: tzinfo | None) -> None:
        self.zone = zone
        self.notes: list[str] = []

    def read(self, value: str, location: str) -> str | None:
        """The FHIR dateTime of an HL7 TS (None when empty), or Hl7Error AE 102."""
        if not value:
            return None
        year, month, day, hour, minute, second, fraction, offset = _ts_parts(value, location)
        day_part = "-".join(p for p in (year, month, day) if p)
        if hour is None:
            return day_part
        local = datetime(int(year), int(month), int(day), int(hour), int(minute or 0),
                         int(second or 0))
        if offset:
            sign = -1 if offset[0] == "-" else 1
            utc_offset = sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        elif self.zone is not None:
            utc_offset = local.replace(tzinfo=self.zone).utcoffset() or timedelta(0)
        else:
            self.notes.append(f"{location} has no time zone; only its date is kept")
            return day_part
        clock_time = local.strftime("%H:%M:%S") + (f".{fraction}" if fraction else "")
        return f"{day_part}T{clock_time}{_iso_offset(utc_offset, value, location)}"


def _ts_parts(value: str, location: str) -> tuple[Any, ...]:
    """The parts of an HL7 TS (YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]), checked."""
    match = _TS.fullmatch(value.strip())
    problem = f"{location} {value!r} is not an HL7 date/time (YYYYMMDD[HHMM[SS]][+/-ZZZZ])"
    if match is None:
        raise Hl7Error(ERROR, problem, location, DATA_TYPE_ERROR)
    year, month, day, hour, minute, second, _, offset = match.groups()
    try:
        date(int(year), int(month or 1), int(day or 1))
        if int(hour or 0) > 23 or int(minute or 0) > 59 or int(second or 0) > 59 \
                or int((offset or "+0000")[3:]) > 59:
            raise ValueError(value)
    except ValueError as exc:
        raise Hl7Error(ERROR, problem, location, DATA_TYPE_ERROR) from exc
    return match.groups()


def _iso_offset(offset: timedelta, value: str, location: str) -> str:
    """``+HH:MM`` (FHIR allows -12:00 to +14:00), or Hl7Error AE 102."""
    minutes = int(offset.total_seconds() // 60)
    if not -12 * 60 <= minutes <= 14 * 60:
        raise Hl7Error(ERROR, f"{location} {value!r} has an impossible time zone offset",
                       location, DATA_TYPE_ERROR)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _offset_of(value: str) -> tzinfo | None:
    """The fixed zone of an HL7 TS's offset (MSH-7's implies the sender's), or None."""
    match = _TS.fullmatch(value.strip()) if value else None
    offset = match.group(8) if match else None
    if not offset or int(offset[1:3]) > 14 or int(offset[3:5]) > 59:
        return None
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))


def _date(value: str, location: str) -> str | None:
    """The FHIR date of an HL7 TS or DT (its time, if any, dropped), or Hl7Error AE 102."""
    if not value:
        return None
    year, month, day, *_ = _ts_parts(value, location)
    return "-".join(p for p in (year, month, day) if p)


# -- segments --------------------------------------------------------------------------------

def _patient(pid: Hl7Segment | None) -> dict[str, Any]:
    """PID -> Patient (v2-to-FHIR IG, PID[Patient]): identifiers, names, telecom, gender,
    birth date, addresses. AE when the person cannot be told apart from others."""
    if pid is None:
        raise Hl7Error(ERROR, "the message has no PID segment (the patient)", "PID",
                       SEGMENT_SEQUENCE_ERROR)
    identifiers = [i for cx in pid.repetitions(3) if (i := _identifier(cx))]
    names = [n for xpn in pid.repetitions(5) if (n := _human_name(xpn))]
    birth_date = _date(pid.field(7).text(), "PID-7")
    if not identifiers and not (names and birth_date):
        raise Hl7Error(ERROR, "no patient identifier (PID-3), nor a name and birth date to "
                              "find the patient by", "PID-3", REQUIRED_FIELD_MISSING)
    if not names:
        raise Hl7Error(ERROR, "the patient's name (PID-5) is missing", "PID-5",
                       REQUIRED_FIELD_MISSING)
    ssn = pid.field(19).text()
    if ssn and not any(i.get("system") == US_SSN and i["value"] == ssn for i in identifiers):
        identifiers.append({"type": _coded(V2_TABLE + "0203", "SS"), "system": US_SSN,
                            "value": ssn})
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if identifiers:
        patient["identifier"] = identifiers
    patient["name"] = names
    telecom = [t for xtn in pid.repetitions(13) if (t := _contact_point(xtn, "home"))]
    telecom += [t for xtn in pid.repetitions(14) if (t := _contact_point(xtn, "work"))]
    if telecom:
        patient["telecom"] = telecom
    gender = GENDERS.get(pid.field(8).text().upper())
    if gender:
        patient["gender"] = gender
    if birth_date:
        patient["birthDate"] = birth_date
    addresses = [a for xad in pid.repetitions(11) if (a := _address(xad))]
    if addresses:
        patient["address"] = addresses
    return patient


def _encounter(pv1: Hl7Segment, kind: str, times: _Times) -> dict[str, Any]:
    """PV1 -> Encounter (v2-to-FHIR IG, PV1[Encounter]): class, visit number, period,
    locations, attending doctor, hospital service, admit source, discharge disposition."""
    discharged = times.read(pv1.field(45).text(), "PV1-45")
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished" if kind == DISCHARGE or discharged else "in-progress",
        "class": _encounter_class(pv1.field(2).text().upper()),
    }
    visit = _identifier(pv1.field(19), default_type="VN")
    if visit:
        encounter["identifier"] = [visit]
    service = pv1.field(10).text()
    if service:
        encounter["serviceType"] = {"coding": [{"system": V2_TABLE + "0069", "code": service}]}
    attending = _practitioner(pv1.field(7))
    if attending:
        encounter["participant"] = [{"type": [_coded(PARTICIPATION_TYPE, "ATND", "attender")],
                                     "individual": attending}]
    period = {k: v for k, v in (("start", times.read(pv1.field(44).text(), "PV1-44")),
                                ("end", discharged)) if v}
    if period:
        encounter["period"] = period
    hospitalization = {}
    admit_source = pv1.field(14).text()
    if admit_source:
        hospitalization["admitSource"] = _coded(V2_TABLE + "0023", admit_source)
    disposition = pv1.field(36).text()
    if disposition:
        hospitalization["dischargeDisposition"] = _coded(V2_TABLE + "0112", disposition)
    if hospitalization:
        encounter["hospitalization"] = hospitalization
    here = "completed" if encounter["status"] == "finished" else "active"
    locations = [{"location": {"display": place}, "status": status}
                 for place, status in ((_place(pv1.field(3)), here),
                                       (_place(pv1.field(6)), "completed")) if place]
    if locations:
        encounter["location"] = locations
    return encounter


def _encounter_class(patient_class: str) -> dict[str, str]:
    """PV1-2 (table 0004) -> Encounter.class: the IG's ActCode where there is one, else the
    v2 code itself (the binding is extensible), else unknown."""
    if patient_class in PATIENT_CLASSES:
        return {"system": ACT_CODE, "code": PATIENT_CLASSES[patient_class]}
    if patient_class:
        return {"system": V2_TABLE + "0004", "code": patient_class}
    return {"system": NULL_FLAVOR, "code": "UNK", "display": "unknown"}


def _conditions(segments: list[Hl7Segment], times: _Times,
                notes: list[str]) -> list[dict[str, Any]]:
    """DG1 -> Condition each (v2-to-FHIR IG, DG1[Condition]), as encounter diagnoses."""
    conditions = []
    for number, dg1 in enumerate(segments, start=1):
        where = f"DG1[{number}]" if number > 1 else "DG1"
        code = _codeable_concept(dg1.field(3), fallback_system=dg1.field(2).text(),
                                 fallback_text=dg1.field(4).text(), notes=notes, where=where)
        if code is None:
            notes.append(f"{where} has no diagnosis code (DG1-3) or description; ignored")
            continue
        diagnosis_type = dg1.field(6).text().upper()
        verification = "provisional" if diagnosis_type in PROVISIONAL_DIAGNOSIS_TYPES \
            else "confirmed"
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": _coded(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": _coded(CONDITION_VERIFICATION, verification,
                                         verification.capitalize()),
            "category": [_coded(CONDITION_CATEGORY, "encounter-diagnosis",
                                "Encounter Diagnosis")],
            "code": code,
        }
        recorded = times.read(dg1.field(5).text(), f"{where}-5")
        if recorded:
            condition["recordedDate"] = recorded
        conditions.append(condition)
    return conditions


def _organization(hd: Hl7Field) -> dict[str, Any] | None:
    """MSH-4 (HD) -> Organization: the name, and an identifier when HD.2 is an OID, a URI or
    (HD.3 ``NPI``) a National Provider Identifier."""
    name, universal_id, id_type = hd.text(1), hd.text(2), hd.text(3).upper()
    if not name and not universal_id:
        return None
    organization: dict[str, Any] = {"resourceType": "Organization"}
    if id_type == "NPI" and universal_id:
        organization["identifier"] = [{"system": US_NPI, "value": universal_id}]
    elif universal_id and _OID.fullmatch(universal_id):
        organization["identifier"] = [{"system": URI_SYSTEM, "value": f"urn:oid:{universal_id}"}]
    elif universal_id and id_type in ("URI", "URL") and _URI.fullmatch(universal_id):
        organization["identifier"] = [{"system": URI_SYSTEM, "value": universal_id}]
    organization["name"] = name or universal_id
    return organization


# -- data types ------------------------------------------------------------------------------

def _codeable_concept(ce: Hl7Field, *, fallback_system: str, fallback_text: str,
                      notes: list[str], where: str) -> dict[str, Any] | None:
    """CE/CWE -> CodeableConcept: the code (components 1-3) and the alternate (4-6)."""
    codings = []
    for first in (1, 4):
        code = ce.text(first)
        system_name = ce.text(first + 2) or (fallback_system if first == 1 else "")
        if not code:
            continue
        system = DIAGNOSIS_SYSTEMS.get(re.sub(r"[^A-Z0-9]", "", system_name.upper()))
        if system is None:
            notes.append(f"{where}-3 coding system {system_name or '(none)'!r} is not one we "
                         f"know; the code is kept without a system")
        coding = {"system": system} if system else {}
        coding["code"] = _dotted(code, system)
        if ce.text(first + 1):
            coding["display"] = ce.text(first + 1)
        codings.append(coding)
    text = ce.text(2) or fallback_text
    if not codings and not text:
        return None
    concept: dict[str, Any] = {"coding": codings} if codings else {}
    if text:
        concept["text"] = text
    return concept


def _dotted(code: str, system: str | None) -> str:
    """ICD codes as FHIR's ICD systems write them (``F32.2``); v2 senders often drop the dot."""
    if system and "icd-" in system and "." not in code and len(code) > 3:
        split = 4 if code.startswith("E") and system.endswith("icd-9-cm") else 3
        return f"{code[:split]}.{code[split:]}"
    return code


def _identifier(cx: Hl7Field, default_type: str = "") -> dict[str, Any] | None:
    """CX -> Identifier: CX.1 value, CX.4 assigning authority -> system, CX.5 -> type."""
    value = cx.text(1)
    if not value:
        return None
    identifier: dict[str, Any] = {}
    type_code = cx.text(5).upper() or default_type
    if type_code:
        identifier["type"] = _coded(V2_TABLE + "0203", type_code)
    namespace, universal_id, id_type = cx.text(4, 1), cx.text(4, 2), cx.text(4, 3)
    system = _authority_system(namespace, universal_id, id_type)
    if type_code == "SS" and (system is None or system == f"urn:oid:{SSA_OID}"
                              or namespace.upper() in ("SSA", "USSSA")):
        system = US_SSN
    if system:
        identifier["system"] = system
    identifier["value"] = value
    if namespace:
        identifier["assigner"] = {"display": namespace}
    return identifier


def _authority_system(namespace: str, universal_id: str, id_type: str) -> str | None:
    """An assigning authority (HD) as an identifier system: ``urn:oid:`` for an ISO OID, the
    URI itself, else a URN naming the authority's namespace id."""
    if universal_id and _OID.fullmatch(universal_id) and id_type.upper() in ("ISO", ""):
        return f"urn:oid:{universal_id}"
    if universal_id and id_type.upper() == "UUID":
        return f"urn:uuid:{universal_id.lower()}"
    if universal_id and _URI.fullmatch(universal_id) and id_type.upper() in ("URI", "URL", ""):
        return universal_id
    if namespace:
        return AUTHORITY_PREFIX + quote(namespace, safe="")
    return None


def _human_name(xpn: Hl7Field) -> dict[str, Any] | None:
    """XPN -> HumanName: family (XPN.1), given (XPN.2, then XPN.3), suffix (XPN.4, degree
    XPN.6), prefix (XPN.5), use from the name type (XPN.7)."""
    family = xpn.text(1)
    given = [g for g in (xpn.text(2), xpn.text(3)) if g]
    if not family and not given:
        return None
    name: dict[str, Any] = {}
    use = NAME_USES.get(xpn.text(7).upper())
    if use:
        name["use"] = use
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if xpn.text(5):
        name["prefix"] = [xpn.text(5)]
    suffixes = [s for s in (xpn.text(4), xpn.text(6)) if s]
    if suffixes:
        name["suffix"] = suffixes
    return name


def _address(xad: Hl7Field) -> dict[str, Any] | None:
    """XAD -> Address: street (XAD.1-2), city, state, postal code, country, county (XAD.9),
    and the address type (XAD.7) as use (or ``postal`` type for a mailing address)."""
    parts = {"line": [line for line in (xad.text(1), xad.text(2)) if line],
             "city": xad.text(3), "district": xad.text(9), "state": xad.text(4),
             "postalCode": xad.text(5), "country": xad.text(6)}
    address: dict[str, Any] = {k: v for k, v in parts.items() if v}
    if not address:
        return None
    address_type = xad.text(7).upper()
    if address_type in ADDRESS_USES:
        address = {"use": ADDRESS_USES[address_type], **address}
    elif address_type == "M":
        address = {"type": "postal", **address}
    return address


def _contact_point(xtn: Hl7Field, default_use: str) -> dict[str, Any] | None:
    """XTN -> ContactPoint: an e-mail (XTN.4), else the number from its parts (XTN.5-8),
    else the unformatted (XTN.12) or free-text (XTN.1) number."""
    equipment = xtn.text(3).upper()
    system = TELECOM_SYSTEMS.get(equipment, "phone")
    if xtn.text(2).upper() == "NET" or system == "email":
        value, system = xtn.text(4) or xtn.text(1), "email"
    else:
        country, area, local, extension = (xtn.text(n) for n in (5, 6, 7, 8))
        composed = " ".join(p for p in (f"+{country}" if country else "",
                                        f"({area})" if area else "", local) if p)
        if composed and local and extension:
            composed += f" ext. {extension}"
        value = composed if local else (xtn.text(12) or xtn.text(1))
    if not value:
        return None
    use = "mobile" if equipment == "CP" else "work" if xtn.text(2).upper() == "WPN" \
        else default_use
    return {"system": system, "value": value, "use": use}


def _practitioner(xcn: Hl7Field) -> dict[str, Any] | None:
    """XCN -> a Reference by identifier and display (the sender's Practitioner is not ours)."""
    number = xcn.text(1)
    display = " ".join(p for p in (xcn.text(6), xcn.text(3), xcn.text(4), xcn.text(2),
                                   xcn.text(5)) if p)
    if not number and not display:
        return None
    reference: dict[str, Any] = {}
    if number:
        identifier = {"value": number}
        system = _authority_system(xcn.text(9, 1), xcn.text(9, 2), xcn.text(9, 3))
        reference["identifier"] = {"system": system, **identifier} if system else identifier
    if display:
        reference["display"] = display
    return reference


def _place(pl: Hl7Field) -> str:
    """PL -> a location's display: point of care, room, bed, facility (PL.1-4)."""
    labelled = [(label, pl.text(n)) for n, label in ((1, ""), (2, "room "), (3, "bed "))]
    place = ", ".join(f"{label}{value}" for label, value in labelled if value)
    facility = pl.text(4)
    return f"{place} ({facility})" if place and facility else place or facility


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}

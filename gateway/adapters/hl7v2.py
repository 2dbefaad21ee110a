"""HL7 v2 ADT in, ACK out: hospital admit/transfer/discharge/update messages as ``AdtEvent``.

    message = parse(raw)            # bytes as received (MLLP framing and \\n separators are fine)
    event = to_event(message)       # AdtEvent: Patient, Encounter, Conditions, Organization
    answer = ack(message, "AA")     # the ACK, in the message's version and character set

Any of the three steps may raise ``Hl7Error``; ``ack(raw, error.ack_code, error=error)`` then
answers it, even for bytes that are not HL7 at all. The ACK follows HL7 v2.5.1 chapter 2
(2.9 acknowledgment, 2.15.8 ERR, 2.15.8/2.14 MSA) in original acknowledgment mode: ``AA``
taken, ``AE`` the content is wrong (resending it unchanged will not help), ``AR`` the message
cannot be processed here at all (not HL7, unsupported version, character set, type or event).

Decisions worth knowing:

- **Versions** 2.3 to 2.5.1 are taken (what hospital ADT feeds send); others are rejected with
  ``AR`` 203 so that nobody silently relies on an untested version.
- **Character set** comes from MSH-18 (table 0211), read from the raw MSH line (it is ASCII in
  every ASCII-compatible character set): ASCII (or empty), 8859/1-9 and 8859/15, UNICODE UTF-8,
  with common spellings (``UTF-8``, ``ISO-8859-1``, ``Latin-1``) accepted. Anything else is
  ``AR``. When MSH-18 says ASCII, or nothing, but the bytes are 8-bit, the message is read as
  UTF-8 if it is valid UTF-8 and as ISO 8859-1 otherwise, with a note: an empty MSH-18 is a
  sender that never thought about it, and refusing a discharge over it would cost a referral.
  A charset that *is* declared and does not fit the bytes is ``AE`` (the bytes are corrupt).
- **Parsing** uses hl7apy with ``VALIDATION_LEVEL.TOLERANT`` and no group detection, so
  Z-segments, extra fields and out-of-order segments pass; segments hl7apy does not know for the
  version are dropped with a note. What the events need is checked here instead: a PID with an
  identifier (or a name and birth date), a name, a PV1 (except for A08), valid dates.
- **Times** without an offset are read in ``sender_zone`` when the caller gives one, else in
  the offset of MSH-7 (HL7: the sender's zone is implied), else only their date is kept (FHIR
  needs a zone with a time; a guessed zone could move a discharge to another day).
- **A03 without PV1-45** is taken: the discharge time is EVN-2 (else MSH-7), with a note,
  since the referral only needs the discharge day and losing it would lose the follow-up.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote

from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Field, Message, Segment
from hl7apy.exceptions import ChildNotFound, HL7apyException
from hl7apy.parser import get_message_info, parse_message

from gateway.adapters.adt_event import ADMIT, DISCHARGE, TRANSFER, UPDATE, AdtEvent

# MSA-1 acknowledgment codes (table 0008, original mode).
ACCEPT, ERROR, REJECT = "AA", "AE", "AR"
ACK_CODES = (ACCEPT, ERROR, REJECT)

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
DEFAULT_VERSION = "2.5.1"  # for the ACK to bytes whose MSH-12 cannot be read
TRIGGER_KINDS = {"A01": ADMIT, "A04": ADMIT, "A02": TRANSFER, "A03": DISCHARGE, "A08": UPDATE}

# Message error condition codes (table 0357) and their texts, for ERR-3 / ERR-1.
MESSAGE_ACCEPTED = 0
SEGMENT_SEQUENCE_ERROR = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT_CODE = 201
UNSUPPORTED_VERSION_ID = 203
APPLICATION_INTERNAL_ERROR = 207
ERROR_TEXTS = {0: "Message accepted", 100: "Segment sequence error",
               101: "Required field missing", 102: "Data type error",
               103: "Table value not found", 200: "Unsupported message type",
               201: "Unsupported event code", 202: "Unsupported processing id",
               203: "Unsupported version id", 204: "Unknown key identifier",
               205: "Duplicate key identifier", 206: "Application record locked",
               207: "Application internal error"}

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
_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\.(\d+))?)?")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_MLLP_FRAMING = b"\x0b\x1c"
_UTF8_BOM = b"\xef\xbb\xbf"


class Hl7Error(Exception):
    """Why a message is not taken, as the ACK will say it: ``ack_code`` AE (content wrong) or
    AR (cannot be processed at all), ``text`` one line for people, ``location`` where (e.g.
    ``PID-3``, ``DG1[2]-3``, ``MSH``; empty when nowhere in particular), ``hl7_code`` the
    table 0357 error condition (101 required field missing, 203 unsupported version...)."""

    def __init__(self, ack_code: str, text: str, location: str = "",
                 hl7_code: int = APPLICATION_INTERNAL_ERROR) -> None:
        assert ack_code in (ERROR, REJECT)
        super().__init__(f"{location}: {text}" if location else text)
        self.ack_code = ack_code
        self.text = text
        self.location = location
        self.hl7_code = hl7_code


@dataclass(frozen=True, eq=False)
class Hl7Message:
    """One parsed message and what its MSH says. The application and facility fields are kept
    as received (ER7, all components), so the ACK can return them unchanged; ``charset`` is
    MSH-18 as declared and ``codec`` the Python codec the bytes were read with; ``notes`` say
    what was tolerated on the way (dropped segments, an undeclared character set)."""

    version: str
    message_type: str
    trigger: str
    control_id: str
    processing_id: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    charset: str
    codec: str
    message: Message
    notes: tuple[str, ...] = ()


# -- bytes -> text ---------------------------------------------------------------------------

class _Decoded(NamedTuple):
    text: str
    charset: str  # MSH-18 as declared
    codec: str  # the codec the text was read with
    notes: tuple[str, ...]


def decode(raw: bytes) -> str:
    """The message as text, read in the character set MSH-18 names (see the module docstring
    for an ASCII declaration with 8-bit bytes). Hl7Error AR for a character set we do not
    know, AE for bytes that are not in the one declared."""
    return _decode(raw).text


def _decode(raw: bytes) -> _Decoded:
    body = _unframed(raw)
    declared = _declared_charset(body)
    codec = _codec_for(declared)
    if codec is None:
        raise Hl7Error(REJECT, f"character set {declared!r} (MSH-18) is not supported; "
                               f"send ASCII, 8859/1 or UNICODE UTF-8", "MSH-18",
                       TABLE_VALUE_NOT_FOUND)
    if codec != "ascii":
        try:
            return _Decoded(body.decode(codec), declared, codec, ())
        except UnicodeDecodeError as exc:
            raise Hl7Error(ERROR, f"byte {exc.start} is not {declared} as MSH-18 declares",
                           "MSH-18", DATA_TYPE_ERROR) from exc
    try:
        return _Decoded(body.decode("ascii"), declared, "ascii", ())
    except UnicodeDecodeError:
        pass
    said = f"MSH-18 says {declared}" if declared else "MSH-18 is empty (ASCII)"
    try:
        return _Decoded(body.decode("utf-8"), declared, "utf-8",
                        (f"{said} but the message has 8-bit bytes; read as UTF-8",))
    except UnicodeDecodeError:
        return _Decoded(body.decode("iso8859-1"), declared, "iso8859-1",
                        (f"{said} but the message has 8-bit bytes; read as ISO 8859-1",))


def _unframed(raw: bytes) -> bytes:
    """The message without MLLP framing bytes, a UTF-8 byte order mark or surrounding blanks."""
    body = raw.strip(_MLLP_FRAMING + b" \t\r\n")
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM):].lstrip()
    return body


def _declared_charset(body: bytes) -> str:
    """MSH-18's first repetition, read from the raw MSH line ("" when absent or no MSH)."""
    line = _LINE_BREAK.split(body, maxsplit=1)[0]
    if not line.startswith(b"MSH") or len(line) < 8:
        return ""
    fields = line.split(line[3:4])  # fields[n - 1] is MSH-n: MSH-1 is the separator itself
    if len(fields) < 18:
        return ""
    repetition = fields[1][1:2] or b"~"
    return fields[17].split(repetition)[0].decode("ascii", "replace").strip()


def _codec_for(declared: str) -> str | None:
    """The Python codec for an MSH-18 value (table 0211, leniently spelled), or None."""
    name = re.sub(r"[\s_]+", " ", declared.strip().upper())
    if name in ("", "ASCII", "US-ASCII", "US ASCII"):
        return "ascii"
    if name in ("UNICODE UTF-8", "UNICODE UTF8", "UTF-8", "UTF8", "UNICODE"):
        return "utf-8"
    latin = re.fullmatch(r"(?:ISO ?-?)?8859 ?[/-]? ?(\d{1,2})|LATIN ?-?1", name)
    if latin:
        part = int(latin.group(1) or 1)
        return f"iso8859-{part}" if part in (*range(1, 10), 15) else None
    return None


# -- text -> message -------------------------------------------------------------------------

def parse(raw: bytes) -> Hl7Message:
    """The message in ``raw`` (bytes as received), or Hl7Error: AR when it is not an HL7 v2
    message we can read (no MSH, bad encoding characters, unknown charset, unsupported
    version), AE when MSH-10 (needed to acknowledge it) is empty."""
    decoded = _decode(raw)
    text = decoded.text.replace("\r\n", "\r").replace("\n", "\r")
    if not re.match(r"MSH[^A-Za-z0-9\s]", text):
        raise Hl7Error(REJECT, "not an HL7 v2 message: it does not begin with an MSH segment",
                       "MSH", SEGMENT_SEQUENCE_ERROR)
    try:
        encoding_chars, _, version = get_message_info(text)
    except (HL7apyException, IndexError, ValueError) as exc:
        raise Hl7Error(REJECT, "the encoding characters (MSH-2) are not usable", "MSH-2",
                       DATA_TYPE_ERROR) from exc
    version = (version or "").strip()
    if version not in SUPPORTED_VERSIONS:
        raise Hl7Error(REJECT, f"HL7 version {version or '(none)'} is not supported; "
                               f"send {', '.join(SUPPORTED_VERSIONS)}", "MSH-12",
                       UNSUPPORTED_VERSION_ID)
    segments, dropped = _known_segments(text, version, encoding_chars["FIELD"])
    try:
        message = parse_message("\r".join(segments), find_groups=False,
                                validation_level=VALIDATION_LEVEL.TOLERANT)
    except HL7apyException as exc:
        raise Hl7Error(ERROR, f"the message cannot be parsed: {exc}", "",
                       DATA_TYPE_ERROR) from exc
    msh = _segments(message, "MSH")[0]
    control_id = _er7(_field(msh, 10)).strip()
    if not control_id:
        raise Hl7Error(ERROR, "the message control id (MSH-10) is empty", "MSH-10",
                       REQUIRED_FIELD_MISSING)
    evn = next(iter(_segments(message, "EVN")), None)
    return Hl7Message(
        version=version, message_type=_text(_field(msh, 9), 1).upper(),
        trigger=(_text(_field(msh, 9), 2) or _text(_field(evn, 1))).upper(),
        control_id=control_id, processing_id=_text(_field(msh, 11)),
        sending_application=_er7(_field(msh, 3)), sending_facility=_er7(_field(msh, 4)),
        receiving_application=_er7(_field(msh, 5)), receiving_facility=_er7(_field(msh, 6)),
        charset=decoded.charset, codec=decoded.codec, message=message,
        notes=decoded.notes + dropped)


def _known_segments(text: str, version: str, field_separator: str
                    ) -> tuple[list[str], tuple[str, ...]]:
    """The segments hl7apy can parse (the version's own and Z-segments) and a note for each
    one dropped. A second MSH (two messages in one) is AR: one message at a time."""
    kept: list[str] = []
    notes: list[str] = []
    for segment in (s.strip() for s in text.split("\r")):
        if not segment:
            continue
        name = segment[:3].upper()
        if kept and name == "MSH":
            raise Hl7Error(REJECT, "two messages in one: send one message at a time", "MSH",
                           SEGMENT_SEQUENCE_ERROR)
        if segment[3:4] in ("", field_separator) and _is_segment(name, version):
            kept.append(segment)
        else:
            notes.append(f"segment {len(kept) + len(notes) + 1} ({segment[:10]!r}) is not an "
                         f"HL7 {version} segment; ignored")
    return kept, tuple(notes)


@lru_cache(maxsize=512)
def _is_segment(name: str, version: str) -> bool:
    """A Z-segment, or a segment the version defines (hl7apy parses no other)."""
    if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", name):
        return False
    if name.startswith("Z"):
        return True
    try:
        load_reference(name, "Segment", version)
    except ChildNotFound:
        return False
    return True


# -- message -> AdtEvent ---------------------------------------------------------------------

def to_event(message: Hl7Message, *, sender_zone: tzinfo | None = None) -> AdtEvent:
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
    msh = _segments(message.message, "MSH")[0]
    sent = _text(_field(msh, 7))
    times = _Times(sender_zone or _offset_of(sent))
    evn = next(iter(_segments(message.message, "EVN")), None)
    recorded = _text(_field(evn, 2))
    occurred_from = "EVN-2" if recorded else "MSH-7"
    occurred = times.read(recorded or sent, occurred_from)
    pv1 = next(iter(_segments(message.message, "PV1")), None)
    if pv1 is None and kind != UPDATE:
        raise Hl7Error(ERROR, f"an ADT {message.trigger} needs a PV1 segment (the visit)",
                       "PV1", SEGMENT_SEQUENCE_ERROR)
    notes = list(message.notes)
    encounter = _encounter(pv1, kind, times) if pv1 is not None else None
    if encounter and kind == DISCHARGE and "end" not in encounter.get("period", {}):
        if occurred:
            encounter["period"] = {**encounter.get("period", {}), "end": occurred}
            notes.append(f"PV1-45 (discharge date/time) is empty; the discharge time is "
                         f"{occurred_from}")
        else:
            notes.append("PV1-45 (discharge date/time) is empty, and so are EVN-2 and MSH-7")
    facility = _organization(_field(msh, 4))
    return AdtEvent(
        kind=kind, message_id=message.control_id, source="hl7v2",
        patient=_patient(message.message), encounter=encounter,
        conditions=tuple(_conditions(message.message, times, notes)), facility=facility,
        occurred=occurred, sender_name=(facility or {}).get("name"),
        notes=tuple(notes + times.notes))


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


def _patient(message: Message) -> dict[str, Any]:
    """PID -> Patient (v2-to-FHIR IG, PID[Patient]): identifiers, names, telecom, gender,
    birth date, addresses. AE when the person cannot be told apart from others."""
    pid = next(iter(_segments(message, "PID")), None)
    if pid is None:
        raise Hl7Error(ERROR, "the message has no PID segment (the patient)", "PID",
                       SEGMENT_SEQUENCE_ERROR)
    identifiers = [i for cx in _fields(pid, 3) if (i := _identifier(cx))]
    names = [n for xpn in _fields(pid, 5) if (n := _human_name(xpn))]
    birth_date = _date(_text(_field(pid, 7)), "PID-7")
    if not identifiers and not (names and birth_date):
        raise Hl7Error(ERROR, "no patient identifier (PID-3), nor a name and birth date to "
                              "find the patient by", "PID-3", REQUIRED_FIELD_MISSING)
    if not names:
        raise Hl7Error(ERROR, "the patient's name (PID-5) is missing", "PID-5",
                       REQUIRED_FIELD_MISSING)
    ssn = _text(_field(pid, 19))
    if ssn and not any(i.get("system") == US_SSN and i["value"] == ssn for i in identifiers):
        identifiers.append({"type": _coded(V2_TABLE + "0203", "SS"), "system": US_SSN,
                            "value": ssn})
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if identifiers:
        patient["identifier"] = identifiers
    patient["name"] = names
    telecom = [t for xtn in _fields(pid, 13) if (t := _contact_point(xtn, "home"))]
    telecom += [t for xtn in _fields(pid, 14) if (t := _contact_point(xtn, "work"))]
    if telecom:
        patient["telecom"] = telecom
    gender = GENDERS.get(_text(_field(pid, 8)).upper())
    if gender:
        patient["gender"] = gender
    if birth_date:
        patient["birthDate"] = birth_date
    addresses = [a for xad in _fields(pid, 11) if (a := _address(xad))]
    if addresses:
        patient["address"] = addresses
    return patient


def _encounter(pv1: Segment, kind: str, times: _Times) -> dict[str, Any]:
    """PV1 -> Encounter (v2-to-FHIR IG, PV1[Encounter]): class, visit number, period,
    locations, attending doctor, hospital service, admit source, discharge disposition."""
    discharged = times.read(_text(_field(pv1, 45)), "PV1-45")
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished" if kind == DISCHARGE or discharged else "in-progress",
        "class": _encounter_class(_text(_field(pv1, 2)).upper()),
    }
    visit = _identifier(_field(pv1, 19), default_type="VN")
    if visit:
        encounter["identifier"] = [visit]
    service = _text(_field(pv1, 10))
    if service:
        encounter["serviceType"] = {"coding": [{"system": V2_TABLE + "0069", "code": service}]}
    attending = _practitioner(_field(pv1, 7))
    if attending:
        encounter["participant"] = [{"type": [_coded(PARTICIPATION_TYPE, "ATND", "attender")],
                                     "individual": attending}]
    period = {k: v for k, v in (("start", times.read(_text(_field(pv1, 44)), "PV1-44")),
                                ("end", discharged)) if v}
    if period:
        encounter["period"] = period
    hospitalization = {}
    admit_source = _text(_field(pv1, 14))
    if admit_source:
        hospitalization["admitSource"] = _coded(V2_TABLE + "0023", admit_source)
    disposition = _text(_field(pv1, 36))
    if disposition:
        hospitalization["dischargeDisposition"] = _coded(V2_TABLE + "0112", disposition)
    if hospitalization:
        encounter["hospitalization"] = hospitalization
    here = "completed" if encounter["status"] == "finished" else "active"
    locations = [{"location": {"display": place}, "status": status}
                 for place, status in ((_place(_field(pv1, 3)), here),
                                       (_place(_field(pv1, 6)), "completed")) if place]
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


def _conditions(message: Message, times: _Times, notes: list[str]) -> list[dict[str, Any]]:
    """DG1 -> Condition each (v2-to-FHIR IG, DG1[Condition]), as encounter diagnoses."""
    conditions = []
    for number, dg1 in enumerate(_segments(message, "DG1"), start=1):
        where = f"DG1[{number}]" if number > 1 else "DG1"
        code = _codeable_concept(_field(dg1, 3), fallback_system=_text(_field(dg1, 2)),
                                 fallback_text=_text(_field(dg1, 4)), notes=notes, where=where)
        if code is None:
            notes.append(f"{where} has no diagnosis code (DG1-3) or description; ignored")
            continue
        diagnosis_type = _text(_field(dg1, 6)).upper()
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
        recorded = times.read(_text(_field(dg1, 5)), f"{where}-5")
        if recorded:
            condition["recordedDate"] = recorded
        conditions.append(condition)
    return conditions


def _codeable_concept(ce: Field | None, *, fallback_system: str, fallback_text: str,
                      notes: list[str], where: str) -> dict[str, Any] | None:
    """CE/CWE -> CodeableConcept: the code (components 1-3) and the alternate (4-6)."""
    codings = []
    for first in (1, 4):
        code = _text(ce, first)
        system_name = _text(ce, first + 2) or (fallback_system if first == 1 else "")
        if not code:
            continue
        system = DIAGNOSIS_SYSTEMS.get(re.sub(r"[^A-Z0-9]", "", system_name.upper()))
        if system is None:
            notes.append(f"{where}-3 coding system {system_name or '(none)'!r} is not one we "
                         f"know; the code is kept without a system")
        coding = {"system": system} if system else {}
        coding["code"] = _dotted(code, system)
        if _text(ce, first + 1):
            coding["display"] = _text(ce, first + 1)
        codings.append(coding)
    text = _text(ce, 2) or fallback_text
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


def _organization(hd: Field | None) -> dict[str, Any] | None:
    """MSH-4 (HD) -> Organization: the name, and an identifier when HD.2 is an OID, a URI or
    (HD.3 ``NPI``) a National Provider Identifier."""
    name, universal_id, id_type = _text(hd, 1), _text(hd, 2), _text(hd, 3).upper()
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


def _identifier(cx: Field | None, default_type: str = "") -> dict[str, Any] | None:
    """CX -> Identifier: CX.1 value, CX.4 assigning authority -> system, CX.5 -> type."""
    value = _text(cx, 1)
    if not value:
        return None
    identifier: dict[str, Any] = {}
    type_code = _text(cx, 5).upper() or default_type
    if type_code:
        identifier["type"] = _coded(V2_TABLE + "0203", type_code)
    namespace, universal_id, id_type = _text(cx, 4, 1), _text(cx, 4, 2), _text(cx, 4, 3)
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


def _human_name(xpn: Field) -> dict[str, Any] | None:
    """XPN -> HumanName: family (XPN.1), given (XPN.2, then XPN.3), suffix (XPN.4, degree
    XPN.6), prefix (XPN.5), use from the name type (XPN.7)."""
    family = _text(xpn, 1)
    given = [g for g in (_text(xpn, 2), _text(xpn, 3)) if g]
    if not family and not given:
        return None
    name: dict[str, Any] = {}
    use = NAME_USES.get(_text(xpn, 7).upper())
    if use:
        name["use"] = use
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if _text(xpn, 5):
        name["prefix"] = [_text(xpn, 5)]
    suffixes = [s for s in (_text(xpn, 4), _text(xpn, 6)) if s]
    if suffixes:
        name["suffix"] = suffixes
    return name


def _date(value: str, location: str) -> str | None:
    """The FHIR date of an HL7 TS or DT (its time, if any, dropped), or Hl7Error AE 102."""
    if not value:
        return None
    year, month, day, *_ = _ts_parts(value, location)
    return "-".join(p for p in (year, month, day) if p)


def _address(xad: Field) -> dict[str, Any] | None:
    """XAD -> Address: street (XAD.1-2), city, state, postal code, country, county (XAD.9),
    and the address type (XAD.7) as use (or ``postal`` type for a mailing address)."""
    parts = {"line": [line for line in (_text(xad, 1), _text(xad, 2)) if line],
             "city": _text(xad, 3), "district": _text(xad, 9), "state": _text(xad, 4),
             "postalCode": _text(xad, 5), "country": _text(xad, 6)}
    address: dict[str, Any] = {k: v for k, v in parts.items() if v}
    if not address:
        return None
    address_type = _text(xad, 7).upper()
    if address_type in ADDRESS_USES:
        address = {"use": ADDRESS_USES[address_type], **address}
    elif address_type == "M":
        address = {"type": "postal", **address}
    return address


def _contact_point(xtn: Field, default_use: str) -> dict[str, Any] | None:
    """XTN -> ContactPoint: an e-mail (XTN.4), else the number from its parts (XTN.5-8),
    else the unformatted (XTN.12) or free-text (XTN.1) number."""
    equipment = _text(xtn, 3).upper()
    system = TELECOM_SYSTEMS.get(equipment, "phone")
    if _text(xtn, 2).upper() == "NET" or system == "email":
        value, system = _text(xtn, 4) or _text(xtn, 1), "email"
    else:
        country, area, local, extension = (_text(xtn, n) for n in (5, 6, 7, 8))
        composed = " ".join(p for p in (f"+{country}" if country else "",
                                        f"({area})" if area else "", local) if p)
        if composed and local and extension:
            composed += f" ext. {extension}"
        value = composed if local else (_text(xtn, 12) or _text(xtn, 1))
    if not value:
        return None
    use = "mobile" if equipment == "CP" else "work" if _text(xtn, 2).upper() == "WPN" \
        else default_use
    return {"system": system, "value": value, "use": use}


def _practitioner(xcn: Field | None) -> dict[str, Any] | None:
    """XCN -> a Reference by identifier and display (the sender's Practitioner is not ours)."""
    number = _text(xcn, 1)
    display = " ".join(p for p in (_text(xcn, 6), _text(xcn, 3), _text(xcn, 4), _text(xcn, 2),
                                   _text(xcn, 5)) if p)
    if not number and not display:
        return None
    reference: dict[str, Any] = {}
    if number:
        identifier = {"value": number}
        system = _authority_system(_text(xcn, 9, 1), _text(xcn, 9, 2), _text(xcn, 9, 3))
        reference["identifier"] = {"system": system, **identifier} if system else identifier
    if display:
        reference["display"] = display
    return reference


def _place(pl: Field | None) -> str:
    """PL -> a location's display: point of care, room, bed, facility (PL.1-4)."""
    labelled = [(label, _text(pl, n)) for n, label in ((1, ""), (2, "room "), (3, "bed "))]
    place = ", ".join(f"{label}{value}" for label, value in labelled if value)
    facility = _text(pl, 4)
    return f"{place} ({facility})" if place and facility else place or facility


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


# -- ACK -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Envelope:
    """What an ACK takes from the message it answers (its MSH), with the defaults used when
    there is no usable MSH at all."""

    field_separator: str = "|"
    encoding_characters: str = "^~\\&"  # component, repetition, escape, subcomponent
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = DEFAULT_VERSION
    trigger: str = ""
    charset: str = ""
    codec: str = "ascii"


def ack(received: bytes | Hl7Message, code: str, text: str | None = None,
        error: Hl7Error | None = None) -> bytes:
    """The ACK to ``received`` (the parsed message, or the raw bytes when they could not be
    parsed: the ACK is then built from what can be read of the MSH line, or from defaults),
    unframed, encoded in the message's character set.

    MSH swaps sender and receiver and keeps the version, processing id and MSH-18; MSH-9 is
    ``ACK^<trigger>^ACK`` (``ACK^<trigger>`` in 2.3, whose MSG type has no structure); MSA
    carries the code and the original MSH-10. Before 2.5 the text goes in MSA-3 and an error in
    MSA-6 and ERR-1 (ELD: segment^sequence^field^code); from 2.5 on in ERR (ERR-2 location,
    ERR-3 table 0357 code, ERR-4 severity, ERR-8 user message), per v2.5.1 chapter 2.15.5."""
    if code not in ACK_CODES:
        raise ValueError(f"an ACK code is one of {ACK_CODES}, not {code!r}")
    envelope = _envelope_of(received)
    text = text if text is not None else (error.text if error else None)
    before_2_5 = _version_key(envelope.version) < (2, 5)
    segments = [_ack_msh(envelope), _msa(envelope, code, text, error, before_2_5)]
    if code != ACCEPT or (text and not before_2_5):
        segments.append(_err(envelope, code, text, error, before_2_5))
    return ("\r".join(segments) + "\r").encode(envelope.codec, errors="replace")


def _envelope_of(received: bytes | Hl7Message) -> _Envelope:
    if isinstance(received, Hl7Message):
        chars = received.message.encoding_chars
        return _Envelope(
            chars["FIELD"], chars["COMPONENT"] + chars["REPETITION"] + chars["ESCAPE"]
            + chars["SUBCOMPONENT"], received.sending_application, received.sending_facility,
            received.receiving_application, received.receiving_facility, received.control_id,
            received.processing_id or "P", received.version, received.trigger,
            received.charset, received.codec)
    return _envelope_of_raw(received)


def _envelope_of_raw(raw: bytes) -> _Envelope:
    """Best effort from the raw MSH line: whatever fields it has, in its own separators."""
    body = _unframed(raw)
    line_bytes = _LINE_BREAK.split(body, maxsplit=1)[0]
    if not re.match(rb"MSH[^A-Za-z0-9\s]", line_bytes):
        return _Envelope()
    declared = _declared_charset(body)
    codec = _codec_for(declared)
    charset = declared if codec else ""  # we cannot answer in a charset we do not know
    codec = codec or "ascii"
    line = line_bytes.decode(codec, errors="replace")
    separator = line[3]
    fields = line.split(separator)
    encoding = fields[1] if len(fields) > 1 else ""
    if len(encoding) < 4 or len(set(encoding[:4])) < 4 or separator in encoding[:4] \
            or any(c.isalnum() or c.isspace() for c in encoding[:4]):
        encoding = _Envelope.encoding_characters

    def msh(number: int, component: int = 0) -> str:
        value = fields[number - 1].strip() if len(fields) >= number else ""
        parts = value.split(encoding[0])
        return parts[component - 1].strip() if component and len(parts) >= component else \
            value if not component else ""

    version = msh(12, 1)
    return _Envelope(separator, encoding[:4], msh(3), msh(4), msh(5), msh(6), msh(10),
                     msh(11, 1) or "P", version if re.fullmatch(r"\d+(\.\d+)*", version)
                     else DEFAULT_VERSION, msh(9, 2).upper(), charset, codec)


def _ack_msh(envelope: _Envelope) -> str:
    # MSH-9: message type ^ trigger event (^ message structure, from 2.3.1 on).
    parts = ["ACK", envelope.trigger]
    if _version_key(envelope.version) >= (2, 3, 1):
        parts.append("ACK")
    message_type = envelope.encoding_characters[0].join(parts).rstrip(
        envelope.encoding_characters[0])
    now = datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")
    fields = ["MSH", envelope.encoding_characters, envelope.receiving_application,
              envelope.receiving_facility, envelope.sending_application,
              envelope.sending_facility, now, "", message_type, f"ACK{uuid.uuid4().hex[:17]}",
              envelope.processing_id, envelope.version, "", "", "", "", "", envelope.charset]
    return envelope.field_separator.join(fields).rstrip(envelope.field_separator)


def _msa(envelope: _Envelope, code: str, text: str | None, error: Hl7Error | None,
         before_2_5: bool) -> str:
    fields = ["MSA", code, envelope.control_id]
    if before_2_5:
        condition = _error_coded(envelope, error.hl7_code) if error else ""
        fields += [_escaped(text or "", envelope), "", "", condition]
    return envelope.field_separator.join(fields).rstrip(envelope.field_separator)


def _err(envelope: _Envelope, code: str, text: str | None, error: Hl7Error | None,
         before_2_5: bool) -> str:
    hl7_code = error.hl7_code if error else \
        MESSAGE_ACCEPTED if code == ACCEPT else APPLICATION_INTERNAL_ERROR
    segment, sequence, position, component = _location_parts(error.location if error else "")
    component_separator, subcomponent_separator = (envelope.encoding_characters[0],
                                                   envelope.encoding_characters[3])
    if before_2_5:  # ERR-1 ELD: segment id ^ sequence ^ field position ^ code (CE)
        coded = _error_coded(envelope, hl7_code, subcomponent_separator)
        fields = ["ERR", component_separator.join([segment, sequence, position, coded])]
    else:  # ERR-2 ERL, ERR-3 CWE, ERR-4 severity (table 0516), ERR-8 user message
        location = component_separator.join(
            [segment, sequence, position] + (["1", component] if component else [])
        ).rstrip(component_separator)
        severity = "I" if hl7_code == MESSAGE_ACCEPTED else "E"
        fields = ["ERR", "", location, _error_coded(envelope, hl7_code), severity, "", "", "",
                  _escaped(text or "", envelope)]
    return envelope.field_separator.join(fields).rstrip(envelope.field_separator)


def _error_coded(envelope: _Envelope, hl7_code: int, separator: str | None = None) -> str:
    """A table 0357 code as CE/CWE: code, text, HL70357 (as subcomponents inside ELD)."""
    separator = separator or envelope.encoding_characters[0]
    return separator.join((str(hl7_code), ERROR_TEXTS.get(hl7_code, "Error"), "HL70357"))


def _location_parts(location: str) -> tuple[str, str, str, str]:
    """``PID-3``, ``DG1[2]-3``, ``PID-5.1`` or ``MSH`` -> segment, sequence, field, component."""
    match = _LOCATION.fullmatch(location)
    if match is None:
        return "", "", "", ""
    segment, sequence, position, component = match.groups()
    return segment, sequence or "1", position or "", component or ""


def _escaped(text: str, envelope: _Envelope) -> str:
    """Text as an ST value: one line, with the separators escaped (v2.5.1 2.7.4: \\F\\ \\S\\
    \\T\\ \\R\\ and \\E\\ for the escape character itself)."""
    component, repetition, escape, subcomponent = envelope.encoding_characters[:4]
    escaped = " ".join(text.split()).replace(escape, f"{escape}E{escape}")
    for char, name in ((envelope.field_separator, "F"), (component, "S"),
                       (subcomponent, "T"), (repetition, "R")):
        escaped = escaped.replace(char, f"{escape}{name}{escape}")
    return escaped


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (2, 5, 1)


# -- reading hl7apy elements -----------------------------------------------------------------
# Positions, not names: a component is found by the number in its name (``CX_4``) or is the
# first when it is named after its type (``ST``), so one reader serves every version.

def _segments(message: Message, name: str) -> list[Segment]:
    return [s for s in message.children if s.name == name]


def _fields(segment: Segment | None, number: int) -> list[Field]:
    """Every repetition of field ``number``, in order."""
    if segment is None:
        return []
    name = f"{segment.name}_{number}"
    return [f for f in segment.children if f.name == name]


def _field(segment: Segment | None, number: int) -> Field | None:
    return next(iter(_fields(segment, number)), None)


def _position(element: Any) -> int:
    suffix = (element.name or "").rsplit("_", 1)[-1]
    return int(suffix) if suffix.isdigit() else 1


def _text(field: Field | None, component: int = 1, subcomponent: int = 1) -> str:
    """One value of a field, escape sequences resolved; "" when absent or the HL7 null."""
    if field is None:
        return ""
    for part in field.children:
        if _position(part) != component:
            continue
        for leaf in part.children:
            if _position(leaf) == subcomponent:
                return _plain(leaf)
    return ""


def _plain(leaf: Any) -> str:
    value = leaf.value
    if value is None:
        return ""
    raw = value.value if isinstance(getattr(value, "value", None), str) else leaf.to_er7()
    text = _unescaped(str(raw), leaf.encoding_chars).strip()
    return "" if text == '""' else text


def _unescaped(text: str, encoding_chars: dict[str, str]) -> str:
    """Resolve \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ (v2.5.1 2.7.4); formatting (\\H\\, \\N\\, \\.br\\) is
    dropped and other sequences are left as they are."""
    escape = encoding_chars["ESCAPE"]
    if escape not in text:
        return text
    replacements = {"F": encoding_chars["FIELD"], "S": encoding_chars["COMPONENT"],
                    "T": encoding_chars["SUBCOMPONENT"], "R": encoding_chars["REPETITION"],
                    "E": escape, "H": "", "N": "", ".br": " "}
    pattern = re.escape(escape) + r"(F|S|T|R|E|H|N|\.br)" + re.escape(escape)
    return re.sub(pattern, lambda m: replacements[m.group(1)], text)


def _er7(field: Field | None) -> str:
    """A field as received (ER7, every component), for echoing it back."""
    return field.to_er7() if field is not None else ""

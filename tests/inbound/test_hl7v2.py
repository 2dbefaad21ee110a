"""The HL7 v2 adapter and ADT mapping (gateway/adapters/hl7v2.py, gateway/adapters/adt_v2.py):
sample ADT messages in, AdtEvents and ACKs out (fixtures/hl7v2/)."""
from __future__ import annotations

import random
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import hl7
import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from gateway.adapters.adt_event import ADMIT, DISCHARGE, TRANSFER, UPDATE, AdtEvent
from gateway.adapters.adt_v2 import US_SSN, event_from_v2
from gateway.adapters.hl7v2 import (
    EMPTY_FIELD,
    ERROR_TEXTS,
    Hl7Error,
    Hl7Message,
    ack,
    decode,
    parse,
)
from gateway.fhir.validation import Validator

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7v2"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0112 = "http://terminology.hl7.org/CodeSystem/v2-0112"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
VALID_SAMPLES = sorted(p.name for p in SAMPLES.glob("adt-*.hl7"))


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def event_of(name: str, **options: Any) -> AdtEvent:
    return event_from_v2(parse(sample(name)), **options)


def identifiers(patient: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    """{type code: (system, value)} of a Patient's identifiers."""
    return {i["type"]["coding"][0]["code"]: (i.get("system"), i["value"])
            for i in patient["identifier"]}


def codes(event: AdtEvent) -> list[tuple[str | None, str]]:
    return [(c["code"]["coding"][0].get("system"), c["code"]["coding"][0]["code"])
            for c in event.conditions]


def read_ack(answer: bytes, codec: str = "ascii") -> Message:
    """The ACK parsed back with hl7apy (strictly, where the version names its structure)."""
    text = answer.decode(codec)
    assert text.endswith("\r") and "\n" not in text
    version = text.split("\r")[0].split("|")[11]
    strict = version not in ("2.2", "2.3")  # whose MSH-9 has no message structure
    return parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.STRICT
                         if strict else VALIDATION_LEVEL.TOLERANT)


def segment(message: Message, name: str) -> Any:
    return next(s for s in message.children if s.name == name)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


# -- every valid sample ----------------------------------------------------------------------

@pytest.mark.parametrize("name", VALID_SAMPLES)
def test_each_sample_maps_to_valid_r4_resources(name: str, validator: Validator) -> None:
    event = event_of(name)
    assert event.source == "hl7v2" and event.message_id
    # The workflow fills in the references; until then a Condition lacks only its subject.
    resources = [event.patient, event.encounter, event.facility,
                 *({**c, "subject": {"reference": "Patient/p"}} for c in event.conditions)]
    models = {"Patient": Patient, "Encounter": Encounter, "Organization": Organization,
              "Condition": Condition}
    for resource in filter(None, resources):
        assert "id" not in resource
        models[resource["resourceType"]].model_validate(resource)
        assert validator.validate(resource, expected_type=resource["resourceType"]) == []
    assert "subject" not in (event.encounter or {})
    assert all("subject" not in c and "encounter" not in c for c in event.conditions)


@pytest.mark.parametrize("name", VALID_SAMPLES)
def test_each_sample_is_acknowledged_in_its_version_and_charset(name: str) -> None:
    message = parse(sample(name))
    answer = read_ack(ack(message, "AA"), message.codec)
    msh, msa = segment(answer, "MSH"), segment(answer, "MSA")
    assert msh.msh_12.to_er7() == message.version
    assert msh.msh_18.to_er7() == message.charset
    assert msh.msh_3.to_er7() == message.receiving_application
    assert msh.msh_5.to_er7() == message.sending_application
    assert msh.msh_6.to_er7() == message.sending_facility
    assert msh.msh_10.to_er7() not in ("", message.control_id)
    assert (msa.msa_1.to_er7(), msa.msa_2.to_er7()) == ("AA", message.control_id)
    assert [s.name for s in answer.children] == ["MSH", "MSA"]


# -- each sample's content -------------------------------------------------------------------

def test_v2_3_discharge_with_z_segments_and_local_times() -> None:
    message = parse(sample("adt-a03-v2.3-zsegments.hl7"))
    assert (message.version, message.message_type, message.trigger) == ("2.3", "ADT", "A03")
    assert (message.control_id, message.charset, message.codec) == (
        "SBH20240308103012001", "", "ascii")
    assert [s.name for s in message.message.children][-2:] == ["ZPI", "ZBH"]
    event = event_from_v2(message)
    assert (event.kind, event.message_id, event.sender_name) == (
        DISCHARGE, "SBH20240308103012001", "STBRIGID")
    assert identifiers(event.patient) == {
        "MR": ("urn:hl7v2:assigning-authority:STBRIGID", "00482913"),
        "MA": ("urn:hl7v2:assigning-authority:ILMCD", "123456789A")}
    assert event.patient["name"] == [{"family": "DOE", "given": ["JANE", "MARIE"]}]
    assert (event.patient["birthDate"], event.patient["gender"]) == ("1987-04-23", "female")
    assert event.patient["address"] == [{"use": "home", "line": ["418 OAK ST"],
                                         "city": "SPRINGFIELD", "state": "IL",
                                         "postalCode": "62704", "country": "USA"}]
    assert event.patient["telecom"] == [{"system": "phone", "value": "(217)555-0142",
                                         "use": "home"}]
    encounter = event.encounter
    assert encounter["status"] == "finished"
    assert encounter["class"] == {"system": ACT_CODE, "code": "IMP"}
    assert encounter["identifier"][0]["value"] == "V2024030101"
    assert encounter["hospitalization"]["dischargeDisposition"] == {
        "coding": [{"system": V2_0112, "code": "01"}]}
    assert encounter["location"] == [{"location": {"display": "BH3, room 312, bed B "
                                                              "(STBRIGID)"},
                                      "status": "completed"}]
    # No offset in MSH-7 or PV1: only the dates are kept, and the notes say so.
    assert encounter["period"] == {"start": "2024-03-01", "end": "2024-03-08"}
    assert event.occurred == "2024-03-08"
    assert "PV1-45 has no time zone; only its date is kept" in event.notes
    # DG1-2 (coding method) names the system when DG1-3 does not; DG1-4 gives the text.
    assert codes(event) == [(ICD10, "F32.2"), (ICD10, "F41.1")]
    assert event.conditions[0]["code"]["text"].startswith("Major depressive disorder")


def test_times_without_offset_are_read_in_the_senders_zone() -> None:
    central = timezone(timedelta(hours=-6))
    event = event_of("adt-a03-v2.3-zsegments.hl7", sender_zone=central)
    assert event.encounter["period"] == {"start": "2024-03-01T14:32:00-06:00",
                                         "end": "2024-03-08T10:15:00-06:00"}
    assert event.occurred == "2024-03-08T10:30:00-06:00"
    assert not any("time zone" in note for note in event.notes)


def test_v2_3_1_newline_separators_ssn_and_offsets() -> None:
    raw = sample("adt-a03-v2.3.1-newlines.hl7")
    assert b"\r" not in raw and raw.count(b"\n") == 5
    event = event_of("adt-a03-v2.3.1-newlines.hl7")
    assert (event.kind, event.message_id, event.sender_name) == (
        DISCHARGE, "MG-884120", "MERCYGEN")
    assert identifiers(event.patient) == {
        "MR": ("urn:hl7v2:assigning-authority:MERCYGEN", "MG7781234"),
        "SS": (US_SSN, "123-45-6789")}
    assert event.patient["telecom"] == [{"system": "phone", "value": "+1 (309) 5550199",
                                         "use": "home"}]
    assert event.encounter["class"] == {"system": ACT_CODE, "code": "EMER"}
    assert event.encounter["period"] == {"start": "2024-04-12T22:15:00-05:00",
                                         "end": "2024-04-14T09:30:00-05:00"}
    assert event.encounter["identifier"] == [{
        "type": {"coding": [{"system": V2_0203, "code": "VN"}]},
        "system": "urn:hl7v2:assigning-authority:MERCYGEN", "value": "E240412-0077",
        "assigner": {"display": "MERCYGEN"}}]
    assert codes(event) == [(ICD10, "F20.9")]
    assert event.notes == ()


def test_v2_4_latin1_names_are_decoded() -> None:
    raw = sample("adt-a03-v2.4-latin1.hl7")
    assert "MÜLLER".encode("iso8859-1") in raw
    message = parse(raw)
    assert (message.charset, message.codec) == ("8859/1", "iso8859-1")
    event = event_from_v2(message)
    assert event.patient["name"] == [{"use": "official", "family": "MÜLLER",
                                      "given": ["JOSÉ", "ÁNGEL"]}]
    assert event.patient["address"][0]["line"] == ["12 CALLE PEÑA"]
    assert event.patient["telecom"] == [{"system": "phone", "value": "+1 (815) 5550110",
                                         "use": "mobile"}]
    # An ISO OID assigning authority (CX.4.2/CX.4.3) is the identifier system.
    assert identifiers(event.patient) == {
        "MR": ("urn:oid:2.16.840.1.113883.19.5", "SJ-44120")}
    assert event.facility == {"resourceType": "Organization",
                              "identifier": [{"system": "urn:ietf:rfc:3986",
                                              "value": "urn:oid:2.16.840.1.113883.19.5"}],
                              "name": "SANJOSE"}
    # The alternate coding (DG1-3.4 to .6) is a second coding.
    assert [(c["system"], c["code"]) for c in event.conditions[0]["code"]["coding"]] == [
        (ICD10, "F31.2"), (SNOMED, "13746004")]


def test_v2_5_trailing_fields_crlf_and_escapes() -> None:
    raw = sample("adt-a03-v2.5-trailing-fields.hl7")
    assert b"\r\n" in raw and b"|||\r\n" in raw
    event = event_of("adt-a03-v2.5-trailing-fields.hl7")
    assert (event.kind, event.message_id) == (DISCHARGE, "NS-2024-07-15-0042")
    assert event.patient["name"] == [{"use": "official", "family": "NGUYEN",
                                      "given": ["THANH"]}]
    assert event.patient["address"][0]["district"] == "COOK"
    assert event.encounter["period"]["end"] == "2024-07-15T08:00:00-04:00"
    # "F322" is written the way FHIR's ICD-10-CM writes it; \T\ is an escaped "&".
    assert codes(event) == [(ICD10, "F32.2")]
    assert event.conditions[0]["code"]["text"].endswith("features & anxious distress")
    assert event.notes == ()


def test_v2_5_1_utf8_with_national_profile() -> None:
    message = parse(sample("adt-a03-v2.5.1-utf8-profile.hl7"))
    assert (message.charset, message.codec) == ("UNICODE UTF-8", "utf-8")
    msh = segment(message.message, "MSH")
    assert msh.msh_21.to_er7().startswith("PH_SS-NoAck")
    event = event_from_v2(message)
    assert event.patient["name"] == [
        {"use": "official", "family": "ИВАНОВ", "given": ["ДМИТРИЙ", "СЕРГЕЕВИЧ"]},
        {"family": "IVANOV", "given": ["DMITRII"]}]
    assert identifiers(event.patient) == {
        "MR": ("urn:oid:2.16.840.1.113883.3.7777.2", "88120455"),
        "MA": ("urn:hl7v2:assigning-authority:ILMCD", "AB1234567")}
    assert event.patient["telecom"] == [
        {"system": "phone", "value": "+1 (773) 5550177", "use": "home"},
        {"system": "email", "value": "d.ivanov@example.org", "use": "home"},
        {"system": "phone", "value": "+1 (312) 5550123 ext. 45", "use": "work"}]
    assert event.facility == {"resourceType": "Organization",
                              "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                                              "value": "1234567893"}],
                              "name": "STBRIGID"}
    assert event.encounter["period"] == {"start": "2024-08-12T09:30:00.120-05:00",
                                         "end": "2024-08-20T17:00:00-05:00"}
    assert event.encounter["participant"][0]["individual"] == {
        "identifier": {"value": "4471"}, "display": "DR CHIDI OKAFOR"}
    assert event.encounter["hospitalization"]["admitSource"]["coding"][0]["code"] == "1"
    assert codes(event) == [(ICD10, "F20.9"), (ICD10, "F32.2")]
    # DG1-6 A (admitting) is provisional, F (final) confirmed; DG1-5 is the recorded date.
    statuses = [c["verificationStatus"]["coding"][0]["code"] for c in event.conditions]
    assert statuses == ["provisional", "confirmed"]
    assert event.conditions[0]["recordedDate"] == "2024-08-12"
    assert event.occurred == "2024-08-20T17:40:00-05:00"


def test_discharge_without_pv1_45_takes_the_event_time() -> None:
    event = event_of("adt-a03-v2.5.1-no-discharge-time.hl7")
    assert event.kind == DISCHARGE
    assert event.encounter["status"] == "finished"
    assert event.encounter["period"] == {"start": "2024-08-29T20:15:00-05:00",
                                         "end": "2024-09-03T11:55:00-05:00"}
    assert event.occurred == "2024-09-03T11:55:00-05:00"
    assert event.notes == ("PV1-45 (discharge date/time) is empty; the discharge time is "
                           "EVN-2",)
    assert codes(event) == [(ICD10, "F43.10")]


def test_undeclared_8_bit_bytes_are_read_as_utf8_with_a_note() -> None:
    message = parse(sample("adt-a03-v2.5-undeclared-utf8.hl7"))
    assert (message.charset, message.codec) == ("", "utf-8")
    event = event_from_v2(message)
    assert event.patient["name"] == [{"family": "GARCÍA", "given": ["SOFÍA"]}]
    assert event.notes == ("MSH-18 is empty (ASCII) but the message has 8-bit bytes; read as "
                           "UTF-8",)


def test_admit() -> None:
    event = event_of("adt-a01-v2.5.1-admit.hl7")
    assert (event.kind, event.message_id) == (ADMIT, "SBH20241105031500011")
    assert event.encounter["status"] == "in-progress"
    assert event.encounter["period"] == {"start": "2024-11-05T02:45:00-06:00"}
    assert event.encounter["serviceType"]["coding"][0]["code"] == "PSY"
    assert [loc["status"] for loc in event.encounter["location"]] == ["active", "completed"]
    assert event.conditions[0]["verificationStatus"]["coding"][0]["code"] == "provisional"


def test_registration_is_an_admit() -> None:
    event = event_of("adt-a04-v2.3.1-registration.hl7")
    assert (event.kind, event.message_id) == (ADMIT, "MG-901277")
    assert event.encounter["class"] == {"system": ACT_CODE, "code": "AMB"}
    assert event.conditions == ()


def test_transfer_names_both_locations() -> None:
    event = event_of("adt-a02-v2.5.1-transfer.hl7")
    assert (event.kind, event.message_id) == (TRANSFER, "SBH20241105094000004")
    assert event.encounter["location"] == [
        {"location": {"display": "BH2, room 208, bed A (STBRIGID)"}, "status": "active"},
        {"location": {"display": "BH3, room 314, bed A (STBRIGID)"}, "status": "completed"}]
    assert event.occurred == "2024-11-05T09:35:00-06:00"


def test_update_without_pv1_has_no_encounter() -> None:
    event = event_of("adt-a08-v2.4-update-no-pv1.hl7")
    assert (event.kind, event.message_id) == (UPDATE, "SJ001502")
    assert event.encounter is None and event.conditions == ()
    assert event.patient["address"][0]["line"] == ["301 RIVER RD"]
    assert event.patient["name"][0]["family"] == "MÜLLER"


# -- malformed samples -----------------------------------------------------------------------

MALFORMED = [
    # (sample, ack code, table 0357 code, location, what the ACK's MSA-2 says)
    ("bad-not-hl7.txt", "AR", 100, "MSH", ""),
    ("bad-missing-msh.hl7", "AR", 100, "MSH", ""),
    ("bad-unknown-charset.hl7", "AR", 103, "MSH-18", "BAD-CHARSET-1"),
    ("bad-unsupported-version.hl7", "AR", 203, "MSH-12", "BAD-VERSION-1"),
    ("bad-unsupported-trigger-a99.hl7", "AR", 201, "MSH-9", "BAD-TRIGGER-1"),
    ("bad-oru-r01.hl7", "AR", 200, "MSH-9", "BAD-TYPE-1"),
    ("bad-pid-no-identifiers-no-name.hl7", "AE", 101, "PID-3", "BAD-PID-1"),
    ("bad-pv1-45-date.hl7", "AE", 102, "PV1-45", "BAD-DATE-1"),
    ("bad-truncated.hl7", "AE", 100, "PV1", "TRUNC-1"),
]


def rejection(raw: bytes) -> Hl7Error:
    with pytest.raises(Hl7Error) as caught:
        event_from_v2(parse(raw))
    return caught.value


@pytest.mark.parametrize(("name", "code", "hl7_code", "location", "control_id"), MALFORMED)
def test_malformed_sample_is_refused(name: str, code: str, hl7_code: int, location: str,
                                     control_id: str) -> None:
    error = rejection(sample(name))
    assert (error.ack_code, error.hl7_code, error.location) == (code, hl7_code, location)
    assert error.text and "\n" not in error.text


@pytest.mark.parametrize(("name", "code", "hl7_code", "location", "control_id"), MALFORMED)
def test_malformed_sample_is_answered_with_an_ack(name: str, code: str, hl7_code: int,
                                                  location: str, control_id: str) -> None:
    raw = sample(name)
    error = rejection(raw)
    answer = read_ack(ack(raw, error.ack_code, error=error))
    msh, msa, err = (segment(answer, n) for n in ("MSH", "MSA", "ERR"))
    assert (msa.msa_1.to_er7(), msa.msa_2.to_er7()) == (code, control_id)
    segment_id, _, field = location.partition("-")
    error_location = "^".join([segment_id, "1", field] if field else [segment_id, "1"])
    if answer.version >= "2.5":
        assert err.err_2.to_er7() == error_location
        assert err.err_3.to_er7() == f"{hl7_code}^{ERROR_TEXTS[hl7_code]}^HL70357"
        assert err.err_4.to_er7() == "E"
        assert err.err_8.to_er7() == error.text
    else:  # 2.2: MSA-3 the text; MSA-6 and ERR-1 (ELD) the coded error
        assert msa.msa_3.to_er7() == error.text
        assert msa.msa_6.to_er7() == f"{hl7_code}^{ERROR_TEXTS[hl7_code]}^HL70357"
        assert err.err_1.to_er7() == \
            f"{error_location}^{hl7_code}&{ERROR_TEXTS[hl7_code]}&HL70357"
    if control_id:  # the sender's MSH could be read: its version and parties come back
        original = raw.split(b"\r")[0].decode("ascii").split("|")
        assert msh.msh_12.to_er7() == original[11]
        assert (msh.msh_5.to_er7(), msh.msh_6.to_er7()) == (original[2], original[3])
    else:
        assert msh.msh_12.to_er7() == "2.5.1"


def test_unknown_charset_is_answered_in_ascii() -> None:
    raw = sample("bad-unknown-charset.hl7")
    answer = ack(raw, "AR", error=rejection(raw))
    assert answer.isascii()
    assert segment(read_ack(answer), "MSH").msh_18.to_er7() == ""


def test_patient_with_identifiers_but_no_name_is_refused_at_pid_5() -> None:
    raw = sample("adt-a03-v2.5.1-no-discharge-time.hl7").replace(
        b"WASHINGTON^TAMIKA^R", b"")
    error = rejection(raw)
    assert (error.ack_code, error.hl7_code, error.location) == ("AE", 101, "PID-5")


def test_patient_without_identifiers_is_taken_with_name_and_birth_date() -> None:
    raw = sample("adt-a03-v2.5.1-no-discharge-time.hl7").replace(b"00590177^^^STBRIGID^MR", b"")
    event = event_from_v2(parse(raw))
    assert "identifier" not in event.patient
    assert event.patient["birthDate"] == "1999-02-14"


def test_missing_control_id_is_refused() -> None:
    raw = sample("adt-a01-v2.5.1-admit.hl7").replace(b"SBH20241105031500011", b"")
    with pytest.raises(Hl7Error) as caught:
        parse(raw)
    assert (caught.value.ack_code, caught.value.location) == ("AE", "MSH-10")


def test_two_messages_in_one_are_refused() -> None:
    raw = sample("adt-a01-v2.5.1-admit.hl7")
    with pytest.raises(Hl7Error) as caught:
        parse(raw + raw)
    assert (caught.value.ack_code, caught.value.location) == ("AR", "MSH")


@pytest.mark.parametrize(("field", "bad"), [("PID-7", b"19870431"), ("EVN-2", b"2024-11-05"),
                                            ("PV1-44", b"20241105024500+9900")])
def test_impossible_dates_are_refused(field: str, bad: bytes) -> None:
    raw = sample("adt-a01-v2.5.1-admit.hl7")
    good = {"PID-7": b"19870423", "EVN-2": b"20241105031000-0600",
            "PV1-44": b"20241105024500-0600"}[field]
    error = rejection(raw.replace(good, bad))
    assert (error.ack_code, error.hl7_code, error.location) == ("AE", 102, field)


# -- decoding ---------------------------------------------------------------------------------

def test_mllp_framing_and_byte_order_mark_are_stripped() -> None:
    raw = sample("adt-a01-v2.5.1-admit.hl7")
    framed = b"\x0b\xef\xbb\xbf" + raw + b"\x1c\r"
    assert decode(framed) == raw.decode("ascii").strip()
    assert parse(framed).control_id == "SBH20241105031500011"


def test_ascii_declared_latin1_bytes_are_read_as_latin1_with_a_note() -> None:
    raw = sample("adt-a03-v2.5-undeclared-utf8.hl7").decode("utf-8").encode("iso8859-1")
    message = parse(raw)
    assert message.codec == "iso8859-1"
    assert event_from_v2(message).patient["name"][0]["family"] == "GARCÍA"
    assert "read as ISO 8859-1" in message.notes[0]


def test_declared_utf8_that_is_not_utf8_is_refused() -> None:
    raw = sample("adt-a03-v2.5.1-utf8-profile.hl7").replace("ИВАНОВ".encode(), b"\xff\xfe")
    with pytest.raises(Hl7Error) as caught:
        decode(raw)
    assert (caught.value.ack_code, caught.value.location) == ("AE", "MSH-18")


@pytest.mark.parametrize(("spelling", "codec"), [
    ("UTF-8", "utf-8"), ("utf8", "utf-8"), ("UNICODE", "utf-8"), ("ISO-8859-1", "iso8859-1"),
    ("ISO_8859-1", "iso8859-1"), ("Latin-1", "iso8859-1"), ("8859/15", "iso8859-15"),
    # Declared ASCII with 8-bit bytes that are not UTF-8: the lenient path.
    ("US-ASCII", "iso8859-1"), ("", "iso8859-1")])
def test_lenient_charset_spellings(spelling: str, codec: str) -> None:
    text = sample("adt-a03-v2.4-latin1.hl7").decode("iso8859-1")
    raw = text.replace("|8859/1", "|" + spelling).encode(codec)
    message = parse(raw)
    assert (message.charset, message.codec) == (spelling, codec)
    assert event_from_v2(message).patient["name"][0]["family"] == "MÜLLER"


@pytest.mark.parametrize("charset", ["UNICODE UTF-16", "ISO IR87", "8859/12", "EBCDIC"])
def test_charsets_we_cannot_read_are_rejected(charset: str) -> None:
    raw = sample("adt-a03-v2.4-latin1.hl7").replace(b"|8859/1", b"|" + charset.encode())
    with pytest.raises(Hl7Error) as caught:
        decode(raw)
    assert (caught.value.ack_code, caught.value.hl7_code) == ("AR", 103)


def test_unknown_segments_are_dropped_with_a_note() -> None:
    raw = sample("adt-a01-v2.5.1-admit.hl7").replace(b"\rPV1|", b"\rXYZ|1|2\rPV1|")
    message = parse(raw)
    assert "XYZ" not in [s.name for s in message.message.children]
    assert message.notes == ("segment 4 ('XYZ|1|2') is not an HL7 2.5.1 segment; ignored",)
    assert event_from_v2(message).notes == message.notes


# -- ACKs --------------------------------------------------------------------------------------

def test_v2_3_ack_has_a_two_part_message_type_and_msa_3_text() -> None:
    message = parse(sample("adt-a03-v2.3-zsegments.hl7"))
    error = Hl7Error("AE", "PID-3 | is ^ odd", "PID-3", 101)
    answer = read_ack(ack(message, "AE", error=error))
    assert segment(answer, "MSH").msh_9.to_er7() == "ACK^A03"
    msa = segment(answer, "MSA")
    assert msa.msa_3.to_er7() == "PID-3 \\F\\ is \\S\\ odd"
    assert segment(answer, "ERR").err_1.to_er7() == "PID^1^3^101&Required field missing&HL70357"


def test_v2_4_ack_uses_err_1() -> None:
    message = parse(sample("adt-a03-v2.4-latin1.hl7"))
    answer = read_ack(ack(message, "AR", error=Hl7Error("AR", "no", "DG1[2]-3", 207)), "latin-1")
    assert segment(answer, "MSH").msh_9.to_er7() == "ACK^A03^ACK"
    assert segment(answer, "ERR").err_1.to_er7() == \
        "DG1^2^3^207&Application internal error&HL70357"
    assert segment(answer, "MSA").msa_6.to_er7() == "207^Application internal error^HL70357"


def test_ack_is_encoded_in_the_message_charset() -> None:
    message = parse(sample("adt-a03-v2.4-latin1.hl7"))
    answer = ack(message, "AE", text="MÜLLER is unknown here")
    assert "MÜLLER".encode("iso8859-1") in answer
    assert segment(read_ack(answer, "iso8859-1"), "MSA").msa_3.to_er7() == \
        "MÜLLER is unknown here"


def test_accepted_with_text_in_v2_5_carries_an_informational_err() -> None:
    message = parse(sample("adt-a03-v2.5.1-utf8-profile.hl7"))
    answer = read_ack(ack(message, "AA", "taken; referral created"), "utf-8")
    err = segment(answer, "ERR")
    assert err.err_3.to_er7() == "0^Message accepted^HL70357"
    assert (err.err_4.to_er7(), err.err_8.to_er7()) == ("I", "taken; referral created")


def test_error_without_details_is_an_internal_error() -> None:
    message = parse(sample("adt-a01-v2.5.1-admit.hl7"))
    err = segment(read_ack(ack(message, "AE", "database unavailable")), "ERR")
    assert err.err_3.to_er7().startswith("207^")
    assert err.err_8.to_er7() == "database unavailable"


def test_ack_to_bytes_that_are_not_hl7_at_all() -> None:
    answer = ack(b"\x00\x01 garbage", "AR", "not HL7")
    parsed = read_ack(answer)
    assert segment(parsed, "MSH").msh_9.to_er7() == "ACK^^ACK"
    assert segment(parsed, "MSA").msa_1.to_er7() == "AR"
    assert segment(parsed, "ERR").err_8.to_er7() == "not HL7"


def test_ack_keeps_the_senders_encoding_characters() -> None:
    raw = sample("adt-a01-v2.5.1-admit.hl7").replace(b"^~\\&", b"^~#&", 1).replace(b"\\", b"#")
    answer = ack(raw, "AE", "a \\ # b")
    assert answer.startswith(b"MSH|^~#&|CMHGW|RIVERBEND_CMH|EPICADT|STBRIGID|")
    assert b"|a \\ #E# b\r" in answer


def test_ack_code_must_be_known() -> None:
    with pytest.raises(ValueError):
        ack(sample("adt-a01-v2.5.1-admit.hl7"), "OK")


def test_hl7_message_exposes_the_header() -> None:
    message = parse(sample("adt-a03-v2.5.1-utf8-profile.hl7"))
    assert isinstance(message, Hl7Message)
    assert (message.sending_application, message.sending_facility,
            message.receiving_application, message.receiving_facility,
            message.processing_id) == ("EPIC^2.16.840.1.113883.3.7777.1^ISO",
                                       "STBRIGID^1234567893^NPI", "CMHGW", "RIVERBEND_CMH",
                                       "P")


# -- reading fields (split by python-hl7) -----------------------------------------------------

@pytest.mark.parametrize("name", VALID_SAMPLES)
def test_every_field_echoes_as_received(name: str) -> None:
    """Each repetition's er7 is its text as received (trailing empty components too), an
    empty field has no repetitions, and the segments are those hl7apy's parse keeps."""
    message = parse(sample(name))
    assert [s.name for s in message.segments] == [s.name for s in message.message.children]
    repetition = message.encoding_characters[1]
    for segment_ in message.segments:
        fields = segment_.text.split(message.field_separator)
        if segment_.name == "MSH":  # MSH-1 is the field separator itself
            fields.insert(1, message.field_separator)
        for number, received in enumerate(fields[1:], start=1):
            expected = [] if not received.strip() else [received] \
                if segment_.name == "MSH" and number in (1, 2) else received.split(repetition)
            assert [r.er7 for r in segment_.repetitions(number)] == expected, \
                f"{segment_.name}-{number}"
        assert segment_.repetitions(len(fields)) == () and segment_.repetitions(0) == ()


def test_field_values_by_position() -> None:
    message = parse(sample("adt-a03-v2.5-trailing-fields.hl7"))
    pid, dg1 = message.segment("PID"), message.segments_named("DG1")[0]
    assert pid.field(3).text(4) == "NORTHSHORE" and pid.field(3).text(5) == "MR"
    assert pid.field(3).er7 == "NS-558201^^^NORTHSHORE^MR^^"  # as received
    assert pid.field(5).text(1) == "NGUYEN" and pid.field(5).text(7) == "L"
    assert pid.field(8).text() == "F" and pid.field(8).er7 == "F"
    assert pid.field(2).text() == "" and pid.repetitions(2) == ()
    assert dg1.field(3).text(2).endswith("features & anxious distress")  # \T\ resolved
    msh = message.segment("MSH")
    assert (msh.field(1).text(), msh.field(2).text(), msh.field(12).text()) == (
        "|", "^~\\&", "2.5")


# One message exercising what a field can hold, in the standard separators |^~\&.
STANDARD = (
    "MSH|^~\\&|EPIC^2.16.840.1.113883.3.7777.1^ISO|STBRIGID|CMHGW|RIVERBEND_CMH|"
    "20240820174200-0500||ADT^A03^ADT_A03|CTL-1|P|2.5.1\r"
    "EVN|A03|20240820174000-0500\r"
    "PID|01||88120455^^^STBRIGID&2.16.840.1.113883.3.7777.2&ISO^MR^^~AB1234567^^^ILMCD^MA||"
    "O\\T\\NEIL\\S\\SMITH^ANNE \\F\\ \\R\\ \\E\\ X^\"\"^\\H\\JR\\N\\^DR||19870423|\"\"|||||"
    "^PRN^PH^^44^020^79460000~^NET^Internet^a.smith@example.org\r"
    "PV1|1|I|BH3^312^B^STBRIGID||||||||||||||||V1\r"
    "ZDS|CMH-FOLLOWUP^Community follow-up^L\r")


def test_components_subcomponents_and_repetitions() -> None:
    pid = parse(STANDARD.encode()).segment("PID")
    first, second = pid.repetitions(3)
    assert (first.text(), first.text(4), first.text(4, 2), first.text(4, 3), first.text(5)) == (
        "88120455", "STBRIGID", "2.16.840.1.113883.3.7777.2", "ISO", "MR")
    assert (first.text(2), first.text(6), first.text(1, 2), first.text(4, 4)) == ("", "", "", "")
    assert (second.text(), second.text(4), second.text(4, 2)) == ("AB1234567", "ILMCD", "")
    assert pid.field(3) is first and pid.field(30) is EMPTY_FIELD and pid.repetitions(4) == ()
    assert (EMPTY_FIELD.text(), EMPTY_FIELD.er7) == ("", "")
    assert [xtn.text(2) for xtn in pid.repetitions(13)] == ["PRN", "NET"]
    # A Z-segment's components are read by position too.
    assert parse(STANDARD.encode()).segment("ZDS").field(1).text(2) == "Community follow-up"


def test_escapes_and_the_null_are_resolved_but_echoed_as_received() -> None:
    pid = parse(STANDARD.encode()).segment("PID")
    name = pid.field(5)
    assert name.text(1) == "O&NEIL^SMITH"  # \T\ and \S\
    assert name.text(2) == "ANNE | ~ \\ X"  # \F\ \R\ \E\
    assert (name.text(3), name.text(4), name.text(5)) == ("", "JR", "DR")  # "" null; \H\ \N\
    assert name.er7 == "O\\T\\NEIL\\S\\SMITH^ANNE \\F\\ \\R\\ \\E\\ X^\"\"^\\H\\JR\\N\\^DR"
    assert (pid.field(8).text(), pid.field(8).er7) == ("", '""')
    event = event_from_v2(parse(STANDARD.encode()))
    assert event.patient["name"] == [{"family": "O&NEIL^SMITH", "given": ["ANNE | ~ \\ X"],
                                      "prefix": ["DR"], "suffix": ["JR"]}]
    assert "gender" not in event.patient


def test_numbers_are_taken_as_received() -> None:
    """hl7apy rewrote NM and SI values ("020" -> "20"); python-hl7 gives them as sent."""
    message = parse(STANDARD.encode())
    pid = message.segment("PID")
    assert pid.field(1).text() == "01"
    assert [pid.field(13).text(n) for n in (5, 6, 7)] == ["44", "020", "79460000"]
    assert event_from_v2(message).patient["telecom"] == [
        {"system": "phone", "value": "+44 (020) 79460000", "use": "home"},
        {"system": "email", "value": "a.smith@example.org", "use": "home"}]


def test_other_encoding_characters_read_the_same() -> None:
    """A sender's own separators (here ! * # $ %) split and escape as |^~\\& do; the values
    are the same and er7 echoes the field in the sender's separators."""
    table = str.maketrans("|^~\\&", "!*#$%")
    custom = STANDARD.translate(table)
    assert custom.startswith("MSH!*#$%!EPIC*") and "*" not in STANDARD
    standard, other = parse(STANDARD.encode()), parse(custom.encode())
    assert (other.field_separator, other.encoding_characters) == ("!", "*#$%")
    compared = 0
    for ours, theirs in zip(standard.segments, other.segments, strict=True):
        for number in range(1, 25):
            for expected, field in zip(ours.repetitions(number), theirs.repetitions(number),
                                       strict=True):
                assert field.er7 == expected.er7.translate(table)
                for component in range(1, 10):
                    for subcomponent in range(1, 4):
                        # An escape resolves to the sender's character ("\F\" -> "!").
                        assert field.text(component, subcomponent) == \
                            expected.text(component, subcomponent).translate(table)
                compared += 1
    assert compared > 25
    assert other.segment("PID").field(5).text(2) == "ANNE ! # $ X"
    assert event_from_v2(other).patient["identifier"] == \
        event_from_v2(standard).patient["identifier"]
    answer = ack(other, "AA").decode("ascii")
    assert answer.startswith("MSH!*#$%!CMHGW!RIVERBEND_CMH!EPIC*2.16.840.1.113883.3.7777.1*ISO"
                             "!STBRIGID!")


def test_batch_header_segments_inside_a_message_are_no_trouble() -> None:
    """python-hl7 splits BHS and FHS like an MSH; without separators they must not fail."""
    raw = STANDARD.replace("\rPID|", "\rBHS\rFHS|\rPID|").encode()
    message = parse(raw)
    assert [s.name for s in message.segments][2:5] == ["BHS", "FHS", "PID"]
    assert event_from_v2(message).patient["birthDate"] == "1987-04-23"


def test_what_python_hl7_raises_is_an_ae_data_type_error(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    def cannot_split(text: str) -> None:
        raise hl7.ParseException("no")

    monkeypatch.setattr(hl7, "parse", cannot_split)
    with pytest.raises(Hl7Error) as caught:
        parse(STANDARD.encode())
    assert (caught.value.ack_code, caught.value.hl7_code) == ("AE", 102)
    assert "cannot be parsed" in caught.value.text


def test_mangled_messages_give_hl7_errors_only() -> None:
    """Seeded random damage to every sample (separators, escapes, quotes, batch segments,
    truncation): the answer is a message or an Hl7Error, never another exception."""
    rng = random.Random(2718)
    samples = [sample(p.name) for p in sorted(SAMPLES.glob("*.hl7"))]
    damage = [b"|", b"^", b"~", b"\\", b"&", b"\r", b'""', b"\\T\\", b"\\X41\\", b"\rBHS",
              b"\rFHS|", b"\rZZZ", b"\rMSH|"]
    outcomes = {"taken": 0, "refused": 0}
    for _ in range(400):
        raw = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(raw) + 1)
            if rng.random() < 0.3:
                del raw[at:at + rng.randint(1, 6)]
            else:
                raw[at:at] = rng.choice(damage)
        try:
            message = parse(bytes(raw))
            event_from_v2(message)
            for segment_ in message.segments:
                for number in range(60):
                    for field in segment_.repetitions(number):
                        assert isinstance(field.text(3, 2), str) and isinstance(field.er7, str)
        except Hl7Error:
            outcomes["refused"] += 1
        else:
            outcomes["taken"] += 1
    assert outcomes["taken"] > 20 and outcomes["refused"] > 20

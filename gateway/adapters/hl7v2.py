"""HL7 v2 on the wire: bytes in, a parsed ``Hl7Message``; an ACK out.

    message = parse(raw)                    # bytes as received (MLLP framing, \\n separators)
    event = adt_v2.event_from_v2(message)   # gateway/adapters/adt_v2.py: the AdtEvent
    answer = ack(message, "AA")             # in the message's version and character set

``parse`` (and the mapping) raise ``Hl7Error``; ``ack(raw, error.ack_code, error=error)`` then
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
  A sender whose MSH-18 is wrong is registered with its real one (``endpoints.hl7_charset``,
  a Python codec name); ``parse(raw, charset=...)`` then reads the bytes in it, with a note.
- **Parsing** splits the message once with python-hl7 (``hl7.parse``) into segments, fields,
  repetitions, components and subcomponents, in the sender's separators; ``Hl7Segment.field``
  then reads a field by position, resolving escape sequences and the ``""`` null. Values are
  taken as received: no data type is checked or rewritten (a number ``01`` stays ``01``; the
  mapping checks what it uses, such as dates). hl7apy builds and checks an object for every
  component and subcomponent: 5-15 ms of CPU for a whole message, still ~3 ms per ADT^A03
  field by field, against well under 1 ms here. hl7apy is kept for what python-hl7 does not
  know: MSH-2 and MSH-12 (``get_message_info``), which segments a version defines, and
  ``Hl7Message.message``, the whole message as an hl7apy tree (``VALIDATION_LEVEL.TOLERANT``,
  no groups) for whoever needs one. Z-segments, extra fields and out-of-order segments pass;
  segments hl7apy does not know for the version are dropped with a note.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import NamedTuple

import hl7
import hl7apy
import hl7apy.core
import hl7apy.factories
from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import ChildNotFound, HL7apyException
from hl7apy.parser import get_message_info, parse_message

# MSA-1 acknowledgment codes (table 0008, original mode).
ACCEPT, ERROR, REJECT = "AA", "AE", "AR"
ACK_CODES = (ACCEPT, ERROR, REJECT)

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
DEFAULT_VERSION = "2.5.1"  # for the ACK to bytes whose MSH-12 cannot be read

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

_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\.(\d+))?)?")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_MLLP_FRAMING = b"\x0b\x1c"
_UTF8_BOM = b"\xef\xbb\xbf"


def _remember_hl7apy_libraries() -> None:
    """hl7apy finds a version's reference data by calling ``importlib.import_module`` for
    every element it builds, about 1,500 times for a short message and a fifth of its parse
    time; the module is imported once anyway, so the look-up is remembered (an unsupported
    version still raises, as errors are not cached)."""
    if hasattr(hl7apy.load_library, "cache_info"):
        return
    remembered = lru_cache(maxsize=None)(hl7apy.load_library)
    for module in (hl7apy, hl7apy.core, hl7apy.factories):  # each imported it by name
        module.load_library = remembered


_remember_hl7apy_libraries()


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


# -- reading a message -----------------------------------------------------------------------

class Hl7Field:
    """One repetition of a field: ``text(component, subcomponent)`` its values (escape
    sequences resolved, the HL7 null ``""`` as empty, stripped, "" when absent) and ``er7`` the
    repetition as received (every component, in the sender's separators, for echoing it)."""

    __slots__ = ("_values", "er7")

    def __init__(self, values: dict[tuple[int, int], str], er7: str) -> None:
        self._values = values
        self.er7 = er7

    def __repr__(self) -> str:
        return f"<Hl7Field {self.er7!r}>"

    def text(self, component: int = 1, subcomponent: int = 1) -> str:
        return self._values.get((component, subcomponent), "")


EMPTY_FIELD = Hl7Field({}, "")


class Hl7Segment:
    """One segment as received, split by python-hl7 (``fields``, an ``hl7.Segment``). A field
    is read when first asked for (and kept): ``field(n)`` is the first repetition of field n
    (``EMPTY_FIELD`` when absent), ``repetitions(n)`` all of them. Numbers are HL7's:
    ``field(3)`` of a PID is PID-3, of an MSH MSH-3 (MSH-1 is the field separator)."""

    __slots__ = ("name", "text", "_fields", "_encoding_chars", "_parsed")

    def __init__(self, text: str, fields: hl7.Segment, encoding_chars: dict[str, str]) -> None:
        self.name = text[:3].upper()
        self.text = text
        self._fields = fields  # fields[n] is field n: python-hl7 numbers MSH the HL7 way too
        self._encoding_chars = encoding_chars
        self._parsed: dict[int, tuple[Hl7Field, ...]] = {}

    def __repr__(self) -> str:
        return f"<Hl7Segment {self.name}>"

    def field(self, number: int) -> Hl7Field:
        repetitions = self.repetitions(number)
        return repetitions[0] if repetitions else EMPTY_FIELD

    def repetitions(self, number: int) -> tuple[Hl7Field, ...]:
        parsed = self._parsed.get(number)
        if parsed is None:
            parsed = self._parsed[number] = self._read(number)
        return parsed

    def _read(self, number: int) -> tuple[Hl7Field, ...]:
        if not 0 < number < len(self._fields):
            return ()
        field = self._fields[number]
        received = str(field)
        if self.name == "MSH" and number in (1, 2):  # the separators themselves, not split
            return (Hl7Field({(1, 1): received}, received),)
        if not received.strip():
            return ()
        # A field without any separator is one string; otherwise a list of repetitions.
        repetitions = [field[0]] if isinstance(field[0], str) else field
        return tuple(_field_of(r, self._encoding_chars) for r in repetitions)


@dataclass(frozen=True, eq=False)
class Hl7Message:
    """One parsed message and what its MSH says. The application and facility fields are kept
    as received (ER7, all components), so the ACK can return them unchanged; ``charset`` is
    MSH-18 as declared and ``codec`` the Python codec the bytes were read with;
    ``field_separator`` and ``encoding_characters`` (MSH-1, MSH-2) are the sender's;
    ``segments`` those kept (the version's own and Z-segments, in order; ``segment(name)``
    and ``segments_named(name)`` find them); ``notes`` say what was tolerated on the way
    (dropped segments, an undeclared character set)."""

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
    field_separator: str
    encoding_characters: str  # component, repetition, escape, subcomponent
    segments: tuple[Hl7Segment, ...]
    notes: tuple[str, ...] = ()

    def segment(self, name: str) -> Hl7Segment | None:
        """The first segment named ``name``, or None."""
        return next((s for s in self.segments if s.name == name), None)

    def segments_named(self, name: str) -> list[Hl7Segment]:
        """Every segment named ``name``, in order."""
        return [s for s in self.segments if s.name == name]

    @cached_property
    def message(self) -> Message:
        """The whole message as an hl7apy tree (segments as children, no groups), parsed on
        first use: reading the fields through ``segments`` costs a fraction of this."""
        return parse_message("\r".join(s.text for s in self.segments), find_groups=False,
                             validation_level=VALIDATION_LEVEL.TOLERANT)


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


def _decode(raw: bytes, override: str | None = None) -> _Decoded:
    body = _unframed(raw)
    declared = _declared_charset(body)
    if override:  # the sender's registered character set, whatever MSH-18 says
        try:
            return _Decoded(body.decode(override), declared, override,
                            (f"read as {override}, the sender's registered character set "
                             f"(MSH-18 says {declared or 'nothing'})",))
        except (UnicodeDecodeError, LookupError) as exc:
            raise Hl7Error(ERROR, f"the message is not in {override}, the sender's registered "
                                  f"character set", "MSH-18", DATA_TYPE_ERROR) from exc
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

def parse(raw: bytes, charset: str | None = None) -> Hl7Message:
    """The message in ``raw`` (bytes as received; ``charset``: a Python codec that overrides
    MSH-18), or Hl7Error: AR when it is not an HL7 v2 message we can read (no MSH, bad
    encoding characters, unknown charset, unsupported version), AE when MSH-10 is empty. The
    message is split into fields here; a field's values are read when first asked for."""
    decoded = _decode(raw, charset)
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
    kept, dropped = _known_segments(text, version, encoding_chars["FIELD"])
    segments = tuple(Hl7Segment(s, fields, encoding_chars)
                     for s, fields in zip(kept, _split(kept), strict=True))
    msh = segments[0]
    control_id = msh.field(10).er7.strip()
    if not control_id:
        raise Hl7Error(ERROR, "the message control id (MSH-10) is empty", "MSH-10",
                       REQUIRED_FIELD_MISSING)
    message_type = msh.field(9)
    trigger = message_type.text(2)
    if not trigger:  # MSH-9.2 empty: EVN-1 (the event type code, before 2.5) may name it
        evn = next((s for s in segments if s.name == "EVN"), None)
        trigger = evn.field(1).text() if evn else ""
    return Hl7Message(
        version=version, message_type=message_type.text(1).upper(), trigger=trigger.upper(),
        control_id=control_id, processing_id=msh.field(11).text(),
        sending_application=msh.field(3).er7, sending_facility=msh.field(4).er7,
        receiving_application=msh.field(5).er7, receiving_facility=msh.field(6).er7,
        charset=decoded.charset, codec=decoded.codec,
        field_separator=encoding_chars["FIELD"],
        encoding_characters="".join(encoding_chars[c] for c in (
            "COMPONENT", "REPETITION", "ESCAPE", "SUBCOMPONENT")),
        segments=segments, notes=decoded.notes + dropped)


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


def _split(segments: list[str]) -> hl7.Message:
    """The message (MSH first) split by python-hl7, one ``hl7.Segment`` per segment. What it
    raises becomes Hl7Error AE 102; ``get_message_info`` has already refused the encoding
    characters it cannot work with (missing or repeated), so this is a guard."""
    try:
        return hl7.parse("\r".join(segments))
    except (hl7.HL7Exception, IndexError, ValueError) as exc:
        raise Hl7Error(ERROR, f"the message cannot be parsed: {exc}", "MSH",
                       DATA_TYPE_ERROR) from exc


def _field_of(repetition: str | hl7.Repetition, encoding_chars: dict[str, str]) -> Hl7Field:
    """One repetition as split by python-hl7 (a string when it has no component or
    subcomponent separator, else components, each a string or subcomponents) as an
    ``Hl7Field``."""
    if isinstance(repetition, str):
        return Hl7Field({(1, 1): _value(repetition, encoding_chars)}, repetition)
    values: dict[tuple[int, int], str] = {}
    for position, component in enumerate(repetition, start=1):
        if isinstance(component, str):
            values[(position, 1)] = _value(component, encoding_chars)
        else:
            for sub_position, subcomponent in enumerate(component, start=1):
                values[(position, sub_position)] = _value(subcomponent, encoding_chars)
    return Hl7Field(values, str(repetition))


def _value(text: str, encoding_chars: dict[str, str]) -> str:
    """A value as the mapping reads it: escapes resolved, stripped, the HL7 null as empty."""
    value = _unescaped(text, encoding_chars).strip()
    return "" if value == '""' else value


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
        return _Envelope(
            received.field_separator, received.encoding_characters,
            received.sending_application, received.sending_facility,
            received.receiving_application, received.receiving_facility, received.control_id,
            received.processing_id or "P", received.version, received.trigger,
            received.charset, received.codec)
    return _envelope_of_raw(received)


def sending_facility(raw: bytes) -> str:
    """MSH-4.1 as far as it can be read from the raw MSH line ("" when it cannot)."""
    envelope = _envelope_of_raw(raw)
    return envelope.sending_facility.split(envelope.encoding_characters[0])[0]


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

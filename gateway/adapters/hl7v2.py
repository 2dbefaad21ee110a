"""HL7 v2 on the wire: bytes in, a parsed ``Hl7Message``; an ACK out.

    message = parse(raw)                    # bytes as received (MLLP framing, \\n separators)
    event = adt_v2.event_from_v2(message)   # gateway/mappings/adt_v2.py: the AdtEvent
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
- **Parsing** uses hl7apy (``VALIDATION_LEVEL.TOLERANT``, no groups), but one field at a time
  and only the fields someone reads (``Hl7Segment.field``): hl7apy builds and checks an object
  for every component and subcomponent, and parsing whole messages cost 5-15 ms of CPU each,
  a cap of ~100 messages/s on one core. A field that is one plain value (a code, a date, an
  id) is taken as it is, which is what hl7apy gives back for it. ``Hl7Message.message`` still
  parses the whole message into an hl7apy tree, for whoever needs one. Z-segments, extra
  fields and out-of-order segments pass; segments hl7apy does not know for the version are
  dropped with a note.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import hl7apy
import hl7apy.core
import hl7apy.factories
from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Field, Message
from hl7apy.exceptions import ChildNotFound, HL7apyException
from hl7apy.parser import get_message_info, parse_field, parse_message

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
    sequences resolved, the HL7 null ``""`` as empty, "" when absent) and ``er7`` the field as
    hl7apy writes it back (every component, for echoing it)."""

    __slots__ = ("_values", "_er7", "_element", "_encoding_chars")

    def __init__(self, values: dict[tuple[int, int], str], er7: str | None = None,
                 element: Field | None = None, encoding_chars: dict[str, str] | None = None
                 ) -> None:
        self._values = values
        self._er7 = er7
        self._element = element
        self._encoding_chars = encoding_chars

    def __repr__(self) -> str:
        return f"<Hl7Field {self.er7!r}>"

    def text(self, component: int = 1, subcomponent: int = 1) -> str:
        return self._values.get((component, subcomponent), "")

    @property
    def er7(self) -> str:
        if self._er7 is None:  # written only when asked: to_er7 costs as much as a parse
            self._er7 = self._element.to_er7(self._encoding_chars) if self._element else ""
        return self._er7


EMPTY_FIELD = Hl7Field({}, "")


class Hl7Segment:
    """One segment as received. Its fields are parsed by hl7apy when first read (and kept):
    ``field(n)`` is the first repetition of field n (``EMPTY_FIELD`` when absent),
    ``repetitions(n)`` all of them. Numbers are HL7's: ``field(3)`` of a PID is PID-3, of an
    MSH MSH-3."""

    __slots__ = ("name", "text", "_version", "_encoding_chars", "_raw", "_parsed")

    def __init__(self, text: str, version: str, encoding_chars: dict[str, str]) -> None:
        self.name = text[:3].upper()
        self.text = text
        self._version = version
        self._encoding_chars = encoding_chars
        # Split as hl7apy's parse_fields does; MSH-1 is the field separator itself.
        self._raw = text.split(encoding_chars["FIELD"])
        self._parsed: dict[int, tuple[Hl7Field, ...]] = {}

    def __repr__(self) -> str:
        return f"<Hl7Segment {self.name}>"

    def field(self, number: int) -> Hl7Field:
        repetitions = self.repetitions(number)
        return repetitions[0] if repetitions else EMPTY_FIELD

    def repetitions(self, number: int) -> tuple[Hl7Field, ...]:
        parsed = self._parsed.get(number)
        if parsed is None:
            parsed = self._parsed[number] = self._parse(number)
        return parsed

    def _parse(self, number: int) -> tuple[Hl7Field, ...]:
        chars = self._encoding_chars
        if self.name == "MSH" and number == 1:
            return (Hl7Field({(1, 1): chars["FIELD"]}, chars["FIELD"]),)
        index = number - 1 if self.name == "MSH" else number
        text = self._raw[index] if 0 < index < len(self._raw) else ""
        if not text.strip():  # hl7apy keeps no field for an empty one
            return ()
        name = f"{self.name}_{number}"
        repetitions = [text] if name == "MSH_2" else text.split(chars["REPETITION"])
        try:
            return tuple(self._read(repetition, name) for repetition in repetitions)
        except HL7apyException as exc:
            raise Hl7Error(ERROR, f"{self.name}-{number} cannot be parsed: {exc}",
                           f"{self.name}-{number}", DATA_TYPE_ERROR) from exc

    def _read(self, text: str, name: str) -> Hl7Field:
        plain = _plain_field(text, name, self._version, self._encoding_chars)
        if plain is not None:
            return plain
        element = parse_field(text, name, self._version, self._encoding_chars,
                              VALIDATION_LEVEL.TOLERANT)
        return _field_of(element, self._encoding_chars)


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
    version), AE when MSH-10 (needed to acknowledge it) is empty. Only the header is parsed
    here; the other fields are parsed as they are read."""
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
    kept, dropped = _known_segments(text, version, encoding_chars["FIELD"])
    segments = tuple(Hl7Segment(s, version, encoding_chars) for s in kept)
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


def _plain_field(text: str, name: str, version: str, encoding_chars: dict[str, str]
                 ) -> Hl7Field | None:
    """The field when it is one plain value that hl7apy would give back unchanged (no
    component, subcomponent or escape character, and not a number), else None. Most fields
    the mapping reads are such codes, dates and ids: this saves three hl7apy elements each."""
    if any(encoding_chars[c] in text for c in ("COMPONENT", "SUBCOMPONENT", "ESCAPE")) \
            or not _kept_as_text(name, version):
        return None
    value = text.strip()
    return Hl7Field({(1, 1): "" if value == '""' else value}, text) if value else EMPTY_FIELD


@lru_cache(maxsize=1024)
def _kept_as_text(name: str, version: str) -> bool:
    """Whether hl7apy keeps a plain value of field ``name`` as it is: yes unless its first
    component is a number (NM, SI), which hl7apy rewrites ("01" -> "1")."""
    try:
        reference = load_reference(name, "Field", version)
    except (ChildNotFound, KeyError):
        return True  # a field the version does not define: hl7apy reads it as text
    while reference[0] != "leaf" and reference[1]:  # a composite: its first component
        reference = reference[1][0][1]
    return reference[0] != "leaf" or reference[2] not in ("NM", "SI")


def _field_of(parsed: Field, encoding_chars: dict[str, str]) -> Hl7Field:
    """An hl7apy Field as an ``Hl7Field``. Positions come from the element names (``CX_4``
    is component 4; an element named after its type, ``ST``, is the first), so one reader
    serves every version; the first value at a position wins."""
    values: dict[tuple[int, int], str] = {}
    for component in parsed.children:
        position = _position(component)
        for leaf in component.children:
            values.setdefault((position, _position(leaf)), _plain(leaf, encoding_chars))
    return Hl7Field(values, element=parsed, encoding_chars=encoding_chars)


def _position(element: Any) -> int:
    suffix = (element.name or "").rsplit("_", 1)[-1]
    return int(suffix) if suffix.isdigit() else 1


def _plain(leaf: Any, encoding_chars: dict[str, str]) -> str:
    value = leaf.value
    if value is None:
        return ""
    raw = value.value if isinstance(getattr(value, "value", None), str) \
        else leaf.to_er7(encoding_chars)
    text = _unescaped(str(raw), encoding_chars).strip()
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

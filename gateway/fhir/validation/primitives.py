"""Checks for FHIR primitive values: JSON type, the R4 regex, and value and length limits."""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from .narrative import xhtml_error

SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
REGEX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/regex"

# The JSON representation of each FHIRPath system type (R4 JSON format, section 2.6.2).
JSON_KIND_OF_SYSTEM_TYPE = {"Boolean": "boolean", "Integer": "integer", "Decimal": "decimal"}

# What a reader should send instead, for the formats whose regex alone is unhelpful.
FORMAT_HINTS = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss] with a timezone",
    "instant": "YYYY-MM-DDThh:mm:ss[.sss] with a timezone (Z or +hh:mm)",
    "time": "hh:mm:ss[.sss]",
    "id": "1 to 64 characters from A-Z, a-z, 0-9, '-' and '.'",
    "code": "no leading, trailing or repeated whitespace",
    "oid": "urn:oid: followed by dotted digits",
    "uuid": "urn:uuid: followed by a lower-case UUID",
    "uri": "no whitespace",
    "url": "no whitespace",
    "canonical": "no whitespace",
    "positiveInt": "an integer of at least 1",
    "unsignedInt": "an integer of at least 0",
    "base64Binary": "base64 characters in groups of four",
}
_BASE64 = re.compile(r"[0-9a-zA-Z+/=]+")
# R4 datatypes.html#string: no characters below U+0020 but tab, CR and LF; and JSON's \uD800-
# \uDFFF escapes are only text as surrogate pairs, so a lone one is no character at all.
_FORBIDDEN_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_DATE_PART = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def json_type(value: object) -> str:
    """The JSON type name of a parsed JSON value, for diagnostics."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def a_json_type(value: object) -> str:
    """The JSON type name with its article ("an object", "a string"), for diagnostics."""
    name = json_type(value)
    return ("an " if name[0] in "aeiou" else "a ") + name


def show(value: object, limit: int = 60) -> str:
    """A short quoted rendering of a primitive value for diagnostics."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"'{text}'"


def _calendar_error(value: str) -> str | None:
    # The R4 regexes accept days such as 2023-02-30; the date must also exist.
    match = _DATE_PART.match(value)
    if match is None:
        return None
    try:
        dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return f"{show(value)} is not a real calendar date"
    return None


def _base64_error(value: str) -> str | None:
    # The spec regex nests \s* quantifiers and backtracks exponentially on long bad input, so this
    # checks the same language directly: base64 characters in groups of four, whitespace between.
    compact = _WHITESPACE.sub("", value)
    if compact and len(compact) % 4 == 0 and _BASE64.fullmatch(compact):
        return None
    return f"{show(value)} is not valid base64Binary ({FORMAT_HINTS['base64Binary']})"




EXTRA_CHECKS = {"date": _calendar_error, "dateTime": _calendar_error, "instant": _calendar_error,
                "base64Binary": _base64_error, "xhtml": xhtml_error}
REGEX_REPLACED = frozenset({"base64Binary"})


@dataclass(frozen=True, slots=True)
class PrimitiveType:
    """One R4 primitive type, compiled from its StructureDefinition."""

    name: str
    json_kind: str  # "boolean" | "integer" | "decimal" | "string"
    pattern: re.Pattern[str] | None
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None

    def check(self, value: object) -> str | None:
        """Why ``value`` is not a valid JSON representation of this type, or None if it is."""
        kind = self.json_kind
        if kind == "string":
            if type(value) is not str:
                return f"Expected a JSON string for {self.name} but found {a_json_type(value)}"
            if not value:
                return "Empty strings are not allowed; omit the element instead"
            forbidden = _FORBIDDEN_CHARACTER.search(value)
            if forbidden is not None:
                return (f"The {self.name} contains the character U+{ord(forbidden.group()):04X},"
                        f" which FHIR strings may not contain (control characters other than "
                        f"tab, CR and LF; unpaired surrogates)")
            if self.max_length is not None and len(value) > self.max_length:
                return f"The {self.name} is longer than the {self.max_length} characters allowed"
            if self.pattern is not None and self.pattern.fullmatch(value) is None:
                return self._format_error(value)
        elif kind == "boolean":
            if type(value) is not bool:
                return f"Expected a JSON boolean (true or false) but found {a_json_type(value)}"
            return None
        elif kind == "integer":
            if type(value) is not int:
                return (f"Expected a JSON number without a fraction for {self.name} but found "
                        f"{a_json_type(value)}")
            if self.min_value is not None and value < self.min_value \
                    or self.max_value is not None and value > self.max_value:
                return (f"{value} is outside the range of {self.name} "
                        f"({self.min_value}..{self.max_value})")
            if self.pattern is not None and self.pattern.fullmatch(str(value)) is None:
                return self._format_error(value)
            return None
        elif kind == "decimal":
            # A number with a fraction or exponent is read as a Decimal that keeps its digits
            # (gateway/fhir/json_text.py); one without is an int.
            if type(value) not in (int, float) and not isinstance(value, Decimal):
                return f"Expected a JSON number for decimal but found {a_json_type(value)}"
            if not math.isfinite(value):
                return f"{value} is not a finite decimal number"
            return None
        extra = EXTRA_CHECKS.get(self.name)
        return extra(value) if extra is not None else None

    def _format_error(self, value: object) -> str:
        hint = FORMAT_HINTS.get(self.name)
        return f"{show(value)} is not a valid {self.name}" + (f" (expected {hint})" if hint else "")


def _value_element(sd: Mapping) -> Mapping:
    return next(e for e in sd["elements"] if e["path"] == f"{sd['type']}.value")


def _regex(element: Mapping) -> str | None:
    for type_ in element.get("type", []):
        for extension in type_.get("extension", []):
            if extension.get("url") == REGEX_EXTENSION:
                return extension["valueString"]
    return None


def compile_primitives(structures: Mapping[str, Mapping]) -> dict[str, PrimitiveType]:
    """A PrimitiveType for each primitive StructureDefinition, inheriting limits from its bases."""
    primitives = {name: sd for name, sd in structures.items() if sd["kind"] == "primitive-type"}

    def chain(name: str) -> list[Mapping]:
        # The type itself first, then its primitive ancestors (positiveInt -> integer).
        result = []
        while name in primitives:
            result.append(primitives[name])
            name = (primitives[name].get("baseDefinition") or "").rsplit("/", 1)[-1]
        return result

    compiled = {}
    for name in primitives:
        values = [_value_element(sd) for sd in chain(name)]
        root_code = values[-1].get("type", [{}])[0].get("code", "")
        system_type = root_code.removeprefix(SYSTEM_PREFIX)

        def first(key: str, values: list[Mapping] = values) -> object:
            return next((v[key] for v in values if key in v), None)

        regex = None if name in REGEX_REPLACED else _regex(values[0])
        compiled[name] = PrimitiveType(
            name=name,
            json_kind=JSON_KIND_OF_SYSTEM_TYPE.get(system_type, "string"),
            # The R4 regexes are Java's: \s and \S are ASCII whitespace and the rest, so a
            # no-break space or U+3000 is text, not space (re.ASCII gives Python the same).
            pattern=re.compile(regex, re.ASCII) if regex else None,
            min_value=first("minValueInteger"),  # type: ignore[arg-type]
            max_value=first("maxValueInteger"),  # type: ignore[arg-type]
            max_length=first("maxLength"),  # type: ignore[arg-type]
        )
    return compiled

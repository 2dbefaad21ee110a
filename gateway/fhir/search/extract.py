"""Search values of one resource: each parameter's compiled expression, converted by type.

Pure functions (no database): ``extract`` turns a resource into the set of index entries the
index tables will hold, so it can be tested and reasoned about on its own.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gateway.fhir.search.dates import date_range, period_range
from gateway.fhir.search.references import parse_reference


class SearchParam(Protocol):
    """What extraction needs of a search parameter (registry.SearchParam is one)."""

    code: str
    type: str
    targets: tuple[str, ...]
    extractor: Any  # a compiled FHIRPath expression (expressions.py), or None


# Column widths of the index tables (gateway/db/models.py).
TOKEN_WIDTH, STRING_WIDTH, URL_WIDTH = 255, 512, 1024

_PRIMITIVE_TOKENS = frozenset({"code", "string", "id", "uri", "url", "canonical", "oid", "uuid",
                               "markdown"})
_PRIMITIVE_STRINGS = frozenset({"string", "markdown", "code", "id"})
_URIS = frozenset({"uri", "url", "canonical", "oid", "uuid"})
_DATES = frozenset({"date", "dateTime", "instant"})
_HUMAN_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")

# The FHIR types each search parameter type can index; other branches of an expression (a
# string inside a date parameter's choice type, say) are not searchable with that type.
CONVERTIBLE_TYPES: dict[str, frozenset[str]] = {
    "token": _PRIMITIVE_TOKENS | {"boolean", "Coding", "CodeableConcept", "Identifier",
                                  "ContactPoint"},
    "string": _PRIMITIVE_STRINGS | {"HumanName", "Address"},
    "reference": frozenset({"Reference", "canonical"}),
    "date": _DATES | {"Period", "Timing"},
    "uri": _URIS,
}


# Letters that carry their stroke in the code point itself, so NFKD does not split off a mark
# (Vietnamese đ, Polish ł, Scandinavian ø, ...): folded by hand to their base letter.
_STROKED = str.maketrans({"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O",
                          "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ı": "i"})


def normalize(text: str) -> str:
    """Case- and accent-insensitive form of a string (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_STROKED))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass
class Extracted:
    """Index entries of one resource, per table, keyed by parameter code."""

    tokens: set[tuple[str, str | None, str | None]] = field(default_factory=set)
    strings: set[tuple[str, str, str]] = field(default_factory=set)  # (param, normalized, exact)
    references: set[tuple[str, str | None, str | None, str | None]] = field(default_factory=set)
    dates: set[tuple[str, datetime, datetime]] = field(default_factory=set)
    uris: set[tuple[str, str]] = field(default_factory=set)


def extract(params: Iterable[SearchParam], resource: dict[str, Any],
            base_url: str | None = None) -> Extracted:
    """All index entries of ``resource`` for the given (indexed) parameters."""
    result = Extracted()
    for param in params:
        if param.extractor is None:
            continue
        values = param.extractor.evaluate(resource)
        if not values:
            continue
        code = param.code
        if param.type == "token":
            result.tokens.update((code, s, c) for t, v in values for s, c in tokens(t, v))
        elif param.type == "string":
            result.strings.update((code, normalize(s)[:STRING_WIDTH], s[:STRING_WIDTH])
                                  for t, v in values for s in strings(t, v))
        elif param.type == "reference":
            result.references.update(
                (code, *target) for t, v in values
                for target in references(t, v, param.targets, base_url))
        elif param.type == "date":
            result.dates.update((code, low, high) for t, v in values for low, high in dates(t, v))
        elif param.type == "uri":
            result.uris.update((code, u) for t, v in values for u in uris(t, v))
    return result


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _fits(value: str | None, width: int = TOKEN_WIDTH) -> bool:
    # Over-long values are not indexed: truncated, they would match other values exactly.
    return value is None or len(value) <= width


def tokens(fhir_type: str, value: Any) -> Iterator[tuple[str | None, str | None]]:
    """(system, code) pairs of a token value."""
    if fhir_type == "boolean":
        if isinstance(value, bool):
            yield None, "true" if value else "false"
        return
    if fhir_type in _PRIMITIVE_TOKENS:
        if _text(value) and _fits(value):
            yield None, value
        return
    if not isinstance(value, dict):
        return
    if fhir_type == "CodeableConcept":
        for coding in value.get("coding") or []:
            yield from tokens("Coding", coding)
        return
    code_key = {"Coding": "code", "Identifier": "value", "ContactPoint": "value"}[fhir_type]
    system, code = _text(value.get("system")), _text(value.get(code_key))
    if (system or code) and _fits(system) and _fits(code):
        yield system, code


def strings(fhir_type: str, value: Any) -> Iterator[str]:
    """The searchable texts of a string value (each part of a name or address)."""
    if fhir_type in _PRIMITIVE_STRINGS:
        if _text(value):
            yield value
        return
    if not isinstance(value, dict):
        return
    parts = _HUMAN_NAME_PARTS if fhir_type == "HumanName" else _ADDRESS_PARTS
    for part in parts:
        item = value.get(part)
        for text in item if isinstance(item, list) else [item]:
            if _text(text):
                yield text


def references(fhir_type: str, value: Any, targets: Iterable[str] | None = None,
               base_url: str | None = None
               ) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(target_type, target_id, url) of a Reference or canonical, if a target type allows it."""
    if fhir_type == "canonical":
        text = value if _text(value) else None
    else:
        text = _text(value.get("reference")) if isinstance(value, dict) else None
    if text is None:
        return
    target = parse_reference(text, base_url)
    if target is None or not _fits(target.url, URL_WIDTH):
        return
    allowed = targets or ()
    if target.type and allowed and target.type not in allowed:
        return
    yield target.type, target.id, target.url


def dates(fhir_type: str, value: Any) -> Iterator[tuple[datetime, datetime]]:
    """UTC ranges covered by a date, dateTime, instant, Period or Timing."""
    if fhir_type in _DATES:
        covered = date_range(value) if isinstance(value, str) else None
        if covered:
            yield covered
        return
    if not isinstance(value, dict):
        return
    if fhir_type == "Period":
        covered = period_range(_text(value.get("start")), _text(value.get("end")))
        if covered:
            yield covered
        return
    for event in value.get("event") or []:  # Timing
        yield from dates("dateTime", event)
    bounds = (value.get("repeat") or {}).get("boundsPeriod")
    if isinstance(bounds, dict):
        yield from dates("Period", bounds)


def uris(fhir_type: str, value: Any) -> Iterator[str]:
    if fhir_type in _URIS and _text(value) and _fits(value, URL_WIDTH):
        yield value

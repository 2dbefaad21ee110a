"""Reading FHIR JSON strictly: a body the JSON grammar allows but FHIR does not is refused
with the place it goes wrong, before anything else reads it.

- **Duplicate keys**: RFC 8259 leaves an object with a repeated name undefined and Python keeps
  the last; FHIR JSON (R4 json.html) has one property per name, so a repeat is an error, named
  by its path (``Patient.name[0].family``).
- **Nesting depth**: FHIR content is at most a few dozen levels deep; a body nested deeper than
  ``MAX_DEPTH`` is refused (400) rather than left to exhaust a recursive reader later.
- **Decimals as written**: R4 ``decimal`` keeps its precision (datatypes.html#decimal: 1.50 is
  not 1.5), and a float cannot hold 1.0000000000000000000000001. A JSON number with a fraction
  or an exponent is read as a ``Number`` (a ``Decimal`` that remembers its text) and ``dumps``
  writes it back exactly as it was written; integers stay ``int``.

Every reader and writer of resource content (storage, responses, Bundles, deliveries, the
audit chain's hashes) goes through ``loads``/``loads_stored`` and ``dumps`` here, so a number
keeps its spelling from the request to every copy of it.
"""
from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from gateway.fhir.errors import FhirError

MAX_DEPTH = 100


class _Object(dict):
    """A parsed JSON object that remembers the names it saw twice."""

    __slots__ = ("repeated",)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = _Object()
    repeated = []
    for key, value in pairs:
        if key in result:
            repeated.append(key)
        result[key] = value
    result.repeated = repeated
    return result


class Number(Decimal):
    """A JSON number with a fraction or an exponent, as written (``str`` gives the text back).
    Arithmetic on it gives a plain ``Decimal``; comparisons work as for any number."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> Number:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Number({self.text!r})"


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=Number)
_STORED_DECODER = json.JSONDecoder(parse_float=Number)


def loads_stored(text: str | bytes) -> Any:
    """JSON the gateway wrote itself (stored content, its own answers), decimals as written."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _STORED_DECODER.decode(text)


class _HasDecimal(Exception):
    pass


def _no_decimal(value: object) -> Any:
    if isinstance(value, Decimal):
        raise _HasDecimal
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_no_decimal)
_SORTED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                           default=_no_decimal)


def dumps(value: Any, *, sort_keys: bool = False, indent: int | None = None) -> str:
    """Compact JSON text (UTF-8 characters, not escapes), decimals exactly as read.

    Content without a ``Decimal`` takes the standard library's C encoder; content with one
    is written by ``_write`` (the C encoder cannot emit a number's own text)."""
    try:
        if indent is not None:
            return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, indent=indent,
                              default=_no_decimal)
        return (_SORTED if sort_keys else _COMPACT).encode(value)
    except _HasDecimal:
        parts: list[str] = []
        _write(value, parts, sort_keys, "\n" if indent is not None else None, indent or 0)
        return "".join(parts)


_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _write(value: Any, parts: list[str], sort_keys: bool, newline: str | None,
           step: int) -> None:
    if isinstance(value, str):
        parts.append(_string(value))
    elif value is None or value is True or value is False:
        parts.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        parts.append(str(value))
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        parts.append(float.__repr__(value))
    elif isinstance(value, dict | list | tuple):
        is_object = isinstance(value, dict)
        items = (sorted(value.items()) if sort_keys else value.items()) if is_object \
            else value
        inner = newline + " " * step if newline is not None else None
        parts.append("{" if is_object else "[")
        for index, item in enumerate(items):
            if index:
                parts.append(",")
            if inner is not None:
                parts.append(inner)
            if is_object:
                key, item = item
                if not isinstance(key, str):
                    raise TypeError(f"keys must be str, not {type(key).__name__}")
                parts.append(_string(key))
                parts.append(":" if newline is None else ": ")
            _write(item, parts, sort_keys, inner, step)
        if newline is not None and value:
            parts.append(newline)
        parts.append("}" if is_object else "]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def loads(text: str | bytes) -> Any:
    """The JSON value of ``text``: a FhirError (400) for bad JSON, a repeated key (with its
    path) or nesting deeper than MAX_DEPTH."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise FhirError(400, "invalid", f"the request body is not valid JSON: {error.msg} at "
                                        f"line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise FhirError(400, "too-costly", f"the JSON is nested more than {MAX_DEPTH} levels "
                                           f"deep") from None
    _check(value)
    return value


def _check(value: Any) -> None:
    """Walk the value without recursion: depth, and repeated names with their paths."""
    root = value.get("resourceType") if isinstance(value, dict) else None
    stack: list[tuple[Any, str, int]] = [(value, str(root) if isinstance(root, str) else "$",
                                          1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FhirError(400, "too-costly",
                            f"the JSON is nested more than {MAX_DEPTH} levels deep", path)
        if isinstance(node, dict):
            repeated = getattr(node, "repeated", None)
            if repeated:
                raise FhirError(400, "structure",
                                f"the property {repeated[0]!r} appears more than once in one "
                                f"object (FHIR JSON allows each property once)",
                                f"{path}.{repeated[0]}")
            stack += [(child, f"{path}.{key}", depth + 1) for key, child in node.items()
                      if isinstance(child, dict | list)]
        elif isinstance(node, list):
            stack += [(child, f"{path}[{index}]", depth + 1)
                      for index, child in enumerate(node) if isinstance(child, dict | list)]

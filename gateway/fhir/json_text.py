"""Reading FHIR JSON strictly: a body the JSON grammar allows but FHIR does not is refused
with the place it goes wrong, before anything else reads it.

- **Duplicate keys**: RFC 8259 leaves an object with a repeated name undefined and Python keeps
  the last; FHIR JSON (R4 json.html) has one property per name, so a repeat is an error, named
  by its path (``Patient.name[0].family``).
- **Nesting depth**: FHIR content is at most a few dozen levels deep; a body nested deeper than
  ``MAX_DEPTH`` is refused (400) rather than left to exhaust a recursive reader later.
"""
from __future__ import annotations

import json
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


_DECODER = json.JSONDecoder(object_pairs_hook=_object)


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

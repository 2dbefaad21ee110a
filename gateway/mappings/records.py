"""Small checks on incoming local records (which should already pass ``record_problems``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import MappingError, at


def expect_type(record: Any, record_type: str) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise MappingError("", f"a {record_type} record must be an object")
    if record.get("type") != record_type:
        raise MappingError("type", f"expected a {record_type} record, not {record.get('type')!r}")
    return record


def required(record: Mapping[str, Any], field: str, path: str = "") -> Any:
    """``record[field]``, or MappingError at ``path.field`` when it is missing or empty."""
    value = record.get(field)
    if value is None or value == "" or value == [] or value == {}:
        raise MappingError(at(path, field), "is required")
    return value

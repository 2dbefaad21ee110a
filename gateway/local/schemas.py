"""The local record formats (``profiles/local/*.schema.json``) and checking records against them."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from gateway.config import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "profiles" / "local"
RECORD_TYPES = ("organization", "staff", "consumer", "assignment", "plan", "assessment",
                "consent", "referral")
# Flat record types that may also arrive as CSV.
FLAT_TYPES = ("consumer", "staff", "organization")


@dataclass(frozen=True)
class RecordProblem:
    """Why a record was rejected, at a field path like ``goals[1].consumer_words``."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@lru_cache(maxsize=4)
def _validators(schema_dir: Path) -> Mapping[str, Draft202012Validator]:
    schemas = {path.name: json.loads(path.read_text())
               for path in sorted(schema_dir.glob("*.schema.json"))}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    return {name: Draft202012Validator(schemas[f"{name}.schema.json"], registry=registry,
                                       format_checker=FormatChecker())
            for name in RECORD_TYPES}


def record_problems(record: Any, schema_dir: Path = SCHEMA_DIR) -> list[RecordProblem]:
    """Every way ``record`` breaks its schema; empty when it conforms."""
    if not isinstance(record, dict):
        return [RecordProblem("", "a record must be a JSON object")]
    record_type = record.get("type")
    validators = _validators(schema_dir)
    if record_type not in validators:
        return [RecordProblem("type", f"unknown record type {record_type!r}; expected one of "
                                      f"{', '.join(RECORD_TYPES)}")]
    errors = sorted(validators[record_type].iter_errors(record), key=lambda e: list(e.path))
    return [RecordProblem(field_path(error), _message(error)) for error in _leaves(errors)]


def _leaves(errors: list[ValidationError]) -> Iterator[ValidationError]:
    # allOf/oneOf failures carry the useful detail in their context.
    for error in errors:
        if error.context:
            yield from _leaves(sorted(error.context, key=lambda e: list(e.path)))
        else:
            yield error


def field_path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    name = ""
    if error.validator == "required":
        name = error.message.split("'")[1] if "'" in error.message else ""
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        name = ",".join(sorted(k for k in error.instance if k not in allowed))
    return f"{path}.{name}" if path and name else (name or path)


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "unknown field"
    return error.message

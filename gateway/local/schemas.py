"""The local record formats (``profiles/local/*.schema.json``) and checking records against them."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from gateway.config import PROJECT_ROOT

if TYPE_CHECKING:
    from referencing._core import Resolver

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
    return {name: Draft202012Validator(
                _inline_refs(schemas[f"{name}.schema.json"],
                             registry.resolver(schemas[f"{name}.schema.json"]["$id"])),
                registry=registry, format_checker=FormatChecker())
            for name in RECORD_TYPES}


# Keywords that describe rather than constrain: a ``$ref`` beside only these is the target.
_ANNOTATIONS = {"description", "title", "$comment", "examples", "default"}


def _inline_refs(node: Any, resolver: Resolver, seen: tuple[int, ...] = ()) -> Any:
    """``node`` with each ``$ref`` replaced by what it points to, resolved once here.

    Following references costs the validator more than the checks themselves (a URL join and
    a registry lookup per reference per record). The result validates exactly as the original
    does: a ``$ref`` with constraining siblings becomes an ``allOf`` with its target, which
    reports the same errors at the same paths. A recursive reference is left to the registry.
    """
    if isinstance(node, list):
        return [_inline_refs(item, resolver, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        resolved = resolver.lookup(node["$ref"])
        if id(resolved.contents) in seen:
            return node
        target = _inline_refs(resolved.contents, resolved.resolver,
                              (*seen, id(resolved.contents)))
        if isinstance(target, dict):
            target = {k: v for k, v in target.items() if k not in ("$id", "$schema", "$defs")}
        rest = {k: _inline_refs(v, resolver, seen) for k, v in node.items() if k != "$ref"}
        if not set(rest) - _ANNOTATIONS:
            return target
        also = rest.pop("allOf", [])
        return {**rest, "allOf": [*also, target]}
    return {key: (value if key in ("enum", "const") else _inline_refs(value, resolver, seen))
            for key, value in node.items()}


def record_problems(record: Any, schema_dir: Path = SCHEMA_DIR) -> list[RecordProblem]:
    """Every way ``record`` breaks its schema; empty when it conforms."""
    if not isinstance(record, dict):
        return [RecordProblem("", "a record must be a JSON object")]
    record_type = record.get("type")
    validators = _validators(schema_dir)
    if record_type not in validators:
        return [RecordProblem("type", f"unknown record type {record_type!r}; expected one of "
                                      f"{', '.join(RECORD_TYPES)}")]
    # The compiled check answers "valid" cheaply; only a record it refuses is walked again by
    # jsonschema, the reference implementation, for every problem with its path.
    if _fast_checks(schema_dir)[record_type](record):
        return []
    errors = sorted(validators[record_type].iter_errors(record), key=lambda e: list(e.path))
    return [RecordProblem(field_path(error), _message(error)) for error in _leaves(errors)]


@lru_cache(maxsize=4)
def _fast_checks(schema_dir: Path) -> Mapping[str, Callable[[Any], bool]]:
    """Per record type, a function telling whether a record conforms, compiled to Python by
    fastjsonschema from the same schemas (references inlined). The schemas use only keywords
    that mean the same in draft-07, which fastjsonschema implements; formats are checked as
    jsonschema checks them (``date``; ``date-time`` is left to the schema's pattern). A test
    holds the two to the same verdict on the fixtures and on broken variants."""
    checker = FormatChecker()
    formats = {"date": lambda value: checker.conforms(value, "date"),
               "date-time": lambda value: True}
    checks = {}
    for name, validator in _validators(schema_dir).items():
        schema = {k: v for k, v in validator.schema.items() if k not in ("$schema", "$id")}
        compiled = fastjsonschema.compile(
            {**schema, "$schema": "http://json-schema.org/draft-07/schema#"}, formats=formats)
        checks[name] = _verdict(compiled)
    return checks


def _verdict(compiled: Callable[[Any], Any]) -> Callable[[Any], bool]:
    def conforms(record: Any) -> bool:
        try:
            compiled(record)
        except fastjsonschema.JsonSchemaException:
            return False
        return True
    return conforms


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

"""``.csv`` files: rows read under their header, each cell typed per the JSON Schemas; and
``record_from_columns`` for one row from elsewhere."""
from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from gateway.adapters.local_files.columns import (
    ColumnError,
    ColumnLayout,
    PathPart,
    _Column,
    column_layout,
    join_list,
    split_list,
)
from gateway.local.schemas import FLAT_TYPES, RECORD_TYPES, SCHEMA_DIR
from gateway.local.sources import SourceRecord

_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})
_INTEGER = re.compile(r"^[+-]?\d+$")


# -- CSV: typing cells per the schema --------------------------------------------------------------

@lru_cache(maxsize=16)
def _schema_file(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any], file: str) -> tuple[dict[str, Any], str]:
    while "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        file = target or file
        node = _schema_file(file)
        for key in filter(None, pointer.split("/")):
            node = node[key]
    return node, file


def _subschema(node: dict[str, Any], file: str, part: PathPart
               ) -> tuple[dict[str, Any], str] | None:
    node, file = _resolve(node, file)
    if isinstance(part, int):
        return (node["items"], file) if node.get("type") == "array" and "items" in node else None
    if part in node.get("properties", {}):
        return node["properties"][part], file
    for member in node.get("allOf", ()):
        found = _subschema(member, file, part)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=1024)
def _field_kind(record_type: str, path: tuple[PathPart, ...]) -> tuple[str, str]:
    """(kind, item kind) of a field: kind is string, integer, number, boolean, list, object or
    object-list; item kind is the kind of a list's items. Unknown fields are strings."""
    file = f"{record_type}.schema.json"
    node: dict[str, Any] = _schema_file(file)
    for part in path:
        found = _subschema(node, file, part)
        if found is None:
            return "string", ""
        node, file = found
    node, file = _resolve(node, file)
    kind = node.get("type", "string")
    if kind == "array":
        items, items_file = _resolve(node.get("items", {}), file)
        item_kind = items.get("type", "string")
        return ("object-list", "") if item_kind == "object" else ("list", item_kind)
    return (kind if kind in ("integer", "number", "boolean", "object") else "string"), ""


def _scalar(text: str, kind: str) -> Any:
    if kind == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a boolean (true or false)")
    if kind == "integer":
        if _INTEGER.match(text):
            return int(text)
        number = _number(text)
        if isinstance(number, float) and number.is_integer():
            return int(number)
        raise ValueError(f"{text!r} is not a whole number")
    if kind == "number":
        return _number(text)
    return text


def _number(text: str) -> int | float:
    if _INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a number")
    return number


def _cell_value(text: str, record_type: str, column: _Column) -> Any:
    if column.contact is not None:
        kind, use = column.contact
        return [{"kind": kind, "value": value} | ({"use": use} if use else {})
                for value in split_list(text)]
    kind, item_kind = _field_kind(record_type, column.path)
    if kind == "list":
        return [_scalar(item, item_kind) for item in split_list(text)]
    if kind in ("object", "object-list"):
        example = f"{column.header}.0.<field>" if kind == "object-list" \
            else f"{column.header}.<field>"
        raise ValueError(f"holds several fields; use columns like {example}")
    return _scalar(text, kind)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return join_list(value)
    return str(value).strip()


def _convert(layout: ColumnLayout, cells: Sequence[Any], default_type: str | None,
             allowed: Sequence[str] = FLAT_TYPES) -> tuple[dict[str, Any] | None, list[str]]:
    """The record the cells make, or the problems; (None, []) for a row with nothing in it."""
    texts = [_text(cell) for cell in cells]
    if not any(texts):
        return None, []
    problems: list[str] = []
    if len(texts) > len(layout.headers) and any(texts[len(layout.headers):]):
        problems.append(f"the row has {len(texts)} cells but the header only "
                        f"{len(layout.headers)}")
    position = layout.type_position
    record_type = texts[position] if position is not None and position < len(texts) else ""
    record_type = record_type or default_type or ""
    if default_type and record_type != default_type:
        problems.append(f"a {record_type!r} record where {default_type!r} records are read")
    if not record_type:
        problems.append(f"the type cell is empty ({', '.join(allowed)})")
    elif record_type not in allowed:
        problems.append(f"type {record_type!r}: only {', '.join(allowed)} records can be read "
                        f"from columns; the others go in JSON or NDJSON")
    if problems:
        return None, problems
    tree: dict[PathPart, Any] = {}
    for column in layout.columns:
        text = texts[column.position] if column.position < len(texts) else ""
        if not text:
            continue
        try:
            value = _cell_value(text, record_type, column)
        except ValueError as error:
            problems.append(f"column {column.header!r}: {error}")
            continue
        if value == []:
            continue
        node = tree
        for part in column.path[:-1]:
            node = node.setdefault(part, {})
        if column.contact is not None:
            node.setdefault(column.path[-1], []).extend(value)
        else:
            node[column.path[-1]] = value
    if problems:
        return None, problems
    tree.pop("type", None)
    return {"type": record_type, **_listify(tree)}, []


def _listify(node: Any) -> Any:
    """Nested dicts with int keys become lists in index order."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_listify(node[key]) for key in sorted(node)]
    return {key: _listify(value) for key, value in node.items()}


def record_from_columns(values: Mapping[str, Any], record_type: str | None = None
                        ) -> tuple[Any, str | None]:
    """One record from columns named by the CSV convention (a database row, say).

    ``values`` maps headers to cells: text as in a CSV, or values a database driver returns
    (numbers, booleans, dates; None is absent). ``record_type`` is the type when there is no
    ``type`` column, and the only type accepted when there is. Returns ``(record, None)``, or
    ``(values, problem)``.
    """
    headers = tuple(values)
    try:
        layout = column_layout(headers)
    except ColumnError as error:
        return dict(values), str(error)
    if layout.type_position is None and record_type is None:
        return dict(values), "no type column, and no record type given"
    record, problems = _convert(layout, list(values.values()), record_type, RECORD_TYPES)
    if problems:
        return dict(values), "; ".join(problems)
    if record is None:
        return dict(values), "every column is empty"
    return record, None


# -- CSV: reading files ----------------------------------------------------------------------------

def _delimiter(header_line: str) -> str:
    if "," in header_line:
        return ","
    if "\t" in header_line:
        return "\t"
    return ";" if ";" in header_line else ","


def _read_csv(path: Path) -> Iterator[SourceRecord]:
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            first = file.readline()
            if not first.strip():
                if first or file.read(1):
                    yield SourceRecord(f"{path}:1", None, "the header line is empty")
                return
            reader = csv.reader(chain([first], file), delimiter=_delimiter(first))
            headers = tuple(next(reader))
            try:
                layout = column_layout(headers)
            except ColumnError as error:
                yield SourceRecord(f"{path}:1", list(headers), f"{error}; no row was read")
                return
            if layout.type_position is None:
                yield SourceRecord(f"{path}:1", list(headers),
                                   "no 'type' column: each row must name its record type "
                                   f"({', '.join(FLAT_TYPES)}); no row was read")
                return
            line = reader.line_num + 1
            for cells in reader:
                source = f"{path}:{line}"
                line = reader.line_num + 1
                record, problems = _convert(layout, cells, None)
                if problems:
                    raw = {header: cell for header, cell in zip(headers, cells, strict=False)
                           if cell.strip()}
                    yield SourceRecord(source, raw, "; ".join(problems))
                elif record is not None:
                    yield SourceRecord(source, record)
    except UnicodeDecodeError:
        yield SourceRecord(f"{path}:{line}", None,
                           "not UTF-8 text (in Excel, save as \"CSV UTF-8\"); "
                           "the rest of the file was not read")
    except csv.Error as error:
        yield SourceRecord(f"{path}:{line}", None,
                           f"not readable as CSV: {error}; the rest of the file was not read")

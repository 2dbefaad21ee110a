"""The column convention of CSV files (and database rows): a header understood as a layout,
lists in cells, and a record written back as a row (``csv_cells``)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CONTACT_KINDS = ("phone", "sms", "email", "fax")
CONTACT_USES = ("home", "work", "mobile")
_LIST_SEPARATOR = re.compile(r"(?<!\\);")

# -- headers ---------------------------------------------------------------------------------------

PathPart = str | int


class ColumnError(ValueError):
    """A header that does not fit the column convention; the message names the column."""


@dataclass(frozen=True)
class _Column:
    position: int
    header: str
    path: tuple[PathPart, ...]  # where the value goes; for contacts by kind, the contacts list
    contact: tuple[str, str | None] | None = None  # (kind, use) for contacts-by-kind columns


@dataclass(frozen=True)
class ColumnLayout:
    """A header, understood: the columns that carry values, and where each value goes."""

    headers: tuple[str, ...]
    columns: tuple[_Column, ...]

    @property
    def type_position(self) -> int | None:
        return next((c.position for c in self.columns if c.path == ("type",)), None)


@lru_cache(maxsize=256)
def column_layout(headers: tuple[str, ...]) -> ColumnLayout:
    """The layout of ``headers``; ``ColumnError`` for one that breaks the convention."""
    columns = []
    for position, raw in enumerate(headers):
        header = raw.strip()
        if not header or header.startswith("#"):
            continue
        columns.append(_parse_header(position, header))
    _check_columns(columns)
    return ColumnLayout(tuple(headers), tuple(columns))


def _parse_header(position: int, header: str) -> _Column:
    parts: list[PathPart] = []
    segments = header.split(".")
    for number, segment in enumerate(segments):
        if not segment:
            raise ColumnError(f"column {header!r}: an empty name between dots")
        if segment.isdigit():
            if number == 0:
                raise ColumnError(f"column {header!r}: starts with a list index")
            parts.append(int(segment))
            continue
        parts.append(segment)
        rest = segments[number + 1:]
        if segment == "contacts" and rest and not rest[0].isdigit():
            kind, use = rest[0], (rest[1] if len(rest) > 1 else None)
            if kind not in CONTACT_KINDS or len(rest) > 2 or (use and use not in CONTACT_USES):
                raise ColumnError(
                    f"column {header!r}: contacts columns are contacts.<kind> or "
                    f"contacts.<kind>.<use> (kind: {', '.join(CONTACT_KINDS)}; use: "
                    f"{', '.join(CONTACT_USES)}), or contacts.<n>.<field>")
            return _Column(position, header, tuple(parts), (kind, use))
    return _Column(position, header, tuple(parts))


def _check_columns(columns: list[_Column]) -> None:
    """No two columns may fill the same place, or a place and something inside it."""
    seen: dict[tuple[Any, ...], str] = {}
    child_kinds: dict[tuple[PathPart, ...], dict[bool, str]] = {}
    for column in columns:
        key = (column.path, column.contact)
        if key in seen:
            raise ColumnError(f"column {column.header!r} appears twice")
        seen[key] = column.header
        for depth in range(1, len(column.path)):
            kinds = child_kinds.setdefault(column.path[:depth], {})
            kinds.setdefault(isinstance(column.path[depth], int), column.header)
            if len(kinds) == 2:
                raise ColumnError(f"columns {kinds[True]!r} and {kinds[False]!r}: a list index "
                                  f"and a field name at the same place")
    for a in columns:
        for b in columns:
            if a is b or b.path[:len(a.path)] != a.path:
                continue
            same_place = len(b.path) == len(a.path)
            if same_place and (a.contact is None) == (b.contact is None):
                continue  # two contacts-by-kind columns fill one list together
            raise ColumnError(f"columns {a.header!r} and {b.header!r} both fill "
                              f"{'.'.join(map(str, a.path))}")


# -- lists in cells --------------------------------------------------------------------------------

def split_list(text: str) -> list[str]:
    """The items of a semicolon-separated cell (``\\;`` is a literal semicolon)."""
    items = (item.replace("\\;", ";").strip() for item in _LIST_SEPARATOR.split(text))
    return [item for item in items if item]


def join_list(items: Iterable[Any]) -> str:
    return ";".join(_cell_text(item).replace(";", "\\;") for item in items)


# -- a record written back as a row ----------------------------------------------------------------

def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_cells(record: Mapping[str, Any], headers: Sequence[str]) -> list[str]:
    """``record`` as a CSV row under ``headers`` (the column convention, written back).

    Raises ``ValueError`` when a field of the record has no column, so nothing is lost silently.
    """
    layout = column_layout(tuple(headers))
    cells = [""] * len(headers)
    covered: set[tuple[PathPart, ...]] = set()
    for column in layout.columns:
        value = _at(record, column.path)
        if column.contact is not None:
            kind, use = column.contact
            picked = [] if not isinstance(value, list) else [
                (index, item) for index, item in enumerate(value)
                if isinstance(item, dict) and item.get("kind") == kind and item.get("use") == use
                and set(item) <= {"kind", "value", "use"}]
            covered.update((*column.path, index) for index, _ in picked)
            cells[column.position] = join_list(item["value"] for _, item in picked)
            continue
        if value is None:
            continue
        if isinstance(value, list) and all(not isinstance(i, dict | list) for i in value):
            cells[column.position] = join_list(value)
        elif isinstance(value, dict | list):
            raise ValueError(f"column {column.header!r} would hold a whole object")
        else:
            cells[column.position] = _cell_text(value)
        covered.add(column.path)
    missing = [".".join(map(str, leaf)) for leaf in _leaves(record)
               if not any(leaf[:len(c)] == c for c in covered)]
    if missing:
        raise ValueError(f"no column for {', '.join(missing)}")
    return cells


def _at(record: Any, path: tuple[PathPart, ...]) -> Any:
    node = record
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
        elif not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _leaves(node: Any, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[PathPart, ...]]:
    """Paths to the values a row must hold: scalars and lists of scalars."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and any(isinstance(item, dict | list) for item in node):
        for index, item in enumerate(node):
            yield from _leaves(item, (*path, index))
    elif path:
        yield path

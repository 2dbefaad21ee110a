"""Local case-management records from files and folders: JSON, NDJSON and CSV, streamed.

``iter_records(paths)`` yields one ``SourceRecord`` per record found, in a stable order, with
where it came from (for reject reports) and any parse problem; whether the record conforms to
its format (``profiles/local/``) is the pipeline's question, not the reader's.

Paths and files
    A folder is read recursively, its files in sorted path order; hidden entries (``.name``)
    and Office lock files (``~$name``) are skipped, and so is any file that is not a record file
    (``README.md``, notes): only ``.json``, ``.ndjson``/``.jsonl`` and ``.csv`` are records.
    A path named explicitly that is missing, unreadable or not a record file is reported as an
    error; so is a folder that cannot be listed. A file reached twice is read once. All text is
    UTF-8; a leading byte-order mark is tolerated (Excel writes one in "CSV UTF-8").

``.json``: one record, or an array of records
    An array is streamed: ``json.JSONDecoder.raw_decode`` over 64 KiB chunks decodes one item at
    a time, so memory stays at one record whatever the file size. The source of an item is
    ``file.json[3]`` (0-based index). JSON does not allow resynchronising after a syntax error,
    so an invalid item ends the file: it is reported with its line and column, and the items
    before it stand. NaN and Infinity are refused.

``.ndjson`` / ``.jsonl``: one record per line
    Source ``file.ndjson:17`` (1-based line). Blank lines are skipped; a line that is not JSON
    (or not UTF-8) is an error for that line only.

``.csv``: the flat record types only (consumer, staff, organization)
    Line 1 is the header; each header says where its cell goes in the record:

    - ``type`` (required): the record type of the row.
    - A dotted path into the record: ``id``, ``birth_date``, ``name.family``,
      ``identifiers.agency_number``, ``guardian.name.given``. Underscores belong to field names;
      only dots separate levels.
    - A number indexes a list of objects: ``addresses.0.lines``, ``addresses.0.city``,
      ``eligibility.1.group``. Filled entries keep their index order; gaps close up.
    - Contacts by kind: ``contacts.<kind>`` or ``contacts.<kind>.<use>`` (kind: phone, sms,
      email, fax; use: home, work, mobile), at any level (``guardian.contacts.phone.home``).
      Each value becomes ``{kind, value, use}``, in column order. The general form
      ``contacts.0.kind`` / ``contacts.0.value`` / ``contacts.0.use`` also works; a file uses
      one form or the other for a given ``contacts``.
    - Headers that are empty or start with ``#`` are ignored (notes columns).

    Cells: empty (or blank) means absent, and surrounding spaces are trimmed. Lists of strings
    (``name.given``, ``roles``, ``credentials``, ``languages``, ``skills``,
    ``addresses.0.lines``) and contact cells are semicolon-separated (``María;José``; ``\\;``
    is a literal semicolon). Booleans are true/false, yes/no, y/n or 1/0 in any case; integers
    and numbers are typed per the schema; everything else is text as written, so dates must
    be ``YYYY-MM-DD`` (in Excel, format date columns as text). A column the schema does not
    know is kept as text, so the record check names it as an unknown field.

    A comma is the delimiter unless the header line has none and has tabs or semicolons. The
    source of a row is ``file.csv:N``, N the line the row starts on (the header is line 1):
    the spreadsheet row unless a quoted cell spans lines. A bad header (no ``type`` column, a
    duplicate, ``name`` beside ``name.family``, an unknown contact kind) rejects the whole file
    at ``file.csv:1``; a bad cell rejects its row, with the row's cells as the record.

``record_from_columns`` applies the same column convention to one row from elsewhere (a
database query), and ``csv_cells`` writes a record as a row under a given header.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import IO, Any

from gateway.local.schemas import FLAT_TYPES, RECORD_TYPES, SCHEMA_DIR

JSON_SUFFIXES = (".json",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
CSV_SUFFIXES = (".csv",)
RECORD_SUFFIXES = JSON_SUFFIXES + NDJSON_SUFFIXES + CSV_SUFFIXES
CONTACT_KINDS = ("phone", "sms", "email", "fax")
CONTACT_USES = ("home", "work", "mobile")
CHUNK_CHARS = 1 << 16
_BOM = b"\xef\xbb\xbf"
_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})
_LIST_SEPARATOR = re.compile(r"(?<!\\);")
_INTEGER = re.compile(r"^[+-]?\d+$")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class SourceRecord:
    """One record as read, before any check of its content."""

    source: str  # "path/to/file.ndjson:17", "file.csv:5", "plans.json[3]": for reject reports
    record: Any  # the parsed record (a dict), or whatever was there when it could not be parsed
    error: str | None = None  # a parse problem: the pipeline rejects the record with this reason


def iter_records(paths: Iterable[Path | str]) -> Iterator[SourceRecord]:
    """Every record in ``paths`` (files, or folders read recursively), streamed."""
    seen: set[Path] = set()
    for path in paths:
        for file, problem in _record_files(Path(path)):
            if problem is not None:
                yield SourceRecord(str(file), None, problem)
                continue
            key = file.resolve()
            if key in seen:
                continue
            seen.add(key)
            yield from _read_file(file)


def count_records(paths: Iterable[Path | str]) -> int | None:
    """A cheap estimate of how many records ``iter_records`` yields, for a progress bar.

    NDJSON counts its non-blank lines and CSV its lines after the header (a cell spanning lines
    counts twice); a JSON array counts its ``"updated_at"`` keys, which every record has once.
    None when some file cannot be read.
    """
    total = 0
    seen: set[Path] = set()
    for path in paths:
        for file, problem in _record_files(Path(path)):
            if problem is not None:
                total += 1
                continue
            key = file.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                total += _count_file(file)
            except OSError:
                return None
    return total


# -- finding files ---------------------------------------------------------------------------------

def _is_hidden(name: str) -> bool:
    return name.startswith((".", "~$"))


def _is_record_file(path: Path) -> bool:
    return path.suffix.lower() in RECORD_SUFFIXES


def _record_files(path: Path) -> Iterator[tuple[Path, str | None]]:
    """The record files under ``path``, each with None, or a path with what is wrong with it."""
    if path.is_dir():
        problems: list[OSError] = []
        files: list[Path] = []
        for folder, folders, names in os.walk(path, onerror=problems.append):
            folders[:] = sorted(name for name in folders if not _is_hidden(name))
            files.extend(Path(folder, name) for name in names
                         if not _is_hidden(name) and _is_record_file(Path(name)))
        for problem in problems:
            yield Path(problem.filename or path), f"cannot read folder: {problem.strerror}"
        for file in sorted(files, key=lambda f: f.relative_to(path).parts):
            yield file, None
    elif not path.exists():
        yield path, "no such file or folder"
    elif not path.is_file():
        yield path, "not a regular file"
    elif not _is_record_file(path):
        yield path, (f"not a record file: expected {', '.join(RECORD_SUFFIXES)}")
    else:
        yield path, None


def _read_file(path: Path) -> Iterator[SourceRecord]:
    suffix = path.suffix.lower()
    try:
        if suffix in NDJSON_SUFFIXES:
            yield from _read_ndjson(path)
        elif suffix in CSV_SUFFIXES:
            yield from _read_csv(path)
        else:
            yield from _read_json(path)
    except OSError as error:
        yield SourceRecord(str(path), None, f"cannot read file: {error.strerror or error}")


def _count_file(path: Path) -> int:
    suffix = path.suffix.lower()
    if suffix in NDJSON_SUFFIXES:
        with path.open("rb") as file:
            return sum(1 for line in file if line.strip())
    newlines = keys = 0
    last = b""
    tail = b""
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            newlines += chunk.count(b"\n")
            # Keys split across two chunks are found in the joined edge.
            keys += (tail + chunk).count(b'"updated_at"') - tail.count(b'"updated_at"')
            tail = chunk[-16:]
            last = chunk[-1:]
    if suffix in CSV_SUFFIXES:
        lines = newlines + (1 if last not in (b"", b"\n") else 0)
        return max(lines - 1, 0)
    return max(keys, 1)


# -- JSON ------------------------------------------------------------------------------------------

class _JsonProblem(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _JsonProblem(f"{name} is not allowed in JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


class _JsonStream:
    """JSON values one at a time from a text file, through a buffer of a chunk or so."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # line and column of buffer[0], for messages
        self._column = 1

    def _more(self) -> bool:
        """Drop what was consumed and read on; a long value doubles the read size."""
        if self.eof:
            return False
        chunk = self._file.read(max(CHUNK_CHARS, len(self.buffer) - self.pos))
        if not chunk:
            self.eof = True
            return False
        done = self.buffer[:self.pos]
        newlines = done.count("\n")
        if newlines:
            self._line += newlines
            self._column = len(done) - done.rfind("\n")
        else:
            self._column += len(done)
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0
        return True

    def where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        head = self.buffer[:pos]
        newlines = head.count("\n")
        if newlines:
            column = pos - head.rfind("\n")
            return f"line {self._line + newlines}, column {column}"
        return f"line {self._line}, column {self._column + pos}"

    def peek(self) -> str | None:
        """The next character that is not whitespace (not consumed), or None at the end."""
        while True:
            self.pos = _JSON_SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return None

    def value(self) -> Any:
        """The next JSON value; ``_JsonProblem`` when there is none."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                # Truncated by the chunk (error at the buffer's end, or a string running to it),
                # or really invalid.
                truncated = (error.pos >= len(self.buffer) - 16
                             or error.msg.startswith("Unterminated string"))
                if truncated and self._more():
                    continue
                raise _JsonProblem(f"invalid JSON at {self.where(error.pos)}: {error.msg}"
                                   ) from None
            if end == len(self.buffer) and self._more():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return value


def _read_json(path: Path) -> Iterator[SourceRecord]:
    index: int | None = None
    with path.open(encoding="utf-8-sig", newline="") as file:
        stream = _JsonStream(file)
        try:
            first = stream.peek()
            if first is None:
                yield SourceRecord(str(path), None, "the file is empty: expected a record or an "
                                                    "array of records")
                return
            if first != "[":
                value = stream.value()
                if stream.peek() is not None:
                    raise _JsonProblem(f"invalid JSON at {stream.where()}: more after the record "
                                       f"(several records go in an array, or in NDJSON)")
                yield SourceRecord(str(path), value)
                return
            stream.pos += 1
            index = 0
            if stream.peek() == "]":
                stream.pos += 1
            else:
                while True:
                    value = stream.value()
                    yield SourceRecord(f"{path}[{index}]", value)
                    index += 1
                    after = stream.peek()
                    stream.pos += 1
                    if after == "]":
                        break
                    if after is None:
                        raise _JsonProblem("the file ends inside the array (no closing ']')")
                    if after != ",":
                        raise _JsonProblem(f"invalid JSON at {stream.where(stream.pos - 1)}: "
                                           f"expected ',' or ']' after item {index - 1}")
            if stream.peek() is not None:
                raise _JsonProblem(f"invalid JSON at {stream.where()}: more after the array")
        except _JsonProblem as problem:
            where = str(path) if index is None else f"{path}[{index}]"
            yield SourceRecord(where, None, _file_stops(str(problem), index))
        except UnicodeDecodeError:
            where = str(path) if index is None else f"{path}[{index}]"
            yield SourceRecord(where, None, _file_stops("the file is not UTF-8 text", index))


def _file_stops(message: str, index: int | None) -> str:
    if index is None:
        return message
    return f"{message}; the rest of the file was not read"


# -- NDJSON ----------------------------------------------------------------------------------------

def _read_ndjson(path: Path) -> Iterator[SourceRecord]:
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if not raw.strip():
                continue
            source = f"{path}:{number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield SourceRecord(source, None,
                                   f"not UTF-8 text (byte {error.start + 1} of the line)")
                continue
            try:
                yield SourceRecord(source, _DECODER.decode(text))
            except json.JSONDecodeError as error:
                yield SourceRecord(source, text.strip(),
                                   f"invalid JSON at column {error.colno}: {error.msg}")
            except _JsonProblem as problem:
                yield SourceRecord(source, text.strip(), str(problem))


# -- CSV: the column convention --------------------------------------------------------------------

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


def split_list(text: str) -> list[str]:
    """The items of a semicolon-separated cell (``\\;`` is a literal semicolon)."""
    items = (item.replace("\\;", ";").strip() for item in _LIST_SEPARATOR.split(text))
    return [item for item in items if item]


def join_list(items: Iterable[Any]) -> str:
    return ";".join(_cell_text(item).replace(";", "\\;") for item in items)


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


# -- CSV: writing ----------------------------------------------------------------------------------

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


"""Finding the record files under the paths given, and reading each by its suffix."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from gateway.adapters.local_files.csv_files import _read_csv
from gateway.adapters.local_files.json_files import _read_json
from gateway.adapters.local_files.ndjson_files import _read_ndjson
from gateway.local.sources import SourceRecord

JSON_SUFFIXES = (".json",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
CSV_SUFFIXES = (".csv",)
RECORD_SUFFIXES = JSON_SUFFIXES + NDJSON_SUFFIXES + CSV_SUFFIXES


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

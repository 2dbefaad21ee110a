"""``.ndjson`` / ``.jsonl`` files: one record per line."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from gateway.adapters.local_files.json_files import _DECODER, _JsonProblem
from gateway.local.sources import SourceRecord

_BOM = b"\xef\xbb\xbf"


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

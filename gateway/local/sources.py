"""A local record as read from a source (a file, a request, a database row), before any check.

The readers (the local files and local database adapters, ``POST /local/records``, court
orders) produce these; the import pipeline (``pipeline.py``) consumes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceRecord:
    """One record as read, before any check of its content."""

    source: str  # "path/to/file.ndjson:17", "file.csv:5", "plans.json[3]": for reject reports
    record: Any  # the parsed record (a dict), or whatever was there when it could not be parsed
    error: str | None = None  # a parse problem: the pipeline rejects the record with this reason

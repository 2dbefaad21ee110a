"""The rejects file: one NDJSON line per rejected record, with its reasons and field paths."""
from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import IO

from gateway.local.pipeline import Outcome


class RejectsFile:
    """Created on the first reject only, so a clean import leaves no empty file behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None

    def write(self, outcome: Outcome) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        line = {"source": outcome.source, "type": outcome.record_type, "id": outcome.local_id,
                "reasons": [reason.as_dict() for reason in outcome.reasons],
                "record": outcome.record}
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()
        self.count += 1

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._file is not None:
            self._file.close()

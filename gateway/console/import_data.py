"""What the Imports page shows: recent imports (accepted local records, grouped into runs by
when they were accepted) and the rejected records with their reasons, from the rejects
files ``gateway import`` and ``gateway poll`` write (``<var>/rejects/*.ndjson``, one line
per rejected record: gateway/local/rejects.py)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

GAP = timedelta(minutes=5)  # records accepted further apart than this are another import
MAX_LINES = 10_000


@dataclass
class ImportRun:
    started: datetime
    finished: datetime
    by_type: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_type.values())


def import_runs(accepted: list[tuple[str, datetime]], limit: int = 20) -> list[ImportRun]:
    """``accepted`` (record type, when; newest first) grouped into runs, newest first."""
    runs: list[ImportRun] = []
    for record_type, moment in accepted:
        if moment.tzinfo is None:  # SQLite gives back naive datetimes; the gateway stores UTC
            moment = moment.replace(tzinfo=UTC)
        if runs and runs[-1].started - moment <= GAP:
            runs[-1].started = moment
        else:
            if len(runs) == limit:
                break
            runs.append(ImportRun(moment, moment))
        runs[-1].by_type[record_type] += 1
    return runs


@dataclass(frozen=True)
class RejectsFile:
    name: str
    written: datetime
    count: int


@dataclass(frozen=True)
class Rejected:
    source: str
    record_type: str
    local_id: str
    reasons: list[dict[str, Any]]


def rejects_files(folder: Path) -> list[RejectsFile]:
    """The rejects files in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    files = []
    for path in folder.glob("*.ndjson"):
        try:
            with path.open("rb") as handle:
                count = sum(1 for line in handle if line.strip())
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            continue
        files.append(RejectsFile(path.name, written, count))
    return sorted(files, key=lambda f: f.written, reverse=True)


def rejected_records(folder: Path, name: str) -> list[Rejected] | None:
    """The rejected records of one rejects file; None when there is no such file (a name
    with a path in it is no such file)."""
    if "/" in name or "\\" in name or not name.endswith(".ndjson") or name.startswith("."):
        return None
    path = folder / name
    if not path.is_file():
        return None
    records = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if number > MAX_LINES or not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                records.append(Rejected(f"{name}:{number}", "", "", [
                    {"message": "this line of the rejects file is not JSON"}]))
                continue
            reasons = item.get("reasons") if isinstance(item.get("reasons"), list) else []
            records.append(Rejected(str(item.get("source", "")), str(item.get("type") or ""),
                                    str(item.get("id") or ""),
                                    [r if isinstance(r, dict) else {"message": str(r)}
                                     for r in reasons]))
    return records

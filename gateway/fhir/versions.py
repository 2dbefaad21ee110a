"""What one stored version of a resource is (``StoredResource``), what a write returns, and the
small rules every writer shares: the instant it is stored at, its ``meta``, its JSON spelling,
and when two contents are the same version."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.fhir import json_text
from gateway.fhir.errors import FhirError

ETAG_PATTERN = re.compile(r'^(?:W/)?"?([0-9]+)"?$')


def utc_now() -> datetime:
    # Millisecond precision: what meta.lastUpdated shows is exactly what is stored and searched.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_instant(moment: datetime) -> str:
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_json(resource: dict[str, Any]) -> str:
    return json_text.dumps(resource)


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource as stored; ``content`` is the JSON text served verbatim."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None
    method: str = "PUT"

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version_id}"

    def json(self) -> dict[str, Any]:
        if self.content is None:
            raise ValueError(f"{self.resource_type}/{self.id} version {self.version_id} is deleted")
        return json_text.loads_stored(self.content)

    @classmethod
    def from_row(cls, row: Any) -> StoredResource:
        """From an ORM row or a Core row of the resource or resource_version table."""
        return cls(row.resource_type, row.id, row.version_id, as_utc(row.last_updated),
                   row.content is None, row.content, getattr(row, "method", "PUT"))


@dataclass(frozen=True)
class WriteResult:
    stored: StoredResource
    created: bool
    changed: bool = True


def parse_etag(value: str) -> int:
    match = ETAG_PATTERN.match(value.strip())
    if not match:
        raise FhirError(400, "invalid", f"If-Match must be an ETag like W/\"3\", got {value!r}")
    return int(match.group(1))


def with_meta(resource: dict[str, Any], resource_type: str, resource_id: str, version: int,
               moment: datetime) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(moment)
    body = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
    return {"resourceType": resource_type, "id": resource_id, "meta": meta, **body}


def comparable(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")}
    body = {k: v for k, v in resource.items() if k != "meta"}
    return body | ({"meta": meta} if meta else {})


def same_content(stored_json: str, resource: dict[str, Any]) -> bool:
    # Compared as text: 1.50 is not the same decimal as 1.5 (R4 decimal keeps its precision),
    # though Python's Decimal says they are equal.
    stored = comparable(json_text.loads_stored(stored_json))
    return stored == comparable(resource) and (
        json_text.dumps(stored, sort_keys=True)
        == json_text.dumps(comparable(resource), sort_keys=True))

"""What a reader is served of an AuditEvent besides the event itself: its version copy
(``resource_version``: vread and history) and its search index rows (``AuditEvent?patient=``
and the other searches). The chain's hash covers the event as recorded; these checks hold each
copy to it: the version must be that event, byte for byte in value, and the index rows exactly
those the gateway's own indexer derives from it (search/index.py), none missing, none added.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from gateway.db.models import INDEX_TABLES, ResourceRow, ResourceVersionRow
from gateway.fhir.search.index import index_rows
from gateway.fhir.search.registry import SearchParameterRegistry
from gateway.fhir.versions import as_utc, format_instant

_version = ResourceVersionRow.__table__
# The columns that say what an index row finds (not its row id or owner).
_SKIPPED = {"row_id", "resource_pk"}


@dataclass(frozen=True)
class StoredCopies:
    """A batch of AuditEvents' version rows and index rows, by resource pk."""

    versions: Mapping[int, list[Any]]
    index: Mapping[int, Counter[tuple[Any, ...]]]


def load_copies(connection: Connection, resource_pks: Sequence[int]) -> StoredCopies:
    versions: dict[int, list[Any]] = {}
    index: dict[int, Counter[tuple[Any, ...]]] = {}
    if not resource_pks:
        return StoredCopies(versions, index)
    for row in connection.execute(
            select(_version.c.resource_pk, _version.c.version_id, _version.c.resource_type,
                   _version.c.id, _version.c.content)
            .where(_version.c.resource_pk.in_(resource_pks))):
        versions.setdefault(row.resource_pk, []).append(row)
    for model in INDEX_TABLES:
        table = model.__table__
        for row in connection.execute(select(table).where(table.c.resource_pk.in_(resource_pks))):
            mapping = row._mapping
            index.setdefault(mapping["resource_pk"], Counter())[
                _index_key(table.name, mapping)] += 1
    return StoredCopies(versions, index)


def expected_index(resource_pk: int, event: dict[str, Any],
                   registry: SearchParameterRegistry, base_url: str | None
                   ) -> Counter[tuple[Any, ...]]:
    """The index rows the gateway writes for ``event`` (as the repository would)."""
    row = ResourceRow(pk=resource_pk, resource_type="AuditEvent")
    expected: Counter[tuple[Any, ...]] = Counter()
    for model, rows in index_rows(row, event, registry, base_url):
        for values in rows:
            expected[_index_key(model.__tablename__, values)] += 1
    return expected


def version_problems(link: Any, event: dict[str, Any], versions: Sequence[Any],
                     same_event: Callable[[str | None], bool]) -> list[tuple[str, str]]:
    """What is wrong with the AuditEvent's stored row and version copies, given the event as
    recorded (``same_event(content)`` tells whether a stored text is that event): (kind,
    message) pairs."""
    meta = event.get("meta") or {}
    recorded_version = str(meta.get("versionId", "1"))
    problems: list[tuple[str, str]] = []
    if str(link.version_id) != recorded_version or (
            link.last_updated is not None
            and format_instant(as_utc(link.last_updated)) != meta.get("lastUpdated")):
        problems.append(("event-row", "its stored version number or last-updated time differs "
                         "from the event as recorded (_lastUpdated searches and history go by "
                         "them)"))
    copies = [v for v in versions if str(v.version_id) == recorded_version]
    others = [v for v in versions if str(v.version_id) != recorded_version]
    if not copies:
        problems.append(("version-copy",
                         "its version copy is missing (vread and history do not find it)"))
    elif any(v.resource_type != "AuditEvent" or v.id != link.audit_event_id
             or not same_event(v.content) for v in copies):
        problems.append(("version-copy", "its version copy differs from the event as "
                         "recorded (vread and history serve the changed text)"))
    if others:
        numbers = ", ".join(sorted(str(v.version_id) for v in others))
        problems.append(("version-copy", f"{len(others)} version(s) besides the one recorded "
                         f"(history serves versions {numbers})"))
    return problems


def index_problems(expected: Counter[tuple[Any, ...]], stored: Counter[tuple[Any, ...]]
                   ) -> list[str]:
    problems = []
    missing = expected - stored
    extra = stored - expected
    if missing:
        problems.append(f"{sum(missing.values())} search index row(s) missing "
                        f"({_params(missing)}): searches by them do not find it")
    if extra:
        problems.append(f"{sum(extra.values())} search index row(s) not derived from the event "
                        f"({_params(extra)}): searches by them find it wrongly")
    return problems


def _params(rows: Iterable[tuple[Any, ...]]) -> str:
    return ", ".join(sorted({f"{row[2]}" for row in rows}))


def _index_key(table: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    # (table, resource_type, param, the rest in column order), times compared in UTC (SQLite
    # hands them back naive).
    rest = tuple(_comparable(values[name]) for name in sorted(values)
                 if name not in _SKIPPED and name not in ("resource_type", "param"))
    return (table, values.get("resource_type"), values.get("param"), *rest)


def _comparable(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value

"""Referential integrity: a local reference (``Type/id``, or an absolute URL on our own base)
must name a resource this server holds and has not deleted (R4 references.html: a relative
reference is a reference to a resource on the same server).

The repository notes the local references of what it writes and checks them all with one
query before the transaction commits, so a transaction may refer to what a later entry of the
same transaction creates. A miss is a 422 OperationOutcome naming the element.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gateway.db.models import JournalRow, ResourceRow
from gateway.fhir.errors import FhirError, issue
from gateway.fhir.resource_types import APPEND_ONLY_TYPES
from gateway.fhir.search.references import parse_reference


@dataclass(frozen=True)
class LocalReference:
    source: str  # "Type/id" of the resource that refers
    path: str  # the element, as FHIRPath: CareTeam.participant[0].member
    target_type: str
    target_id: str

    @property
    def target(self) -> str:
        return f"{self.target_type}/{self.target_id}"


def local_references(resource: dict[str, Any], base_url: str) -> list[LocalReference]:
    """Every local reference in ``resource`` (contained resources and extensions included)."""
    resource_type = str(resource.get("resourceType"))
    source = f"{resource_type}/{resource.get('id')}"
    return [LocalReference(source, path, target.type, target.id)
            for path, text in _references(resource, resource_type)
            if (target := parse_reference(text, base_url)) is not None
            and target.url is None and target.type and target.id]


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            elif isinstance(value, dict | list):
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _references(item, f"{path}[{index}]")


def missing(session: Session, references: list[LocalReference]) -> list[LocalReference]:
    """The references whose target does not exist (or is deleted), in one query."""
    wanted = {(r.target_type, r.target_id) for r in references}
    if not wanted:
        return []
    resources = ResourceRow.__table__
    found = set()
    pairs = sorted(wanted)
    for start in range(0, len(pairs), 500):
        chunk = pairs[start:start + 500]
        found |= {(row.resource_type, row.id) for row in session.connection().execute(
            select(resources.c.resource_type, resources.c.id).where(
                resources.c.deleted.is_(False),
                or_(*(and_(resources.c.resource_type == t, resources.c.id == i)
                      for t, i in chunk))))}
    # Entries of the append-only journal (AuditEvent) exist as long as they are there.
    journal = JournalRow.__table__
    for kind in sorted({t for t, _ in wanted if t in APPEND_ONLY_TYPES}):
        ids = sorted(i for t, i in wanted if t == kind)
        for start in range(0, len(ids), 500):
            found |= {(kind, entry_id) for entry_id in session.connection().execute(
                select(journal.c.id).where(journal.c.resource_type == kind,
                                           journal.c.id.in_(ids[start:start + 500]))
            ).scalars()}
    return [r for r in references if (r.target_type, r.target_id) not in found]


class DanglingReferences(FhirError):
    """422: local references to nothing; ``references`` says which resource holds each."""

    def __init__(self, references: list[LocalReference]) -> None:
        super().__init__(422, "processing", "", issues=[
            issue("error", "not-found", f"{r.target} does not exist on this server (a local "
                                        f"reference must name a stored resource)", r.path)
            for r in references])
        self.references = references

"""FHIR searches as the console's pages need them: one page of resources, and every match.

The console searches through the operator's repository exactly as the REST API does
(``search.parse_search`` and ``Repository.search``), so the search index, the consent decision
point and the page's AuditEvent apply; a search the parser refuses raises FhirError(400)
with a sentence a page can show next to the field.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.fhir import search
from gateway.fhir.repository import Repository

MAX_COUNT = 1000


@dataclass(frozen=True)
class Page:
    resources: list[dict[str, Any]]
    total: int | None
    has_next: bool


def search_page(repository: Repository, resource_type: str,
                params: Sequence[tuple[str, str]], *, count: int, offset: int = 0,
                total: bool = True) -> Page:
    """One page (``count`` from ``offset``) of ``resource_type`` matching ``params``."""
    request = search.parse_search(
        resource_type, [*params, ("_count", str(count)), ("_offset", str(offset))],
        repository.registry, lenient=False, default_count=count, max_count=MAX_COUNT,
        base_url=repository.base_url)
    request.total_mode = "accurate" if total else "none"
    found = repository.search(request)
    return Page([row.json() for row in found.rows], found.total, found.has_next)


def search_all(repository: Repository, resource_type: str,
               params: Sequence[tuple[str, str]], *, limit: int = 10_000
               ) -> Iterator[dict[str, Any]]:
    """Every match (at most ``limit``), page by page."""
    offset = 0
    while offset < limit:
        page = search_page(repository, resource_type, params, count=MAX_COUNT, offset=offset,
                           total=False)
        yield from page.resources
        if not page.has_next or not page.resources:
            return
        offset += len(page.resources)

"""Search test fixtures: the registry, and storing resources straight into the tables.

Resources are inserted as ResourceRow + reindex (no validation, no versions), so these tests
exercise search alone. DB tests take ``store``/``search`` and therefore run on SQLite and,
when GATEWAY_TEST_DATABASE_URL is set, on PostgreSQL too (via the shared session_factory).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.db.models import ResourceRow
from gateway.fhir.search import (
    SearchParameterRegistry,
    SearchResult,
    execute_search,
    parse_search,
    reindex,
)

from .helpers import BASE_URL, query

DEFAULT_TIME = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def registry() -> SearchParameterRegistry:
    return SearchParameterRegistry.load()


@pytest.fixture
def store(session_factory: Any, registry: SearchParameterRegistry
          ) -> Callable[..., list[ResourceRow]]:
    """store(resource, ..., last_updated=..., deleted=False): insert and index, committed."""

    def _store(*resources: dict[str, Any], last_updated: datetime = DEFAULT_TIME,
               deleted: bool = False) -> list[ResourceRow]:
        rows = []
        with session_factory() as session:
            for resource in resources:
                row = ResourceRow(resource_type=resource["resourceType"], id=resource["id"],
                                  version_id=1, last_updated=last_updated, deleted=deleted,
                                  content=None if deleted else json.dumps(resource))
                session.add(row)
                session.flush()
                reindex(session, row, resource, registry, base_url=BASE_URL)
                rows.append(row)
            session.commit()
        return rows

    return _store


@pytest.fixture
def search(session_factory: Any, registry: SearchParameterRegistry
           ) -> Callable[..., SearchResult]:
    """search("Patient", "name=x&_count=2", access_filter=None) -> SearchResult."""

    def _search(resource_type: str, text: str = "", *, access_filter: Any = None,
                lenient: bool = False) -> SearchResult:
        request = parse_search(resource_type, query(text), registry, lenient=lenient,
                               default_count=10, max_count=100, base_url=BASE_URL)
        with session_factory() as session:
            return execute_search(session, request, registry, access_filter=access_filter)

    return _search


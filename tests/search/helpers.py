"""Small helpers shared by the search tests."""
from __future__ import annotations

from urllib.parse import parse_qsl

from gateway.fhir.search import SearchResult

BASE_URL = "http://testserver/fhir"


def query(text: str) -> list[tuple[str, str]]:
    """Query-string pairs, as the REST layer hands them over."""
    return parse_qsl(text, keep_blank_values=True)


def ids(result: SearchResult) -> list[str]:
    """The page's ids in order."""
    return [row.id for row in result.rows]


def included_ids(result: SearchResult) -> set[str]:
    return {f"{row.resource_type}/{row.id}" for row in result.included}

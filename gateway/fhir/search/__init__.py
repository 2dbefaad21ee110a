"""FHIR search: the supported parameters, indexing on write, parsing and running searches."""
from gateway.fhir.search.extract import Extracted, extract, normalize
from gateway.fhir.search.index import IndexWriter, clear_index, reindex
from gateway.fhir.search.parse import (
    Criterion,
    Include,
    SearchRequest,
    SortKey,
    parse_search,
)
from gateway.fhir.search.query import AccessFilter, SearchResult, execute_search
from gateway.fhir.search.registry import SearchParam, SearchParameterRegistry, UnsupportedParam

__all__ = [
    "AccessFilter",
    "Criterion",
    "Extracted",
    "Include",
    "IndexWriter",
    "SearchParam",
    "SearchParameterRegistry",
    "SearchRequest",
    "SearchResult",
    "SortKey",
    "UnsupportedParam",
    "clear_index",
    "execute_search",
    "extract",
    "normalize",
    "parse_search",
    "reindex",
]

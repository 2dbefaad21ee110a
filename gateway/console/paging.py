"""Page numbers from a query string, and the slice of a list a page shows."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
PAGE_SIZE = 25


def page_number(raw: str | None) -> int:
    """A page number from the query string: 1 for anything that is not a positive number."""
    try:
        return max(1, min(int(raw or "1"), 10_000))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Paged(Generic[Item]):
    items: Sequence[Item]
    page: int
    pages: int
    total: int


def paged(items: Sequence[Item], raw_page: str | None, size: int = PAGE_SIZE) -> Paged[Item]:
    pages = max(1, -(-len(items) // size))
    page = min(page_number(raw_page), pages)
    return Paged(items[(page - 1) * size: page * size], page, pages, len(items))

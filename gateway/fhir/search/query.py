"""Running a SearchRequest against the index tables (never against the stored JSON).

Every criterion becomes ``resource.pk IN (SELECT resource_pk FROM <index> WHERE resource_type =
... AND param = ... AND <value>)``: an uncorrelated semi-join both SQLite and PostgreSQL drive
from the index's (resource_type, param, value) b-tree. ``_Builder.candidates`` is the one place
that defines which rows a search may return; an access filter is ANDed in there.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true, tuple_
from sqlalchemy.orm import Session, aliased

from gateway.db.models import (
    JOURNAL_INDEX,
    DateIndex,
    JournalRow,
    ReferenceIndex,
    ResourceRow,
    StringIndex,
    TokenIndex,
    UriIndex,
)
from gateway.fhir.resource_types import APPEND_ONLY_TYPES
from gateway.fhir.search.parse import (
    Criterion,
    DateValue,
    Include,
    ReferenceValue,
    SearchRequest,
    StringValue,
    TokenValue,
    UriValue,
)
from gateway.fhir.search.registry import SearchParameterRegistry

# Given the resource entity (ResourceRow or an alias of it) and the resource types its rows can
# have (None: any; the query must hold the rows to them), a condition rows must meet.
AccessFilter = Callable[[Any, Collection[str] | None], ColumnElement[bool]]

_TABLES: dict[str, Any] = {"token": TokenIndex, "string": StringIndex,
                           "reference": ReferenceIndex, "date": DateIndex, "uri": UriIndex}


@dataclass(frozen=True)
class Store:
    """Where rows of a resource type live: the entity (its table) and one index table per
    search parameter type. ``versioned``: rows can be deleted (a flag to filter on)."""

    entity: Any
    tables: dict[str, Any]
    versioned: bool

    def live(self, entity: Any) -> ColumnElement[bool]:
        return entity.deleted.is_(False) if self.versioned else true()


# Resources with versions, and the append-only journal (AuditEvent: gateway/fhir/journal.py).
RESOURCES = Store(ResourceRow, _TABLES, versioned=True)
JOURNAL = Store(JournalRow, {kind: JOURNAL_INDEX[table] for kind, table in _TABLES.items()
                             if table in JOURNAL_INDEX}, versioned=False)


@cache
def _alias(model: Any, depth: int) -> Any:
    """The alias of ``model`` for subqueries at chain ``depth``, made once per process (an
    ORM alias costs more to build than the rest of a search's statement). Subqueries at one
    depth are siblings in separate scopes, so they may share it; a chained criterion's
    subqueries sit inside its reference subquery and take the next depth's, so no inner
    subquery is ever correlated to an outer one of the same table."""
    return aliased(model, name=f"{model.__tablename__}_{depth}")


def store_for(resource_type: str | None) -> Store:
    return JOURNAL if resource_type in APPEND_ONLY_TYPES else RESOURCES
_SORT_COLUMNS = {"date": "low", "string": "normalized", "token": "code", "uri": "value"}
# _include:iterate follows at most this many further hops.
MAX_ITERATIONS = 4


@dataclass
class SearchResult:
    """One page of matches (ordered), the total if counted, and included resources."""

    rows: list[ResourceRow]
    total: int | None
    included: list[ResourceRow] = field(default_factory=list)
    has_next: bool = False
    include_truncated: bool = False  # more than request.include_limit included resources


def execute_search(session: Session, request: SearchRequest,
                   registry: SearchParameterRegistry, *,
                   access_filter: AccessFilter | None, store: Store | None = None
                   ) -> SearchResult:
    """Run ``request``; ``access_filter`` restricts matches, chained targets and includes.
    It has no default: every caller says whose view it runs (``None`` is everything, which
    only the repository of an operator or of the gateway itself asks for). ``store``: where
    the type's rows are (default: its own; the journal migration's test searches the general
    tables as they were before it)."""
    builder = _Builder(session.get_bind().dialect.name, access_filter)
    store = store or store_for(request.resource_type)
    entity = store.entity
    conditions = builder.candidates(entity, request.resource_type, request.criteria, store)
    if request.summary_count or request.count == 0:
        total = None if request.total_mode == "none" and not request.summary_count else (
            _count(session, entity, conditions))
        return SearchResult([], total)

    statement = (select(entity).where(*conditions)
                 .order_by(*builder.order_by(entity, request, store))
                 .offset(request.offset).limit(request.count + 1))
    rows = list(session.scalars(statement))
    has_next = len(rows) > request.count
    rows = rows[:request.count]

    total: int | None = None
    if request.total_mode != "none":
        # A short page tells the total for free (unless the offset ran past the end).
        known = not has_next and (rows or request.offset == 0)
        total = request.offset + len(rows) if known else _count(session, entity, conditions)

    included, truncated = builder.included(session, request, rows)
    return SearchResult(rows, total, included, has_next, truncated)


def _count(session: Session, entity: Any, conditions: list[ColumnElement[bool]]) -> int:
    statement = select(func.count()).select_from(entity).where(*conditions)
    return int(session.scalar(statement) or 0)


class _Builder:
    def __init__(self, dialect: str, access_filter: AccessFilter | None) -> None:
        self.dialect = dialect
        self.access_filter = access_filter

    # --- which rows --------------------------------------------------------------------

    def candidates(self, entity: Any, resource_type: str, criteria: Iterable[Criterion],
                   store: Store | None = None, depth: int = 0) -> list[ColumnElement[bool]]:
        """The conditions a row of ``entity`` (of ``resource_type``'s store) must meet: the
        single definition of a match."""
        criteria = list(criteria)
        store = store or store_for(resource_type)
        # A positive index criterion already implies the type (its rows are filtered by it), and
        # SQLite, which keeps no statistics, would otherwise drive the plan from the type index
        # and scan every row of the type. Without one, the type condition is what selects.
        narrowed = any(c.param.column is None and c.missing is None and c.modifier != "not"
                       for c in criteria)
        conditions: list[ColumnElement[bool]] = [store.live(entity)]
        if not narrowed:
            conditions.insert(0, entity.resource_type == resource_type)
        if self.access_filter is not None:
            conditions.append(self.access_filter(entity, (resource_type,)))
        conditions.extend(self.criterion(entity, criterion, store, depth)
                          for criterion in criteria)
        return conditions

    def criterion(self, entity: Any, criterion: Criterion, store: Store = RESOURCES,
                  depth: int = 0) -> ColumnElement[bool]:
        param = criterion.param
        if param.column == "id":
            ids = [value.code for value in criterion.values if isinstance(value, TokenValue)]
            return entity.id.not_in(ids) if criterion.modifier == "not" else entity.id.in_(ids)
        if param.column == "last_updated":
            column = entity.last_updated
            return or_(*(_date(value, column, column) for value in criterion.values
                         if isinstance(value, DateValue)))
        table = _alias(store.tables[param.type], depth)
        rows = select(table.resource_pk).where(table.resource_type == param.resource_type,
                                               table.param == param.code)
        if criterion.missing is not None:
            return entity.pk.not_in(rows) if criterion.missing else entity.pk.in_(rows)
        if criterion.chain:
            return entity.pk.in_(rows.where(or_(*(self._chained(table, c, depth)
                                                  for c in criterion.chain))))
        matches = rows.where(or_(*(self._value(table, criterion, v) for v in criterion.values)))
        return entity.pk.not_in(matches) if criterion.modifier == "not" else (
            entity.pk.in_(matches))

    def _chained(self, references: Any, criterion: Criterion, depth: int
                 ) -> ColumnElement[bool]:
        target_type = criterion.param.resource_type
        target = _alias(store_for(target_type).entity, depth + 1)
        ids = select(target.id).where(*self.candidates(target, target_type, [criterion],
                                                       depth=depth + 1))
        return and_(references.target_type == target_type, references.target_id.in_(ids))

    def _value(self, table: Any, criterion: Criterion, value: Any) -> ColumnElement[bool]:
        if isinstance(value, TokenValue):
            return _token(table, value)
        if isinstance(value, StringValue):
            return self._string(table, criterion.modifier, value)
        if isinstance(value, DateValue):
            return _date(value, table.low, table.high)
        if isinstance(value, ReferenceValue):
            return _reference(table, value, criterion.target_types or criterion.param.targets)
        if isinstance(value, UriValue):
            return _uri(table, criterion.modifier, value.value)
        raise TypeError(f"unexpected search value {value!r}")

    def _string(self, table: Any, modifier: str | None, value: StringValue
                ) -> ColumnElement[bool]:
        if modifier == "exact":
            # The normalized equality lets the (resource_type, param, normalized) index find it.
            return and_(table.normalized == value.normalized, table.exact == value.text)
        if modifier == "contains":
            return table.normalized.like(f"%{_like_escape(value.normalized)}%", escape="\\")
        return self._starts_with(table.normalized, value.normalized)

    def _starts_with(self, column: Any, prefix: str) -> ColumnElement[bool]:
        """``column`` starts with ``prefix``, as a range the b-tree index can scan.

        Both sides are code-point (byte) order comparisons: SQLite's BINARY collation, and
        PostgreSQL's ``~>=~``/``~<~`` operators, which its text_pattern_ops index serves
        whatever the database collation.
        """
        upper = _successor(prefix)
        if self.dialect == "postgresql":
            low = column.op("~>=~", is_comparison=True)(prefix)
            return and_(low, column.op("~<~", is_comparison=True)(upper)) if upper else low
        return and_(column >= prefix, column < upper) if upper else column >= prefix

    # --- order ---------------------------------------------------------------------------

    def order_by(self, entity: Any, request: SearchRequest, store: Store) -> list[Any]:
        """``_sort`` keys (missing values last either way), then pk for a stable order."""
        terms: list[Any] = []
        for key in request.sort:
            param = key.param
            if param.column is not None:
                expression = getattr(entity, param.column)
            else:
                table = _alias(store.tables[param.type], 0)
                # A date parameter sorts by the earliest instant it covers.
                expression = (select(func.min(getattr(table, _SORT_COLUMNS[param.type])))
                              .where(table.resource_pk == entity.pk,
                                     table.resource_type == param.resource_type,
                                     table.param == param.code)
                              .scalar_subquery())
            ordered = expression.desc() if key.descending else expression.asc()
            terms.append(ordered.nulls_last())
        terms.append(entity.pk.asc())
        return terms

    # --- _include / _revinclude --------------------------------------------------------

    def included(self, session: Session, request: SearchRequest, page: list[ResourceRow]
                 ) -> tuple[list[ResourceRow], bool]:
        """Resources the page's includes reach, without duplicates or page rows."""
        everything = [*request.includes, *request.revincludes]
        if not page or not everything:
            return [], False
        seen = {(row.resource_type, row.pk) for row in page}
        found: list[ResourceRow] = []
        frontier = page
        for depth in range(MAX_ITERATIONS + 1):
            wanted = everything if depth == 0 else [i for i in everything if i.iterate]
            if not wanted or not frontier:
                break
            fresh: list[ResourceRow] = []
            for include in wanted:
                budget = request.include_limit - len(found) - len(fresh) + 1
                for row in session.scalars(self._include(include, frontier, budget)):
                    if (row.resource_type, row.pk) not in seen:
                        seen.add((row.resource_type, row.pk))
                        fresh.append(row)
                if len(found) + len(fresh) > request.include_limit:
                    return (found + fresh)[:request.include_limit], True
            found.extend(fresh)
            frontier = fresh
        return found, False

    def _include(self, include: Include, frontier: list[Any], limit: int) -> Select[Any]:
        # The reference rows are the source type's (its own store); the rows found are the
        # source type's (reverse) or the target type's.
        source = store_for(include.source_type)
        references = _alias(source.tables["reference"], 0)
        code = include.param.code
        if include.reverse:
            found = source
            conditions = [references.resource_type == include.source_type,
                          references.param == code,
                          _pointing_at(references, include, frontier)]
            entity = found.entity
            matches = entity.pk.in_(select(references.resource_pk).where(*conditions))
            kind = [entity.resource_type == include.source_type]
        else:
            found = store_for(include.target_type)
            entity = found.entity
            sources = [row.pk for row in frontier if row.resource_type == include.source_type]
            conditions = [references.resource_pk.in_(sources),
                          references.resource_type == include.source_type,
                          references.param == code, references.target_id.is_not(None)]
            if include.target_type:
                conditions.append(references.target_type == include.target_type)
            targets = select(references.target_type, references.target_id).where(*conditions)
            matches = tuple_(entity.resource_type, entity.id).in_(targets)
            kind = []
        statement = select(entity).where(*kind, matches, found.live(entity))
        if self.access_filter is not None:
            types = ((include.source_type,) if include.reverse else
                     (include.target_type,) if include.target_type else
                     include.param.targets or None)
            if types and not include.reverse and not include.target_type:
                # A stored reference may name a type outside the parameter's targets: the
                # filter is told the rows' types only where the query holds them to those.
                statement = statement.where(entity.resource_type.in_(types))
            statement = statement.where(self.access_filter(entity, types))
        return statement.order_by(entity.pk).limit(max(limit, 1))


def _pointing_at(references: Any, include: Include, frontier: list[ResourceRow]
                 ) -> ColumnElement[bool]:
    """The reference rows of a _revinclude that point at rows of ``frontier``."""
    by_type: dict[str, list[str]] = {}
    for row in frontier:
        allowed = (row.resource_type == include.target_type if include.target_type
                   else not include.param.targets or row.resource_type in include.param.targets)
        if allowed:
            by_type.setdefault(row.resource_type, []).append(row.id)
    if not by_type:
        return false()
    return or_(*(and_(references.target_type == resource_type, references.target_id.in_(ids))
                 for resource_type, ids in by_type.items()))


# --- value conditions ----------------------------------------------------------------------

def _token(table: Any, value: TokenValue) -> ColumnElement[bool]:
    conditions = []
    if value.code is not None:
        conditions.append(table.code == value.code)
    if value.match_system:
        conditions.append(table.system == value.system if value.system is not None
                          else table.system.is_(None))
    return and_(*conditions)


def _date(value: DateValue, low: Any, high: Any) -> ColumnElement[bool]:
    """FHIR's prefix semantics between the indexed range [low, high] and the value's range."""
    start, end = value.low, value.high
    # low <= high, so "within" also bounds low from above: a closed range the index can scan.
    within = and_(low >= start, low <= end, high <= end)
    conditions = {
        "eq": lambda: within,
        "ne": lambda: or_(low < start, high > end),
        "gt": lambda: high > end,
        "lt": lambda: low < start,
        "ge": lambda: or_(high > end, within),
        "le": lambda: or_(low < start, within),
        "sa": lambda: low > end,
        "eb": lambda: high < start,
        "ap": lambda: and_(low <= end, high >= start),  # the value's range is already widened
    }
    result: ColumnElement[bool] = conditions[value.prefix]()
    return result


def _reference(table: Any, value: ReferenceValue, target_types: tuple[str, ...]
               ) -> ColumnElement[bool]:
    if value.url is not None:
        return table.url == value.url
    conditions = [table.target_id == value.id]
    if value.type is not None:
        conditions.append(table.target_type == value.type)
    elif target_types:
        # Only allowed target types were indexed, so for a bare id this changes no result;
        # it lets the (resource_type, param, target_type, target_id) index find the rows.
        conditions.append(table.target_type.in_(target_types))
    return and_(*conditions)


def _uri(table: Any, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier == "below":
        return or_(table.value == value,
                   table.value.like(f"{_like_escape(value.rstrip('/'))}/%", escape="\\"))
    if modifier == "above":
        parts = value.rstrip("/").split("/")
        ancestors = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        return table.value.in_([a for a in ancestors if "://" in a or a == value])
    return table.value == value


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _successor(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (None: unbounded)."""
    for position in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[position]) + 1
        if code == 0xD800:  # skip the surrogate block, which UTF-8 cannot encode
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:position] + chr(code)
    return None

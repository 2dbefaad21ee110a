"""Parsing a search query string into a validated SearchRequest.

Every problem is reported at once: one OperationOutcome issue per bad parameter, its
expression naming the parameter. Unknown parameters are ignored (and reported as warnings) when
the client asked for lenient handling. An unsupported modifier or chain on a known parameter
never is: dropping that criterion would widen the result beyond what was asked for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.fhir.elements import ALWAYS_KEPT, SUMMARY_MODES
from gateway.fhir.errors import FhirError, issue
from gateway.fhir.search.dates import FAR_FUTURE, FAR_PAST, date_range
from gateway.fhir.search.extract import STRING_WIDTH, normalize
from gateway.fhir.search.references import ID_PATTERN, RELATIVE, parse_reference
from gateway.fhir.search.registry import SearchParam, SearchParameterRegistry

# NUL and the other C0 controls are never part of a search value (and PostgreSQL refuses NUL).
_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")
PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})
TOTAL_VALUES = frozenset({"none", "estimate", "accurate"})
# fhirpy's count() sends Aidbox's _totalMethod; accepted as an alias of _total.
_TOTAL_METHODS = {"count": "accurate", "estimate": "estimate", "none": "none"}
SORTABLE_TYPES = frozenset({"date", "string", "token", "uri"})
# Handled by the REST layer (response format), not by search.
_TRANSPORT_PARAMS = frozenset({"_format", "_pretty"})
_SINGLE_RESULT_PARAMS = frozenset({"_count", "_offset", "_sort", "_total", "_totalMethod",
                                   "_summary", "_elements"})
_RESULT_PARAMS = _SINGLE_RESULT_PARAMS | {"_include", "_revinclude"}
_MODIFIERS = {
    "token": frozenset({"not", "missing"}),
    "string": frozenset({"exact", "contains", "missing"}),
    "reference": frozenset({"missing"}),  # plus a target type, e.g. subject:Patient
    "date": frozenset({"missing"}),
    "uri": frozenset({"below", "above", "missing"}),
}
_COLUMN_MODIFIERS = {"id": frozenset({"not"}), "last_updated": frozenset()}
_ESCAPED = re.compile(r"\\([\\,|$])")


# --- values --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenValue:
    """``code``, ``system|code``, ``|code`` (no system) or ``system|`` (any code)."""

    system: str | None
    code: str | None
    match_system: bool  # False for a bare code: any system matches


@dataclass(frozen=True)
class StringValue:
    text: str
    normalized: str


@dataclass(frozen=True)
class DateValue:
    """A prefix and the UTC range [low, high] the value's precision covers."""

    prefix: str
    low: datetime
    high: datetime


@dataclass(frozen=True)
class ReferenceValue:
    """A local target (``type`` may be None: any allowed type) or an external ``url``."""

    type: str | None
    id: str | None
    url: str | None


@dataclass(frozen=True)
class UriValue:
    value: str


Value = TokenValue | StringValue | DateValue | ReferenceValue | UriValue


@dataclass(frozen=True)
class Criterion:
    """One search parameter occurrence: its values are OR-ed, criteria are AND-ed."""

    name: str                       # as written, with modifier and chain
    param: SearchParam
    modifier: str | None = None     # not, missing, exact, contains, below, above, or a type
    values: tuple[Value, ...] = ()
    missing: bool | None = None     # for :missing
    target_types: tuple[str, ...] = ()  # reference: only these target types (from :Type)
    chain: tuple[Criterion, ...] = ()   # chained: one criterion per target type


@dataclass(frozen=True)
class SortKey:
    param: SearchParam
    descending: bool = False


@dataclass(frozen=True)
class Include:
    """``_include`` (source -> target) or ``_revinclude`` (``reverse``: source -> us)."""

    source_type: str
    param: SearchParam
    target_type: str | None = None
    iterate: bool = False
    reverse: bool = False


@dataclass
class SearchRequest:
    """A validated search on one resource type."""

    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    sort: list[SortKey] = field(default_factory=list)
    total_mode: str | None = None  # none, estimate, accurate, or None (not asked)
    summary: str | None = None
    summary_count: bool = False
    elements: list[str] | None = None
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    include_limit: int = 1000
    # The query pairs that were used (not _count/_offset), for link_params().
    accepted: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def link_params(self) -> list[tuple[str, str]]:
        """The normalized query for self/next/previous links, without ``_offset``."""
        return [*self.accepted, ("_count", str(self.count))]


# --- problems ------------------------------------------------------------------------------

class _Unsupported(Exception):
    """A parameter or modifier the server does not know (ignorable when lenient)."""


class _UnsupportedCriterion(Exception):
    """A modifier or chain the server cannot apply to a known parameter (always an error)."""


class _Invalid(Exception):
    """A value that cannot be used (always an error)."""


def parse_search(resource_type: str, params: list[tuple[str, str]],
                 registry: SearchParameterRegistry, *, lenient: bool, default_count: int,
                 max_count: int, base_url: str | None = None) -> SearchRequest:
    """Validate ``params`` (the query string pairs) for a search on ``resource_type``.

    Raises FhirError(400) listing every bad parameter. ``base_url`` (this server's FHIR base)
    lets absolute references to local resources match the local ``Type/id``.
    """
    parser = _Parser(resource_type, registry, lenient, base_url)
    request = SearchRequest(resource_type, count=min(default_count, max_count))
    seen: set[str] = set()
    for name, value in params:
        if name in _TRANSPORT_PARAMS:
            continue
        try:
            if _CONTROL.search(name) or _CONTROL.search(value):
                raise _Invalid("search parameters may not contain control characters")
            if name in _SINGLE_RESULT_PARAMS and name in seen:
                raise _Invalid(f"{name} may appear only once")
            seen.add(name)
            accepted = parser.apply(request, name, value, max_count)
        except _Unsupported as problem:
            parser.report(name, str(problem), unsupported=True)
            continue
        except _UnsupportedCriterion as problem:
            parser.errors.append(issue("error", "not-supported", str(problem), name))
            continue
        except _Invalid as problem:
            parser.report(name, str(problem), unsupported=False)
            continue
        if accepted and name not in ("_offset", "_count"):
            request.accepted.append((name, value))
    if parser.errors:
        raise FhirError(400, parser.errors[0]["code"], parser.errors[0]["diagnostics"],
                        issues=parser.errors)
    request.warnings.extend(parser.warnings)
    return request


class _Parser:
    def __init__(self, resource_type: str, registry: SearchParameterRegistry, lenient: bool,
                 base_url: str | None) -> None:
        if not registry.for_type(resource_type):
            raise FhirError(400, "not-supported", f"{resource_type} cannot be searched")
        self.resource_type = resource_type
        self.registry = registry
        self.lenient = lenient
        self.base_url = base_url
        self.errors: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []

    def report(self, name: str, message: str, *, unsupported: bool) -> None:
        if unsupported and self.lenient:
            self.warnings.append(issue("warning", "not-supported", f"{message} (ignored)", name))
        else:
            self.errors.append(issue("error", "not-supported" if unsupported else "invalid",
                                     message, name))

    def apply(self, request: SearchRequest, name: str, value: str, max_count: int) -> bool:
        """Add one query parameter to ``request``; False when it is ignored (empty)."""
        base = name.split(":", 1)[0]
        if base in _SINGLE_RESULT_PARAMS and name != base:
            raise _Unsupported(f"{name}: modifiers are not allowed on {base}")
        if base in _RESULT_PARAMS and not value.strip():
            return False  # an empty value is ignored, as for search parameters
        if base == "_count":
            request.count = min(_non_negative(name, value), max_count)
        elif base == "_offset":
            request.offset = _non_negative(name, value)
        elif base == "_total":
            request.total_mode = _one_of(name, value, TOTAL_VALUES)
        elif base == "_totalMethod":
            request.total_mode = _TOTAL_METHODS[_one_of(name, value, frozenset(_TOTAL_METHODS))]
        elif base == "_summary":
            request.summary = _one_of(name, value, SUMMARY_MODES)
            request.summary_count = request.summary == "count"
        elif base == "_elements":
            request.elements = self._elements(value)
        elif base == "_sort":
            request.sort = self._sort(value)
        elif base in ("_include", "_revinclude"):
            reverse = base == "_revinclude"
            found = self._includes(name, value, reverse)
            kept = request.revincludes if reverse else request.includes
            # The same include twice is one include (a client, or a hostile one, may repeat).
            kept.extend(include for include in found if include not in kept)
            if len(request.includes) + len(request.revincludes) > MAX_INCLUDES:
                raise _Invalid(f"at most {MAX_INCLUDES} different _include and _revinclude "
                               f"parameters may be given")
        else:
            criterion = self._criterion(name, value, self.resource_type)
            if criterion is None:
                return False
            request.criteria.append(criterion)
        return True

    # --- result parameters ---------------------------------------------------------------

    def _elements(self, value: str) -> list[str]:
        known = self.registry.element_names(self.resource_type)
        names = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            element = item.removeprefix(self.resource_type + ".")
            if element in ALWAYS_KEPT:  # kept anyway; clients (fhirpy) name them all the same
                continue
            if element not in known:
                raise _Invalid(f"{self.resource_type} has no element {item!r}")
            names.append(element)
        return names

    def _sort(self, value: str) -> list[SortKey]:
        keys = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            descending = item.startswith("-")
            code = item.removeprefix("-")
            param = self.registry.get(self.resource_type, code)
            if param is None:
                raise _Invalid(f"cannot sort by {code!r}: not a search parameter of "
                               f"{self.resource_type}")
            if param.type not in SORTABLE_TYPES:
                raise _Invalid(f"cannot sort by {code!r}: {param.type} parameters are not "
                               "sortable")
            keys.append(SortKey(param, descending))
        return keys

    def _includes(self, name: str, value: str, reverse: bool) -> list[Include]:
        modifier = name.partition(":")[2]
        if modifier not in ("", "iterate", "recurse"):
            raise _Unsupported(f"{name}: unknown modifier {modifier!r}")
        iterate = bool(modifier)
        parts = value.split(":")
        if value == "*" and not reverse:
            parts = [self.resource_type, "*"]
        if len(parts) not in (2, 3):
            raise _Invalid(f"{value!r} is not of the form Type:parameter[:targetType]")
        source_type, code = parts[0], parts[1]
        target_type = parts[2] if len(parts) == 3 else None
        if not self.registry.for_type(source_type):
            raise _Invalid(f"{source_type!r} is not a searchable resource type")
        if not reverse and not iterate and source_type != self.resource_type:
            raise _Invalid(f"_include must start with {self.resource_type} (or use "
                           "_include:iterate)")
        if target_type is not None and not self.registry.is_resource_type(target_type):
            raise _Invalid(f"{target_type!r} is not a resource type")
        if code == "*":
            params = [p for p in self.registry.supported(source_type) if p.type == "reference"]
        else:
            param = self.registry.get(source_type, code)
            if param is None or param.type != "reference":
                raise _Invalid(f"{source_type} has no reference search parameter {code!r}")
            params = [param]
        includes = []
        for param in params:
            if target_type and param.targets and target_type not in param.targets:
                if code == "*":
                    continue
                raise _Invalid(f"{source_type}:{code} cannot refer to {target_type}")
            if reverse and not iterate:
                wanted = target_type or self.resource_type
                if wanted != self.resource_type or (param.targets
                                                    and self.resource_type not in param.targets):
                    if code == "*":
                        continue
                    raise _Invalid(f"{source_type}:{code} cannot refer to {self.resource_type}")
            includes.append(Include(source_type, param, target_type, iterate, reverse))
        return includes

    # --- criteria ------------------------------------------------------------------------

    def _criterion(self, name: str, value: str, resource_type: str) -> Criterion | None:
        head, dot, chained = name.partition(".")
        code, _, modifier = head.partition(":")
        param = self.registry.get(resource_type, code)
        if param is None:
            raise _Unsupported(f"unknown search parameter {code!r} for {resource_type}")
        if dot:
            return self._chain(name, value, param, modifier or None, chained)
        items = [item for item in _split(value, ",") if item != ""]
        if not items:
            return None  # an empty value is ignored
        if modifier == "missing":
            if param.column is not None:
                raise _UnsupportedCriterion(f"{name}: :missing is not supported on {code}")
            if value not in ("true", "false"):
                raise _Invalid(f"{name}: :missing takes true or false")
            return Criterion(name, param, "missing", missing=value == "true")
        target_types: tuple[str, ...] = ()
        if modifier:
            allowed = (_COLUMN_MODIFIERS[param.column] if param.column
                       else _MODIFIERS[param.type])
            if param.type == "reference" and modifier not in allowed:
                target_types = (self._target_modifier(name, param, modifier),)
            elif modifier not in allowed:
                raise _UnsupportedCriterion(f"{name}: modifier :{modifier} is not supported on "
                                   f"{param.type} parameters")
        values = tuple(self._value(name, param, item, target_types) for item in items)
        return Criterion(name, param, modifier or None, values, target_types=target_types)

    def _chain(self, name: str, value: str, param: SearchParam, modifier: str | None,
               chained: str) -> Criterion | None:
        if param.type != "reference":
            raise _Invalid(f"{name}: only reference parameters can be chained")
        if "." in chained:
            raise _UnsupportedCriterion(f"{name}: chains of more than one level are not supported")
        if modifier:
            types: tuple[str, ...] = (self._target_modifier(name, param, modifier),)
        else:
            types = param.targets
        code = chained.partition(":")[0]
        criteria = []
        for target_type in types:
            if self.registry.get(target_type, code) is None:
                continue
            criterion = self._criterion(chained, value, target_type)
            if criterion is None:
                return None
            criteria.append(criterion)
        if not criteria:
            raise _UnsupportedCriterion(f"{name}: no target type of {param.code} has a search "
                               f"parameter {code!r}")
        return Criterion(name, param, modifier, target_types=tuple(
            c.param.resource_type for c in criteria), chain=tuple(criteria))

    def _target_modifier(self, name: str, param: SearchParam, modifier: str) -> str:
        if not self.registry.is_resource_type(modifier):
            raise _UnsupportedCriterion(
                f"{name}: modifier :{modifier} is not supported on reference parameters")
        if param.targets and modifier not in param.targets:
            raise _Invalid(f"{name}: {param.code} cannot refer to {modifier}")
        return modifier

    def _value(self, name: str, param: SearchParam, item: str,
               target_types: tuple[str, ...]) -> Value:
        if param.type == "token":
            return _token(name, item, param)
        if param.type == "string":
            text = _unescape(item)
            return StringValue(text, normalize(text)[:STRING_WIDTH])
        if param.type == "date":
            return _date(name, item)
        if param.type == "reference":
            return self._reference(name, param, _unescape(item), target_types)
        return UriValue(_unescape(item))

    def _reference(self, name: str, param: SearchParam, text: str,
                   target_types: tuple[str, ...]) -> ReferenceValue:
        wanted = target_types[0] if target_types else None
        if ID_PATTERN.match(text) and "/" not in text:
            return ReferenceValue(wanted, text, None)
        relative = RELATIVE.match(text)
        target = parse_reference(text, self.base_url)
        if relative is None and (target is None or target.id is None):
            if target is None:
                raise _Invalid(f"{name}: {text!r} is not a reference (id, Type/id or URL)")
            return ReferenceValue(None, None, target.url)
        if target is None or target.type is None:  # unreachable: RELATIVE implies a target
            raise _Invalid(f"{name}: {text!r} is not a reference")
        if not self.registry.is_resource_type(target.type):
            raise _Invalid(f"{name}: {target.type!r} is not a resource type")
        if wanted and target.type != wanted:
            raise _Invalid(f"{name}: {text!r} is not a {wanted}")
        if param.targets and target.type not in param.targets:
            raise _Invalid(f"{name}: {param.code} cannot refer to {target.type}")
        return ReferenceValue(target.type, target.id, None)


# --- value helpers -------------------------------------------------------------------------

def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except where escaped with a backslash (escapes are kept)."""
    parts: list[str] = []
    current: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            current.append(text[position:position + 2])
            position += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        position += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def _token(name: str, item: str, param: SearchParam) -> TokenValue:
    parts = _split(item, "|")
    if param.column is not None:  # _id: a plain id
        if len(parts) != 1:
            raise _Invalid(f"{name}: {item!r} is not an id")
        return TokenValue(None, _unescape(item), False)
    if len(parts) == 1:
        return TokenValue(None, _unescape(item), False)
    if len(parts) > 2 or parts == ["", ""]:
        raise _Invalid(f"{name}: {item!r} is not of the form [system|]code")
    system, code = (_unescape(p) or None for p in parts)
    return TokenValue(system, code, True)


def _date(name: str, item: str) -> DateValue:
    prefix = item[:2] if item[:2] in PREFIXES else "eq"
    text = item[2:] if item[:2] in PREFIXES else item
    covered = date_range(text)
    if covered is None:
        raise _Invalid(f"{name}: {item!r} is not a date (prefix, then YYYY[-MM[-DD[Thh:mm"
                       "[:ss[.fff]][zone]]]])")
    low, high = covered
    if prefix == "ap":
        # The spec's suggestion: 10% of the gap between now and the date, on both sides.
        margin = abs(datetime.now(UTC) - low) / 10
        low = FAR_PAST if low - FAR_PAST < margin else low - margin
        high = FAR_FUTURE if FAR_FUTURE - high < margin else high + margin
    return DateValue(prefix, low, high)


# How many different _include and _revinclude a search may ask for.
MAX_INCLUDES = 32
# The largest _count or _offset taken: beyond it a number could not be a page of anything
# (and above 2**63 - 1 no database takes it).
MAX_INTEGER_PARAM = 1_000_000_000


def _non_negative(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise _Invalid(f"{name} must be a non-negative integer, not {value!r}")
    if len(value) > 10 or int(value) > MAX_INTEGER_PARAM:
        raise _Invalid(f"{name} must be at most {MAX_INTEGER_PARAM:,}, not {value[:20]!r}")
    return int(value)


def _one_of(name: str, value: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise _Invalid(f"{name} must be one of {', '.join(sorted(allowed))}, not {value!r}")
    return value


"""The search parameters the server offers, per resource type, from the R4 definitions.

Each definition's FHIRPath expression is compiled for each of its base types; a parameter is
offered only when the compiler and the index tables implement it exactly. The registry is
immutable and parsed once per process.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.fhir.search.expressions import (
    Branch,
    CompiledExpression,
    UnsupportedExpression,
    compile_expression,
)
from gateway.fhir.search.extract import CONVERTIBLE_TYPES
from gateway.fhir.search.structure import StructureModel

DEFINITIONS_FILE = (Path(__file__).resolve().parent.parent / "definitions" / "r4"
                    / "search-parameters.json")
_GENERIC_BASES = frozenset({"Resource", "DomainResource"})
# Parameters searched on columns of the resource table rather than on an index table.
RESOURCE_COLUMNS = {"_id": "id", "_lastUpdated": "last_updated"}
# Parameters whose expression compiles but whose matching rules are not implemented.
_SEMANTICS_NOT_IMPLEMENTED = {
    "phonetic": "phonetic matching (e.g. Soundex) is not implemented",
}


@dataclass(frozen=True)
class SearchParam:
    """One search parameter of one resource type."""

    code: str
    type: str              # token, string, reference, date, uri
    url: str               # the SearchParameter's canonical URL
    description: str
    resource_type: str
    expression: str | None = None
    targets: tuple[str, ...] = ()
    column: str | None = None  # "id" / "last_updated": searched on the resource table
    extractor: CompiledExpression | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.code

    @property
    def definition(self) -> str:
        return self.url

    @property
    def documentation(self) -> str:
        return self.description

    @property
    def target(self) -> tuple[str, ...]:
        return self.targets

    @property
    def indexed(self) -> bool:
        """Whether reindex() writes rows for it (the resource-table ones need none)."""
        return self.column is None and self.extractor is not None


@dataclass(frozen=True)
class UnsupportedParam:
    """A spec parameter the server does not offer, and why."""

    code: str
    type: str
    url: str
    reason: str


# Types searched only by some of their parameters (the others are not indexed). AuditEvent:
# one is written for every request, so each indexed parameter costs on every request; these
# are the ones an accounting of disclosures needs (INTERFACE.md, "Audit trail").
OFFERED_ONLY: Mapping[str, frozenset[str]] = MappingProxyType({
    "AuditEvent": frozenset({"patient", "agent", "entity", "date", "type", "outcome",
                             "subtype", "action", "agent-name", "purpose"}),
})


class SearchParameterRegistry:
    """Supported search parameters by resource type (immutable)."""

    def __init__(self, params: Iterable[SearchParam],
                 unsupported: Mapping[str, Iterable[UnsupportedParam]],
                 model: StructureModel, resource_names: Iterable[str]) -> None:
        by_type: dict[str, dict[str, SearchParam]] = {}
        for param in params:
            by_type.setdefault(param.resource_type, {})[param.code] = param
        self._by_type = MappingProxyType({t: MappingProxyType(p) for t, p in by_type.items()})
        self._indexed = MappingProxyType(
            {t: tuple(p for p in ps.values() if p.indexed) for t, ps in by_type.items()}
        )
        self._unsupported = MappingProxyType(
            {t: tuple(u) for t, u in unsupported.items()}
        )
        self.model = model
        self.resource_names: frozenset[str] = frozenset(resource_names)

    @classmethod
    def load(cls) -> SearchParameterRegistry:
        """The registry of the bundled R4 definitions (built once per process)."""
        return _default_registry()

    @classmethod
    def from_definitions(cls, definitions: Iterable[Mapping[str, Any]],
                         model: StructureModel, resource_types: Iterable[str] | None = None
                         ) -> SearchParameterRegistry:
        """Compile ``definitions`` (SearchParameter-like dicts) for every type they apply to,
        among ``resource_types`` (default: every type of the model)."""
        types = sorted(model.resource_types if resource_types is None
                       else set(resource_types) & set(model.resource_types))
        params: list[SearchParam] = []
        unsupported: dict[str, list[UnsupportedParam]] = {}
        names = set(model.resource_types)
        for definition in definitions:
            names.update(definition.get("target") or ())
            bases = definition.get("base") or []
            applies = types if _GENERIC_BASES & set(bases) else [b for b in bases if b in types]
            for resource_type in applies:
                offered = OFFERED_ONLY.get(resource_type)
                if offered is not None and definition["code"] not in offered \
                        and not definition["code"].startswith("_"):
                    unsupported.setdefault(resource_type, []).append(UnsupportedParam(
                        definition["code"], definition["type"], definition["url"],
                        "not offered: every request writes an AuditEvent, so only the "
                        "parameters the accounting of disclosures uses are indexed"))
                    continue
                param, reason = _build(definition, resource_type, model)
                if param is not None:
                    params.append(param)
                else:
                    unsupported.setdefault(resource_type, []).append(UnsupportedParam(
                        definition["code"], definition["type"], definition["url"], reason))
        return cls(params, unsupported, model, names)

    def for_type(self, resource_type: str) -> dict[str, SearchParam]:
        """Supported parameters of ``resource_type`` by code (including _id, _lastUpdated)."""
        return dict(self._by_type.get(resource_type, {}))

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        return self._by_type.get(resource_type, {}).get(code)

    def supported(self, resource_type: str) -> list[SearchParam]:
        """Exactly the parameters search implements for ``resource_type``, by code."""
        return sorted(self._by_type.get(resource_type, {}).values(), key=lambda p: p.code)

    def indexed(self, resource_type: str) -> tuple[SearchParam, ...]:
        """The parameters whose values reindex() writes to the index tables."""
        return self._indexed.get(resource_type, ())

    def unsupported(self, resource_type: str) -> list[UnsupportedParam]:
        """The spec's parameters for ``resource_type`` that are not offered, with the reason."""
        return sorted(self._unsupported.get(resource_type, ()), key=lambda p: p.code)

    def is_resource_type(self, name: str) -> bool:
        """Whether ``name`` is a FHIR resource type (one we store, or a reference target)."""
        return name in self.resource_names

    def element_names(self, resource_type: str) -> frozenset[str]:
        """Top-level element names of ``resource_type`` (for ``_elements``)."""
        return self.model.element_names((resource_type, resource_type))


def _build(definition: Mapping[str, Any], resource_type: str, model: StructureModel
           ) -> tuple[SearchParam | None, str]:
    code, kind = definition["code"], definition["type"]
    expression = definition.get("expression")
    if kind not in CONVERTIBLE_TYPES:
        return None, f"{kind} parameters are not implemented"
    if not expression:
        return None, "no FHIRPath expression (needs a dedicated implementation)"
    if code in _SEMANTICS_NOT_IMPLEMENTED:
        return None, _SEMANTICS_NOT_IMPLEMENTED[code]
    try:
        compiled = compile_expression(expression, resource_type, model)
    except UnsupportedExpression as error:
        return None, f"expression not supported: {error}"
    branches = tuple(b for b in compiled.branches if _convertible(kind, b, compiled.truthy))
    if not branches:
        return None, f"no value of this expression is searchable as {kind}"
    return SearchParam(
        code=code, type=kind, url=definition["url"],
        description=_description(definition.get("description", ""), resource_type),
        resource_type=resource_type, expression=expression,
        targets=tuple(definition.get("target") or ()), column=RESOURCE_COLUMNS.get(code),
        extractor=CompiledExpression(branches, compiled.truthy),
    ), ""


def _convertible(kind: str, branch: Branch, truthy: bool) -> bool:
    return truthy or branch.type in CONVERTIBLE_TYPES[kind]


def _description(text: str, resource_type: str) -> str:
    """The text for ``resource_type`` out of a "Multiple Resources" description."""
    if not text.startswith("Multiple Resources"):
        return text.strip()
    match = re.search(rf"^\* \[{re.escape(resource_type)}\]\([^)]*\): (.+?)\s*$", text,
                      re.MULTILINE)
    return match.group(1) if match else text.strip()


@cache
def _default_registry() -> SearchParameterRegistry:
    with DEFINITIONS_FILE.open(encoding="utf-8") as handle:
        definitions = json.load(handle)["definitions"]
    # The file holds the parameters of the types the gateway stores (and its containers); the
    # model knows every R4 type, but only those are searched and indexed.
    searched = {base for d in definitions for base in d.get("base", [])}
    return SearchParameterRegistry.from_definitions(definitions, StructureModel.load(),
                                                    searched)

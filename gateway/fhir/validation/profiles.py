"""Load our profiles (StructureDefinitions, derivation "constraint") and compile their
differentials into rules on top of the base R4 model.

Supported in a differential: min/max tightening, type and targetProfile restriction, fixed[x],
pattern[x], required bindings to value sets we can expand, and constraints with FHIRPath
expressions. Anything else that changes meaning (slicing, maxLength, ...) is refused with a
ProfileError rather than silently ignored.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .fhirpath import Invariant, InvariantError, compile_invariant
from .model import SD_PREFIX, ElementDef, Kind, Model
from .terminology import Expansion, Terminology
from .value_sets import expand_value_set

# Differential keys whose meaning the engine does not implement.
UNSUPPORTED_KEYS = ("slicing", "sliceName", "contentReference", "maxLength", "minValue",
                    "maxValue", "defaultValue")
BINDABLE_TYPES = frozenset({"code", "Coding", "CodeableConcept"})


class ProfileError(ValueError):
    """A profile, value set or code system in the profiles directory that cannot be used."""


@dataclass(frozen=True, slots=True)
class Rule:
    """What one differential element adds to the base definition of its element."""

    path: str  # element path, e.g. "CarePlan.period.start"
    steps: tuple[ElementDef, ...]  # base elements from the resource root to this one
    min: int | None = None  # set only where tighter than the base
    max: int | None = None
    types: frozenset[str] | None = None  # allowed type codes, when restricted
    targets: frozenset[str] | None = None  # allowed Reference target types, when restricted
    fixed: tuple[str, object] | None = None  # ("fixedCode", "plan")
    pattern: tuple[str, object] | None = None  # ("patternCodeableConcept", {...})
    binding: Expansion | None = None  # a required binding
    invariants: tuple[Invariant, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    """A compiled profile of one resource type."""

    url: str
    name: str
    type: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class ProfileSet:
    """Our profiles by canonical URL and the terminology they bind to."""

    profiles: Mapping[str, Profile]
    terminology: Terminology


def load_profiles(directory: Path, model: Model, terminology: Terminology) -> ProfileSet:
    """Read every ``*.json`` in ``directory``: StructureDefinitions, ValueSets, CodeSystems."""
    by_type: dict[str, dict[str, tuple[Path, dict]]] = {
        "StructureDefinition": {}, "ValueSet": {}, "CodeSystem": {}}
    for path in sorted(directory.glob("*.json")):
        resource = _read(path)
        kind = resource.get("resourceType")
        if kind not in by_type:
            raise ProfileError(f"{path.name}: expected a StructureDefinition, ValueSet or "
                               f"CodeSystem, not {kind!r}")
        url = resource.get("url")
        if not isinstance(url, str) or not url:
            raise ProfileError(f"{path.name}: {kind} has no url")
        if url in by_type[kind]:
            raise ProfileError(f"{path.name}: {url} is also defined in "
                               f"{by_type[kind][url][0].name}")
        by_type[kind][url] = (path, resource)

    code_systems = {url: resource for url, (_, resource) in by_type["CodeSystem"].items()}
    expansions = {}
    for url, (_, value_set) in by_type["ValueSet"].items():
        expansion = expand_value_set(value_set, code_systems, terminology)
        if expansion is not None:
            expansions[url] = expansion
    terminology = terminology.with_expansions(expansions)

    compiler = _ProfileCompiler(model, terminology, by_type["StructureDefinition"])
    profiles = {url: compiler.profile(url) for url in by_type["StructureDefinition"]}
    return ProfileSet(profiles, terminology)


def _read(path: Path) -> dict:
    try:
        resource = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path.name}: cannot read JSON: {exc}") from exc
    if not isinstance(resource, dict):
        raise ProfileError(f"{path.name}: expected a JSON object")
    return resource


class _ProfileCompiler:
    """Compiles StructureDefinitions, parents (baseDefinition) first."""

    def __init__(self, model: Model, terminology: Terminology,
                 definitions: Mapping[str, tuple[Path, dict]]) -> None:
        self.model = model
        self.terminology = terminology
        self.definitions = definitions
        self.compiled: dict[str, Profile] = {}
        self.in_progress: set[str] = set()

    def profile(self, url: str) -> Profile:
        if url in self.compiled:
            return self.compiled[url]
        if url in self.in_progress:
            raise ProfileError(f"{url}: baseDefinition chain loops back to itself")
        self.in_progress.add(url)
        path, sd = self.definitions[url]
        try:
            profile = self._compile(url, sd)
        except ProfileError as exc:
            raise ProfileError(f"{path.name}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:  # a required field missing or mistyped
            raise ProfileError(f"{path.name}: malformed StructureDefinition: {exc!r}") from exc
        self.in_progress.discard(url)
        self.compiled[url] = profile
        return profile

    def _compile(self, url: str, sd: Mapping) -> Profile:
        type_ = sd.get("type")
        if sd.get("derivation") != "constraint" or sd.get("kind") != "resource":
            raise ProfileError("only resource profiles (kind resource, derivation constraint) "
                               "are supported")
        if type_ not in self.model.resources:
            raise ProfileError(f"profiles of {type_!r} are not supported")
        base = str(sd.get("baseDefinition", "")).split("|")[0]
        inherited: tuple[Rule, ...] = ()
        if base in self.definitions:
            parent = self.profile(base)
            if parent.type != type_:
                raise ProfileError(f"base profile {base} is for {parent.type}, not {type_}")
            inherited = parent.rules
        elif base != SD_PREFIX + type_:
            raise ProfileError(f"unknown baseDefinition {base!r}")
        elements = (sd.get("differential") or {}).get("element")
        if not isinstance(elements, list) or not elements:
            raise ProfileError("a profile needs differential.element")
        rules = tuple(rule for rule in (self._rule(type_, e) for e in elements) if rule)
        return Profile(url=url, name=sd.get("name", url), type=type_, rules=inherited + rules)

    def _rule(self, type_: str, element: Mapping) -> Rule | None:
        path = element.get("path", "")
        if path != type_ and not path.startswith(type_ + "."):
            raise ProfileError(f"element path {path!r} is not in {type_}")
        unsupported = sorted(k for k in element if k.startswith(UNSUPPORTED_KEYS))
        if unsupported:
            raise ProfileError(f"{path}: {', '.join(unsupported)} not supported")
        steps = self._steps(path, type_)
        base = steps[-1] if steps else None
        fields: dict[str, object] = {}
        if base is not None:
            fields.update(self._cardinality(path, element, base))
            fields.update(self._types(path, element, base))
            fields.update(self._values(path, element, base))
        elif any(k in element for k in ("min", "max", "type", "binding")) or any(
                k.startswith(("fixed", "pattern")) for k in element):
            raise ProfileError(f"{path}: only constraints may be set on the resource itself")
        try:
            invariants = tuple(compile_invariant(c) for c in element.get("constraint", []))
        except InvariantError as exc:
            raise ProfileError(f"{path}: {exc}") from exc
        if invariants:
            fields["invariants"] = invariants
        return Rule(path=path, steps=steps, **fields) if fields else None  # type: ignore[arg-type]

    def _steps(self, path: str, type_: str) -> tuple[ElementDef, ...]:
        node = self.model.resources[type_]
        steps: list[ElementDef] = []
        names = path.split(".")[1:]
        for position, name in enumerate(names):
            element = node.elements.get(name)
            if element is None:
                raise ProfileError(f"{path}: {node.name} has no element {name!r}")
            steps.append(element)
            if position < len(names) - 1:
                complex_ = [p for p in element.variants if p.kind is Kind.COMPLEX]
                if len(complex_) != 1 or complex_[0].node is None:
                    raise ProfileError(f"{path}: cannot constrain inside {element.path}")
                node = complex_[0].node
        return tuple(steps)

    @staticmethod
    def _cardinality(path: str, element: Mapping, base: ElementDef) -> dict[str, object]:
        fields: dict[str, object] = {}
        if "min" in element:
            if element["min"] < base.min:
                raise ProfileError(f"{path}: min {element['min']} loosens the base {base.min}")
            if element["min"] > base.min:
                fields["min"] = element["min"]
        if "max" in element:
            max_ = None if element["max"] == "*" else int(element["max"])
            if base.max is not None and (max_ is None or max_ > base.max):
                raise ProfileError(f"{path}: max {element['max']} loosens the base {base.max}")
            if max_ is not None and max_ != base.max:
                fields["max"] = max_
        low, high = fields.get("min", base.min), fields.get("max", base.max)
        if high is not None and low > high:  # type: ignore[operator]
            raise ProfileError(f"{path}: min is greater than max")
        return fields

    def _types(self, path: str, element: Mapping, base: ElementDef) -> dict[str, object]:
        if "type" not in element:
            return {}
        fields: dict[str, object] = {}
        codes = {t["code"] for t in element["type"]}
        base_codes = {p.type_code for p in base.variants}
        if not codes <= base_codes:
            raise ProfileError(f"{path}: types {sorted(codes - base_codes)} are not allowed by "
                               f"the base ({', '.join(sorted(base_codes))})")
        if codes != base_codes:
            fields["types"] = frozenset(codes)
        urls = [url for t in element["type"] if t["code"] == "Reference"
                for url in t.get("targetProfile", [])]
        if urls:
            targets = frozenset(self._target_type(path, url) for url in urls)
            reference = next(p for p in base.variants if p.type_code == "Reference")
            if reference.targets is not None and not targets <= reference.targets:
                raise ProfileError(f"{path}: targets {sorted(targets - reference.targets)} are "
                                   f"not allowed by the base")
            if "Resource" not in targets and targets != reference.targets:
                fields["targets"] = targets
        return fields

    def _target_type(self, path: str, url: str) -> str:
        url = url.split("|")[0]
        if url in self.definitions:
            return str(self.definitions[url][1].get("type"))
        name = url.removeprefix(SD_PREFIX)
        if url.startswith(SD_PREFIX) and (name in self.model.all_resource_types
                                          or name == "Resource"):
            return name
        raise ProfileError(f"{path}: unknown targetProfile {url}")

    def _values(self, path: str, element: Mapping, base: ElementDef) -> dict[str, object]:
        fields: dict[str, object] = {}
        allowed = {p.type_code for p in base.variants}
        for key, value in element.items():
            for prefix in ("fixed", "pattern"):
                if key.startswith(prefix):
                    suffix = key[len(prefix):]
                    if suffix[:1].lower() + suffix[1:] not in allowed and suffix not in allowed:
                        raise ProfileError(f"{path}: {key} does not match the element's types")
                    if prefix in fields:
                        raise ProfileError(f"{path}: more than one {prefix}[x]")
                    fields[prefix] = (key, value)
        binding = element.get("binding") or {}
        if binding.get("strength") == "required":
            url = binding.get("valueSet", "")
            expansion = self.terminology.get(url)
            if expansion is None:
                raise ProfileError(f"{path}: cannot expand the required value set {url!r}")
            if not allowed & BINDABLE_TYPES:
                raise ProfileError(f"{path}: bindings are supported on code, Coding and "
                                   f"CodeableConcept only")
            fields["binding"] = expansion
        return fields

"""Local codes -> standard codes, from FHIR R4 ConceptMaps an agency can replace.

    terminology = Terminology.load()                  # profiles/terminology/ConceptMap-*.json
    terminology.translate(SERVICE, "case-management") # {"system": HCPCS, "code": "T1017", ...}

Each ConceptMap maps one kind of local code (its ``id`` names the map). A local code may have
targets in several groups (several code systems); ``translate`` gives the first, in file order,
``translate_all`` all of them. ``target.product`` carries what else a mapping implies, e.g. that a
service is substance-use treatment (see ``labels``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.config import PROJECT_ROOT

from .errors import MappingError

CONCEPT_MAP_DIR = PROJECT_ROOT / "profiles" / "terminology"

# The maps the mappings use, by ConceptMap id.
TEAM_ROLE = "cmh-team-role"  # staff roles and care-team roles
ELIGIBILITY = "cmh-eligibility"
SERVICE = "cmh-service"
GOAL_DOMAIN = "cmh-goal-domain"
RELATIONSHIP = "cmh-relationship"
CONSENT_PURPOSE = "cmh-consent-purpose"
CONSENT_CATEGORY = "cmh-consent-category"
CONSENT_POLICY = "cmh-consent-policy"
SECURITY_LABEL = "cmh-security-label"
ORGANIZATION_KIND = "cmh-organization-kind"
SKILL = "cmh-skill"
CREDENTIAL = "cmh-credential"
GATEWAY = "cmh-gateway-concepts"  # codes the gateway itself uses (categories, markers, types)
REQUIRED_MAPS = (TEAM_ROLE, ELIGIBILITY, SERVICE, GOAL_DOMAIN, RELATIONSHIP, CONSENT_PURPOSE,
                 CONSENT_CATEGORY, CONSENT_POLICY, SECURITY_LABEL, ORGANIZATION_KIND, SKILL,
                 CREDENTIAL, GATEWAY)

# Equivalences that say the target does not stand for the source (R4 ConceptMapEquivalence).
_NOT_A_MAPPING = frozenset({"unmatched", "disjoint"})
_EXACT = frozenset({"equal", "equivalent"})
_LISTED_CODES = 30


class TerminologyError(ValueError):
    """A ConceptMap file the gateway cannot use."""


@dataclass(frozen=True, slots=True)
class Target:
    """One target of one local code."""

    system: str
    code: str
    display: str | None
    equivalence: str
    products: tuple[Mapping[str, str], ...] = ()

    def coding(self) -> dict[str, str]:
        """A fresh FHIR Coding dict (callers may change it)."""
        coding = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


@dataclass(frozen=True, slots=True)
class ConceptMapIndex:
    """One loaded ConceptMap: local code -> targets."""

    id: str
    url: str
    title: str
    targets: Mapping[str, tuple[Target, ...]]
    displays: Mapping[str, str]  # local code -> its display in the map

    def local_code(self, system: str, code: str) -> str | None:
        """The local code mapped to ``system|code``, exact mappings first, else None."""
        found = [(local, target) for local, targets in self.targets.items()
                 for target in targets if target.system == system and target.code == code]
        exact = [local for local, target in found if target.equivalence in _EXACT]
        return exact[0] if exact else (found[0][0] if found else None)


class Terminology:
    """An immutable set of ConceptMaps, by id."""

    def __init__(self, maps: Mapping[str, ConceptMapIndex]) -> None:
        self._maps = MappingProxyType(dict(maps))

    @classmethod
    def load(cls, directory: Path = CONCEPT_MAP_DIR,
             required: Iterable[str] = REQUIRED_MAPS) -> Terminology:
        """Read every ``ConceptMap-*.json`` in ``directory``; raise TerminologyError for a file
        that is not a usable ConceptMap or when a map in ``required`` is missing."""
        if not directory.is_dir():
            raise TerminologyError(f"terminology directory {directory} does not exist")
        resources = []
        for path in sorted(directory.glob("ConceptMap-*.json")):
            try:
                resources.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as exc:
                raise TerminologyError(f"{path.name}: cannot read JSON: {exc}") from exc
        return cls.from_concept_maps(resources, required)

    @classmethod
    def from_concept_maps(cls, resources: Iterable[tuple[str, Any]],
                          required: Iterable[str] = REQUIRED_MAPS) -> Terminology:
        """From ``(source name, ConceptMap dict)`` pairs, e.g. for tests or a database."""
        maps: dict[str, ConceptMapIndex] = {}
        for source, resource in resources:
            index = _index(source, resource)
            if index.id in maps:
                raise TerminologyError(f"{source}: ConceptMap id {index.id!r} is defined twice")
            maps[index.id] = index
        missing = [name for name in required if name not in maps]
        if missing:
            raise TerminologyError(f"missing ConceptMaps: {', '.join(missing)}")
        return cls(maps)

    @property
    def map_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._maps))

    def concept_map(self, map_name: str) -> ConceptMapIndex:
        try:
            return self._maps[map_name]
        except KeyError:
            raise TerminologyError(f"no ConceptMap {map_name!r} is loaded") from None

    def codes(self, map_name: str) -> tuple[str, ...]:
        """The local codes ``map_name`` maps, in file order."""
        return tuple(self.concept_map(map_name).targets)

    def knows(self, map_name: str, local_code: object) -> bool:
        return isinstance(local_code, str) and local_code in self.concept_map(map_name).targets

    def translate(self, map_name: str, local_code: object, path: str = "") -> dict[str, str]:
        """The (first) standard Coding for ``local_code``; MappingError at ``path`` if unmapped."""
        return self.translate_all(map_name, local_code, path)[0]

    def translate_all(self, map_name: str, local_code: object,
                      path: str = "") -> list[dict[str, str]]:
        """Every target Coding of ``local_code``, in file order; MappingError if unmapped."""
        index = self.concept_map(map_name)
        targets = index.targets.get(local_code) if isinstance(local_code, str) else None
        if not targets:
            known = list(index.targets)
            listed = ", ".join(known[:_LISTED_CODES]) + (", ..." if len(known) > _LISTED_CODES
                                                           else "")
            raise MappingError(path, f"unknown code {local_code!r} for {index.title} (map "
                                     f"{map_name}; known: {listed})")
        return [target.coding() for target in targets]

    def find(self, map_name: str, local_code: object) -> dict[str, str] | None:
        """Like ``translate`` but None for an unmapped code (for optional, free-text codes)."""
        if not self.knows(map_name, local_code):
            return None
        return self.concept_map(map_name).targets[local_code][0].coding()  # type: ignore[index]

    def products(self, map_name: str, local_code: object) -> list[dict[str, str]]:
        """What mapping ``local_code`` also implies (``target.product``), across its targets."""
        if not self.knows(map_name, local_code):
            return []
        return [dict(product) for target in self.concept_map(map_name).targets[local_code]  # type: ignore[index]
                for product in target.products]

    def display(self, map_name: str, local_code: object) -> str | None:
        """The human name of a local code, as the map's source element gives it."""
        if not self.knows(map_name, local_code):
            return None
        return self.concept_map(map_name).displays.get(local_code)  # type: ignore[arg-type]

    def local_code(self, map_name: str, coding: object) -> str | None:
        """Reverse: the local code a standard Coding maps back to, or None."""
        if not isinstance(coding, Mapping):
            return None
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return None
        return self.concept_map(map_name).local_code(system, code)


def _index(source: str, resource: Any) -> ConceptMapIndex:
    if not isinstance(resource, dict) or resource.get("resourceType") != "ConceptMap":
        raise TerminologyError(f"{source}: expected a ConceptMap")
    map_id = resource.get("id")
    if not isinstance(map_id, str) or not map_id:
        raise TerminologyError(f"{source}: the ConceptMap has no id")
    groups = resource.get("group")
    if not isinstance(groups, list) or not groups:
        raise TerminologyError(f"{source}: the ConceptMap has no group")
    targets: dict[str, list[Target]] = {}
    displays: dict[str, str] = {}
    for g, group in enumerate(groups):
        system = group.get("target") if isinstance(group, dict) else None
        elements = group.get("element") if isinstance(group, dict) else None
        if not isinstance(system, str) or not isinstance(elements, list):
            raise TerminologyError(f"{source}: group[{g}] needs a target system and elements")
        seen: set[str] = set()
        for e, element in enumerate(elements):
            where = f"{source}: group[{g}].element[{e}]"
            code = element.get("code") if isinstance(element, dict) else None
            if not isinstance(code, str) or not code:
                raise TerminologyError(f"{where} has no code")
            if code in seen:
                raise TerminologyError(f"{where}: {code!r} appears twice in the group")
            seen.add(code)
            if isinstance(element.get("display"), str):
                displays.setdefault(code, element["display"])
            for target in element.get("target", []):
                parsed = _target(target, system, f"{where}.target")
                if parsed is not None:
                    targets.setdefault(code, []).append(parsed)
    return ConceptMapIndex(
        id=map_id, url=str(resource.get("url", "")),
        title=str(resource.get("title") or resource.get("name") or map_id),
        targets=MappingProxyType({code: tuple(found) for code, found in targets.items()}),
        displays=MappingProxyType(displays))


def _target(target: Any, system: str, where: str) -> Target | None:
    if not isinstance(target, dict):
        raise TerminologyError(f"{where} must be an object")
    equivalence = target.get("equivalence")
    if equivalence in _NOT_A_MAPPING:
        return None
    code = target.get("code")
    if not isinstance(code, str) or not code or not isinstance(equivalence, str):
        raise TerminologyError(f"{where} needs a code and an equivalence")
    products = []
    for product in target.get("product", []):
        if not isinstance(product, dict) or not isinstance(product.get("property"), str):
            raise TerminologyError(f"{where}.product needs a property")
        products.append(MappingProxyType({k: v for k, v in product.items()
                                          if isinstance(v, str)}))
    display = target.get("display")
    return Target(system, code, display if isinstance(display, str) else None, equivalence,
                  tuple(products))

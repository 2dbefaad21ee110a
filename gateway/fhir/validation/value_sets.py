"""Expand the ValueSet resources shipped beside our profiles (``profiles/ValueSet-*.json``)."""
from __future__ import annotations

from collections.abc import Mapping

from .terminology import Expansion, Terminology


def _concepts(concepts: list) -> list[str]:
    codes: list[str] = []
    for concept in concepts:
        codes.append(concept["code"])
        codes.extend(_concepts(concept.get("concept", [])))
    return codes


def expand_value_set(value_set: Mapping, code_systems: Mapping[str, Mapping],
                     terminology: Terminology) -> Expansion | None:
    """The expansion of a ValueSet built from listed concepts, whole local code systems, or
    expandable value sets; None when it uses filters, exclusions or unknown code systems."""
    compose = value_set.get("compose") or {}
    if compose.get("exclude") or not compose.get("include"):
        return None
    pairs: set[tuple[str, str]] = set()
    for include in compose["include"]:
        if include.get("filter"):
            return None
        for url in include.get("valueSet", []):
            nested = terminology.get(url)
            if nested is None:
                return None
            pairs |= nested.pairs
        system = include.get("system")
        if system is None:
            continue
        if "concept" in include:
            codes = [concept["code"] for concept in include["concept"]]
        elif code_systems.get(system, {}).get("content") == "complete":
            codes = _concepts(code_systems[system].get("concept", []))
        else:
            return None
        pairs |= {(system, code) for code in codes}
    return Expansion(value_set["url"], frozenset(code for _, code in pairs), frozenset(pairs))

"""Required-binding checks of code, Coding and CodeableConcept values against value sets."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .primitives import show

LISTED_CODES = 12  # name the allowed codes in diagnostics when there are at most this many


@dataclass(frozen=True, slots=True)
class Expansion:
    """The codes of one value set, by system."""

    url: str
    codes: frozenset[str]
    pairs: frozenset[tuple[str, str]]  # (system, code)

    @classmethod
    def from_systems(cls, url: str, systems: Mapping[str, list[str]]) -> Expansion:
        """An expansion from ``{system: [codes]}`` as in valuesets.json."""
        pairs = frozenset((system, code) for system, codes in systems.items() for code in codes)
        return cls(url, frozenset(code for _, code in pairs), pairs)

    def describe(self) -> str:
        """The value set URL, with its codes when they are few enough to read."""
        if len(self.codes) > LISTED_CODES:
            return self.url
        return f"{self.url} ({', '.join(sorted(self.codes))})"


class Terminology:
    """Value set expansions by canonical URL (version suffixes ignored)."""

    def __init__(self, expansions: Mapping[str, Mapping[str, list[str]] | None]) -> None:
        self._expansions = {url: Expansion.from_systems(url, systems)
                            for url, systems in expansions.items() if systems is not None}
        # Known but not expandable offline (e.g. mimetypes): bindings to these are not checked.
        self.unexpandable = frozenset(url for url, systems in expansions.items() if systems is None)

    def get(self, url: str) -> Expansion | None:
        """The expansion of a value set, or None when unknown or not expandable."""
        return self._expansions.get(url.split("|")[0])

    def with_expansions(self, extra: Mapping[str, Expansion]) -> Terminology:
        """A copy that also knows ``extra`` (e.g. the value sets shipped with our profiles)."""
        copy = Terminology({})
        copy._expansions = {**self._expansions, **extra}
        copy.unexpandable = self.unexpandable
        return copy


def code_problem(value: str, expansion: Expansion) -> str | None:
    """Why a code is outside the value set, or None."""
    if value in expansion.codes:
        return None
    return f"The code {show(value)} is not in the required value set {expansion.describe()}"


def coding_problem(coding: Mapping, expansion: Expansion) -> str | None:
    """Why a Coding is outside the value set, or None."""
    if _coding_in(coding, expansion):
        return None
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(code, str):
        return f"The Coding has no code, but a code from {expansion.describe()} is required"
    if not isinstance(system, str):
        return (f"The Coding {show(code)} has no system, so it cannot be checked against the "
                f"required value set {expansion.describe()}")
    return (f"The Coding {show(system + '#' + code, 120)} is not in the required value set "
            f"{expansion.describe()}")


def codeable_concept_problem(concept: Mapping, expansion: Expansion) -> str | None:
    """Why a CodeableConcept has no coding from the value set, or None."""
    codings = concept.get("coding")
    if not isinstance(codings, list) or not codings:
        return (f"A coding from the required value set {expansion.describe()} is needed; "
                f"text alone is not enough")
    if any(isinstance(c, Mapping) and _coding_in(c, expansion) for c in codings):
        return None
    return f"None of the codings is from the required value set {expansion.describe()}"


def _coding_in(coding: Mapping, expansion: Expansion) -> bool:
    system, code = coding.get("system"), coding.get("code")
    return isinstance(system, str) and isinstance(code, str) and (system, code) in expansion.pairs

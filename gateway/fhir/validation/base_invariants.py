"""The invariants of the R4 base specification (``ElementDefinition.constraint`` of every
resource, data type and backbone element), evaluated with fhirpathpy as our profiles' are.

Compiled on first use and kept for the process. Some are enforced natively instead, where the
validator does it better or fhirpathpy cannot (``NATIVE``). An invariant the engine cannot
compile is not skipped in silence: it is logged once as a warning and listed in ``unevaluable``
(by key, with the reason). One that fails to evaluate on a particular value (fhirpathpy raises
on some malformed content) is answered for that value with a warning issue, logged once per key,
and stays in force for every other resource: bad input must not switch a rule off.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .fhirpath import Invariant, InvariantError, compile_invariant

log = logging.getLogger(__name__)

# Enforced by the validator itself: narrative (narrative.py), local references to contained
# resources (containment), SimpleQuantity's comparator (max 0), the Bundle rules
# (bundle_rules.py).
NATIVE = frozenset({"txt-1", "txt-2", "ref-1", "sqty-1", "bdl-1", "bdl-2", "bdl-3", "bdl-4",
                    "bdl-5", "bdl-7", "bdl-8", "bdl-9", "bdl-10", "bdl-11", "bdl-12"})

_compiled: dict[tuple[str, str], Invariant | None] = {}
# key -> why it cannot be evaluated here (logged once).
unevaluable: dict[str, str] = {}


def invariants_of(constraints: tuple[Mapping, ...]) -> list[Invariant]:
    """The compiled, evaluable invariants among ``constraints``."""
    result = []
    for constraint in constraints:
        key = str(constraint.get("key"))
        if key in NATIVE:
            continue
        cache_key = (key, str(constraint.get("expression")))
        if cache_key not in _compiled:
            try:
                _compiled[cache_key] = compile_invariant(constraint)
            except InvariantError as error:
                _compiled[cache_key] = None
                not_evaluable(key, f"cannot be compiled: {error}")
        invariant = _compiled[cache_key]
        if invariant is not None and key not in unevaluable:
            result.append(invariant)
    return result


# keys whose evaluation has failed at least once (logged once each).
_evaluation_failures: set[str] = set()


def not_evaluable(key: str, reason: str) -> None:
    if key not in unevaluable:
        unevaluable[key] = reason
        log.warning("R4 invariant %s is not checked: %s", key, reason)


def check(invariant: Invariant, value: Any, resource: Mapping, path: str) -> bool | str:
    """Whether ``invariant`` holds on ``value`` (typed as ``path``), or why the engine could
    not tell (a string)."""
    try:
        return invariant.holds(value, resource, path, empty_holds=True)
    except Exception as error:  # noqa: BLE001 - fhirpathpy raises many kinds
        reason = f"{type(error).__name__}: {error}"[:200]
        if invariant.key not in _evaluation_failures:
            _evaluation_failures.add(invariant.key)
            log.warning("R4 invariant %s failed to evaluate (%s)", invariant.key, reason)
        return reason

"""Read the generated R4 definition files (``gateway/fhir/definitions/r4``)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "definitions" / "r4"
FHIR_VERSION = "4.0.1"


@lru_cache(maxsize=8)
def load_definitions(name: str) -> dict[str, Any]:
    """The ``definitions`` object of one generated file; callers must treat it as read-only."""
    data = json.loads((DEFINITIONS_DIR / name).read_text(encoding="utf-8"))
    if data.get("fhirVersion") != FHIR_VERSION:
        raise ValueError(f"{name}: expected FHIR {FHIR_VERSION} definitions, "
                         f"got {data.get('fhirVersion')!r}")
    return data["definitions"]


@lru_cache(maxsize=1)
def structure_definitions() -> dict[str, dict]:
    """Trimmed StructureDefinitions by type name (resources, data types, primitives)."""
    return load_definitions("structure-definitions.json")


@lru_cache(maxsize=1)
def core_extensions() -> dict[str, dict]:
    """The R4 core extensions by URL: their context expressions and value types."""
    return load_definitions("extensions.json")


def value_set_expansions() -> dict[str, dict[str, list[str]] | None]:
    """System -> codes for each required value set, ``None`` where not expandable offline."""
    return load_definitions("valuesets.json")

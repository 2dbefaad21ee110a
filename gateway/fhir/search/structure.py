"""Element types of resources and data types, read from the R4 StructureDefinitions.

The search expression compiler walks these to know, for every step of a FHIRPath path, which
JSON key holds the value (``deceased`` -> ``deceasedBoolean``/``deceasedDateTime``) and which
FHIR type it has, so extraction can convert each value without guessing from its shape.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFINITIONS_FILE = (Path(__file__).resolve().parent.parent / "definitions" / "r4"
                    / "structure-definitions.json")
_FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
# Types whose children are declared inline in the owning StructureDefinition.
_INLINE_TYPES = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True)
class Element:
    """One element: its name, its allowed types and where its children are declared."""

    name: str                 # without "[x]"
    types: tuple[str, ...]    # FHIR type codes, e.g. ("dateTime", "Period")
    choice: bool              # a "[x]" element: the JSON key carries the type name
    children: tuple[str, str] | None = None  # (definition, path) of inline children


class StructureModel:
    """Child elements by (definition name, element path); immutable once built."""

    def __init__(self, definitions: Mapping[str, Mapping[str, Any]]) -> None:
        children: dict[tuple[str, str], dict[str, Element]] = {}
        resources: set[str] = set()
        for name, definition in definitions.items():
            if definition.get("kind") == "resource" and not definition.get("abstract"):
                resources.add(name)
            parents = {element["path"].rpartition(".")[0] for element in definition["elements"]}
            for element in definition["elements"]:
                path: str = element["path"]
                if "." not in path:
                    continue
                parent, _, raw_name = path.rpartition(".")
                children.setdefault((name, parent), {})[raw_name.removesuffix("[x]")] = (
                    _element(name, path, raw_name, element, parents)
                )
        self._children = MappingProxyType(
            {key: MappingProxyType(value) for key, value in children.items()}
        )
        self.resource_types: frozenset[str] = frozenset(resources)

    @classmethod
    def load(cls) -> StructureModel:
        """The model of the bundled R4 definitions (parsed once per process)."""
        return _default_model()

    def child(self, owner: tuple[str, str], name: str) -> Element | None:
        """The element ``name`` under ``owner`` = (definition name, element path)."""
        return self._children.get(owner, {}).get(name)

    def element_names(self, owner: tuple[str, str]) -> frozenset[str]:
        return frozenset(self._children.get(owner, {}))

    def has_children(self, owner: tuple[str, str]) -> bool:
        return owner in self._children


def _element(definition: str, path: str, raw_name: str, element: Mapping[str, Any],
             parents: set[str]) -> Element:
    name = raw_name.removesuffix("[x]")
    reference = element.get("contentReference")
    if reference:
        # e.g. Consent.provision.provision re-uses the children of Consent.provision.
        return Element(name, ("BackboneElement",), False, (definition, reference.lstrip("#")))
    types = tuple(_type_code(t) for t in element.get("type", []))
    inline = path in parents and any(t in _INLINE_TYPES for t in types)
    return Element(name, types, raw_name.endswith("[x]"), (definition, path) if inline else None)


def _type_code(type_entry: Mapping[str, Any]) -> str:
    code: str = type_entry["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        # id-like elements are typed System.String with the FHIR type in an extension.
        for extension in type_entry.get("extension", []):
            if extension.get("url") == _FHIR_TYPE_EXTENSION:
                return str(extension["valueUrl"])
        return code.rsplit(".", 1)[1].lower()
    return code


@cache
def _default_model() -> StructureModel:
    with DEFINITIONS_FILE.open(encoding="utf-8") as handle:
        return StructureModel(json.load(handle)["definitions"])

"""``_elements`` and ``_summary``: return only part of a resource, marked as a subset.

Mandatory elements are kept whatever is asked (the specification says servers SHOULD), and a
choice element is asked for by its name without the type (``value`` keeps ``valueQuantity``).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from gateway.fhir.validation.model import base_model

# Kept whatever is asked: what a resource is, and the metadata that makes it a version.
ALWAYS_KEPT = frozenset({"resourceType", "id", "meta"})
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "Resource encoded in summary mode"}


@lru_cache(maxsize=64)
def _json_names(resource_type: str, elements: tuple[str, ...]) -> frozenset[str]:
    """The JSON property names to keep for ``elements`` of a type, mandatory ones included."""
    node = base_model().resources.get(resource_type)
    if node is None:
        return ALWAYS_KEPT | frozenset(elements)
    names = set(ALWAYS_KEPT)
    for element in node.required:
        names.update(element.json_names)
    for name in elements:
        element = node.elements.get(name) or node.elements.get(f"{name}[x]")
        names.update(element.json_names if element else (name,))
    return frozenset(names)


def apply_elements(resource: dict[str, Any], elements: list[str]) -> dict[str, Any]:
    keep = _json_names(str(resource.get("resourceType")), tuple(sorted(set(elements))))
    return _marked_subsetted({key: value for key, value in resource.items() if key in keep})


# _summary (R4 search.html#summary): what each mode keeps of a resource; "count" and "false"
# shape no resource (count returns none, false all of it).
SUMMARY_MODES = frozenset({"true", "text", "data", "count", "false"})
SHAPING_MODES = frozenset({"true", "text", "data"})


def apply_summary(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """``resource`` as ``_summary=mode`` returns it: ``true`` its top-level elements marked
    isSummary in R4 (and the mandatory ones), ``text`` its text and mandatory elements,
    ``data`` all but its text. Marked SUBSETTED."""
    if mode == "data":
        kept = {key: value for key, value in resource.items() if key != "text"}
    else:
        keep = _summary_names(str(resource.get("resourceType")), mode)
        kept = {key: value for key, value in resource.items() if key in keep}
    return _marked_subsetted(kept)


@lru_cache(maxsize=512)
def _summary_names(resource_type: str, mode: str) -> frozenset[str]:
    node = base_model().resources.get(resource_type)
    names = set(ALWAYS_KEPT)
    if mode == "text":
        names.add("text")
    if node is None:
        return frozenset(names)
    for element in node.elements.values():
        if element.min > 0 or (mode == "true" and element.summary):
            names.update(element.json_names)
    return frozenset(names)


def _marked_subsetted(kept: dict[str, Any]) -> dict[str, Any]:
    meta = dict(kept.get("meta") or {})
    tags = [tag for tag in meta.get("tag", []) if tag.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    kept["meta"] = meta
    return kept

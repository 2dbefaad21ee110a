"""Element-level security labels (HL7 DS4P inline security label extension).

A resource that is not itself sensitive can hold sensitive elements: a care plan's reference to
a substance-use-disorder goal names that goal's existence. The mappings label such elements
inline; ``strip_labelled`` removes them for a requester who may not see that kind of content.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INLINE_LABEL = ("http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/"
                "extension-inline-sec-label")


def labelled_paths(resource: Any, labels: Iterable[tuple[str, str]], path: str = ""
                   ) -> list[str]:
    """FHIRPath-like locations of the elements that carry any of ``labels`` inline."""
    wanted = set(labels)
    found: list[str] = []
    if isinstance(resource, dict):
        if _carries(resource, wanted):
            return [path or "(root)"]
        for key, value in resource.items():
            if key == "extension":
                continue
            found += labelled_paths(value, wanted, f"{path}.{key}" if path else key)
    elif isinstance(resource, list):
        for index, item in enumerate(resource):
            found += labelled_paths(item, wanted, f"{path}[{index}]")
    return found


def strip_labelled(resource: Any, labels: Iterable[tuple[str, str]]) -> Any:
    """``resource`` without the elements (objects, list items) labelled with any of
    ``labels``; a list left empty is removed with them."""
    wanted = set(labels)
    if isinstance(resource, dict):
        kept = {}
        for key, value in resource.items():
            if key != "extension" and isinstance(value, dict) and _carries(value, wanted):
                continue
            stripped = strip_labelled(value, wanted) if key != "extension" else value
            if isinstance(value, list) and value and stripped == []:
                continue
            kept[key] = stripped
        return kept
    if isinstance(resource, list):
        kept_items = []
        for item in resource:
            if isinstance(item, dict) and _carries(item, wanted):
                continue
            stripped_item = strip_labelled(item, wanted)
            if item and stripped_item in ({}, []):
                continue  # nothing of it was left (an activity whose reference was labelled)
            kept_items.append(stripped_item)
        return kept_items
    return resource


def _carries(element: dict, wanted: set[tuple[str, str]]) -> bool:
    for extension in element.get("extension", []):
        if isinstance(extension, dict) and extension.get("url") == INLINE_LABEL:
            coding = extension.get("valueCoding") or {}
            if (coding.get("system"), coding.get("code")) in wanted:
                return True
    return False

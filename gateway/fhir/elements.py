"""``_elements``: return only the named top-level elements, marked as a subset."""
from __future__ import annotations

from typing import Any

# Kept whatever is asked: what a resource is, and the metadata that makes it a version.
ALWAYS_KEPT = ("resourceType", "id", "meta")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "Resource encoded in summary mode"}


def apply_elements(resource: dict[str, Any], elements: list[str]) -> dict[str, Any]:
    wanted = set(elements)
    kept = {key: value for key, value in resource.items()
            if key in ALWAYS_KEPT or key in wanted or key.lstrip("_") in wanted}
    meta = dict(kept.get("meta") or {})
    tags = [tag for tag in meta.get("tag", []) if tag.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    kept["meta"] = meta
    return kept

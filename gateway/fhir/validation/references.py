"""Find the resource type a literal ``Reference.reference`` points at."""
from __future__ import annotations

import re

from .primitives import show

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_RELATIVE = re.compile(rf"([A-Za-z]+)/({_ID})(?:/_history/{_ID})?")
# A RESTful absolute URL ends in Type/id (R4 3.1.0.4.1); other absolute URLs say nothing of type.
_ABSOLUTE = re.compile(rf"https?://\S+/([A-Za-z]+)/{_ID}(?:/_history/{_ID})?")
_CONDITIONAL = re.compile(r"([A-Za-z]+)\?\S*")


def reference_target(reference: str,
                     resource_types: frozenset[str]) -> tuple[str | None, str | None]:
    """(resource type, problem) for a non-local reference; either may be None.

    Relative references must be ``Type/id`` with an R4 resource type. Absolute RESTful URLs and
    transaction conditional references (``Patient?identifier=...``) give a type when they name an
    R4 resource type; ``urn:uuid:``/``urn:oid:`` and other URIs give none.
    """
    if reference.startswith(("http://", "https://")):
        match = _ABSOLUTE.fullmatch(reference)
        if match and match.group(1) in resource_types:
            return match.group(1), None
        return None, None
    if ":" in reference.split("/", 1)[0]:  # urn:uuid:..., urn:oid:... and other schemes
        return None, None
    conditional = _CONDITIONAL.fullmatch(reference)
    if conditional:
        return _known(conditional.group(1), reference, resource_types)
    match = _RELATIVE.fullmatch(reference)
    if match is None:
        return None, (f"The reference {show(reference)} is not a valid relative reference "
                      f"(expected Type/id, e.g. Patient/123)")
    return _known(match.group(1), reference, resource_types)


def _known(type_: str, reference: str,
           resource_types: frozenset[str]) -> tuple[str | None, str | None]:
    if type_ in resource_types:
        return type_, None
    return None, (f"The reference {show(reference)} names {show(type_)}, which is not an R4 "
                  f"resource type")

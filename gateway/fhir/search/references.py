"""Reading FHIR reference strings: ``Type/id``, absolute URLs, ``urn:`` and contained refs."""
from __future__ import annotations

import re
from dataclasses import dataclass

_ID = r"[A-Za-z0-9\-.]{1,64}"
_TYPE = r"[A-Z][A-Za-z]{1,63}"
_HISTORY = rf"(?:/_history/{_ID})?"
RELATIVE = re.compile(rf"^({_TYPE})/({_ID}){_HISTORY}$")
_ABSOLUTE_TAIL = re.compile(rf"/({_TYPE})/({_ID}){_HISTORY}$")
ID_PATTERN = re.compile(rf"^{_ID}$")


@dataclass(frozen=True)
class Target:
    """Where a reference points: a local ``type``/``id``, or an external ``url`` (maybe typed)."""

    type: str | None
    id: str | None
    url: str | None


def parse_reference(text: str, base_url: str | None = None) -> Target | None:
    """The target of a reference string, or None for contained (``#x``) and unusable values.

    A URL under ``base_url`` (this server's FHIR base) is a local reference like ``Type/id``.
    """
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    match = RELATIVE.match(text)
    if match:
        return Target(match.group(1), match.group(2), None)
    if base_url and text.startswith(base_url.rstrip("/") + "/"):
        local = RELATIVE.match(text[len(base_url.rstrip("/")) + 1:])
        if local:
            return Target(local.group(1), local.group(2), None)
    if "://" in text:
        tail = _ABSOLUTE_TAIL.search(text)
        return Target(tail.group(1) if tail else None, None, text)
    if text.startswith(("urn:uuid:", "urn:oid:")):
        return Target(None, None, text)
    return None


def reference_type(reference: object) -> str | None:
    """The resource type a Reference value points at, as FHIRPath ``resolve() is T`` sees it."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if isinstance(text, str):
        target = parse_reference(text)
        if target is not None and target.type:
            return target.type
    declared = reference.get("type")
    if isinstance(declared, str) and declared:
        # Reference.type is a uri: "Patient" or a StructureDefinition URL ending in the type.
        return declared.rstrip("/").rsplit("/", 1)[-1]
    return None

"""Security labels (``meta.security``) on content the privacy layer must treat specially.

Substance-use-disorder content gets confidentiality R, the SUD sensitivity codes and the 42 CFR
Part 2 refrain policy "no redisclosure without consent", all from the security-label ConceptMap.
"""
from __future__ import annotations

from collections.abc import Iterable

from .codes import PROPERTY_SENSITIVITY
from .context import MappingContext
from .terminology import SECURITY_LABEL

# DS4P inline security label: marks one element (here a reference) as sensitive, so a resource
# that is not itself sensitive can be disclosed with that element removed.
INLINE_LABEL = ("http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/"
                "extension-inline-sec-label")
RESTRICTED = "restricted"
SUBSTANCE_USE = "substance-use"
PART2_REDISCLOSURE = "part2-redisclosure"


def substance_use_sensitivity(ctx: MappingContext) -> list[dict]:
    """The sensitivity codings that mark substance-use-disorder information."""
    return ctx.terminology.translate_all(SECURITY_LABEL, SUBSTANCE_USE)


def substance_use_labels(ctx: MappingContext) -> list[dict]:
    """Every label SUD content carries: confidentiality, sensitivity and refrain policy."""
    terminology = ctx.terminology
    return (terminology.translate_all(SECURITY_LABEL, RESTRICTED)
            + substance_use_sensitivity(ctx)
            + terminology.translate_all(SECURITY_LABEL, PART2_REDISCLOSURE))


def implies_substance_use(ctx: MappingContext, map_name: str, local_code: object) -> bool:
    """Whether the ConceptMap marks ``local_code`` as SUD content (``target.product``)."""
    sud = {(coding["system"], coding["code"]) for coding in substance_use_sensitivity(ctx)}
    return any(product.get("property") == PROPERTY_SENSITIVITY
               and (product.get("system"), product.get("value")) in sud
               for product in ctx.terminology.products(map_name, local_code))


def add_security(resource: dict, labels: Iterable[dict]) -> dict:
    """Add ``labels`` to ``resource.meta.security`` once each; returns the resource."""
    labels = list(labels)
    if not labels:
        return resource
    security = _meta(resource).setdefault("security", [])
    seen = {(label.get("system"), label.get("code")) for label in security}
    for label in labels:
        key = (label.get("system"), label.get("code"))
        if key not in seen:
            security.append(dict(label))
            seen.add(key)
    return resource


def add_tag(resource: dict, tag: dict) -> dict:
    """Add one ``meta.tag`` (e.g. school-relevant) once; returns the resource."""
    tags = _meta(resource).setdefault("tag", [])
    if not any(t.get("system") == tag["system"] and t.get("code") == tag["code"] for t in tags):
        tags.append(dict(tag))
    return resource


def _meta(resource: dict) -> dict:
    """``resource.meta``, created right after ``id`` so the JSON reads in the usual order."""
    if "meta" not in resource:
        rest = [(key, resource.pop(key)) for key in list(resource)
                if key not in ("resourceType", "id")]
        resource["meta"] = {}
        resource.update(rest)
    return resource["meta"]


def is_labelled(resource: dict, labels: Iterable[dict]) -> bool:
    """Whether ``meta.security`` carries any of ``labels``."""
    wanted = {(label.get("system"), label.get("code")) for label in labels}
    return any((label.get("system"), label.get("code")) in wanted
               for label in (resource.get("meta") or {}).get("security", []))


def label_inline(element: dict, labels: Iterable[dict]) -> dict:
    """``element`` with a DS4P inline security label extension per label (a new dict)."""
    return {**element, "extension": [*element.get("extension", []),
                                     *({"url": INLINE_LABEL, "valueCoding": dict(label)}
                                       for label in labels)]}

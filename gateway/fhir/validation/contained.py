"""The R4 rules for contained resources and local ``#id`` references (dom-2..dom-5, ref-1)."""
from __future__ import annotations

from collections.abc import Callable

from .primitives import show

Report = Callable[[str, str, str], None]  # (code, diagnostics, expression)


class ContainedScope:
    """Local references seen while walking one resource that may contain others."""

    __slots__ = ("types", "referenced", "refers_container", "current")

    def __init__(self, resource: dict) -> None:
        contained = resource.get("contained")
        self.types: dict[str, str] = {  # contained id -> resourceType
            item["id"]: item["resourceType"]
            for item in (contained if isinstance(contained, list) else ())
            if isinstance(item, dict) and isinstance(item.get("id"), str)
            and isinstance(item.get("resourceType"), str)}
        self.referenced: set[str] = set()  # ids named by "#id" anywhere in the resource
        self.refers_container: set[int] = set()  # contained indexes that reference "#"
        self.current: int | None = None  # index of the contained resource being walked

    def resolve(self, reference: str, expression: str, report: Report) -> str | None:
        """The type of the contained resource ``#id`` points at; ref-1 if there is none."""
        if reference == "#":  # a contained resource pointing back at its container
            if self.current is not None:
                self.refers_container.add(self.current)
            return None
        self.referenced.add(reference[1:])
        target = self.types.get(reference[1:])
        if target is None:
            report("invariant", "ref-1: SHALL have a contained resource if a local reference "
                   f"is provided; no contained resource has id {show(reference[1:])}",
                   f"{expression}.reference")
        return target

    def check_unreferenced(self, resource: dict, expression: str, report: Report) -> None:
        """dom-3, once the whole container has been walked."""
        contained = resource.get("contained")
        for index, item in enumerate(contained if isinstance(contained, list) else ()):
            if not isinstance(item, dict):
                continue
            id_ = item.get("id")
            if isinstance(id_, str) and id_ in self.referenced or index in self.refers_container:
                continue
            report("invariant", "dom-3: A contained resource SHALL be referred to from "
                   "elsewhere in the resource or SHALL refer to the containing resource",
                   f"{expression}.contained[{index}]")


def check_contained_resource(resource: dict, expression: str, report: Report) -> None:
    """dom-2, dom-4 and dom-5: what a contained resource may not have."""
    if "contained" in resource:
        report("invariant", "dom-2: If the resource is contained in another resource, it SHALL "
               "NOT contain nested Resources", f"{expression}.contained")
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return
    for key in ("versionId", "lastUpdated"):
        if key in meta:
            report("invariant", "dom-4: If a resource is contained in another resource, it "
                   "SHALL NOT have a meta.versionId or a meta.lastUpdated",
                   f"{expression}.meta.{key}")
    if "security" in meta:
        report("invariant", "dom-5: If a resource is contained in another resource, it SHALL "
               "NOT have a security label", f"{expression}.meta.security")

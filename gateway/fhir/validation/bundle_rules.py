"""The rules of a Bundle (R4 bundle.html, its invariants bdl-1 to bdl-12 and the fullUrl
rules), checked where a Bundle is validated: what its type allows of each entry, unique and
well-formed fullUrls, one link of each relation (self, first, next...), the first resource
of a document or message, and references that the Bundle resolves ambiguously or not at all
(bundle.html#references: a reference to a fullUrl that several versions share must name
the version, and a version it names must be there)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Report = Callable[[str, str, str], None]  # (code, diagnostics, expression)

_ID = r"[A-Za-z0-9\-.]{1,64}"
# A RESTful URL: its base, then Type/id (and maybe a version).
_RESTFUL = re.compile(rf"^(https?://\S+/)?([A-Z][A-Za-z]+/{_ID})(?:/_history/({_ID}))?$")
REQUEST_TYPES = frozenset({"batch", "transaction", "history"})
RESPONSE_TYPES = frozenset({"batch-response", "transaction-response", "history"})
# R4 bundle.html#bundle-unique: an absolute URI (RFC 3986: a scheme, then the rest); a urn:uuid:
# or urn:oid: in its own form.
_FULL_URL = re.compile(r"^(?!urn:(uuid|oid):)[A-Za-z][A-Za-z0-9+.\-]*:\S+$"
                       r"|^urn:uuid:[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
                       r"|^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$")


def check_bundle(bundle: dict[str, Any], expression: str, report: Report) -> None:
    kind = bundle.get("type")
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    if "total" in bundle and kind not in ("searchset", "history"):
        report("invariant", "bdl-1: total only when a search or history", f"{expression}.total")
    relations = [link.get("relation") for link in bundle.get("link") or []
                 if isinstance(link, dict)]
    for relation in sorted({r for r in relations if isinstance(r, str)
                            and relations.count(r) > 1}):
        report("invariant", f"a Bundle has at most one link with relation {relation!r}",
               f"{expression}.link")
    seen: dict[tuple[str, Any], int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        at = f"{expression}.entry[{index}]"
        if "search" in entry and kind != "searchset":
            report("invariant", "bdl-2: entry.search only when a search", f"{at}.search")
        if kind in REQUEST_TYPES and "request" not in entry:
            report("invariant", f"bdl-3: every entry of a {kind} Bundle has a request",
                   at)
        if kind not in REQUEST_TYPES and "request" in entry:
            report("invariant", f"bdl-3: a {kind} Bundle's entries have no request",
                   f"{at}.request")
        if kind in RESPONSE_TYPES and "response" not in entry:
            report("invariant", f"bdl-4: every entry of a {kind} Bundle has a response", at)
        if kind not in RESPONSE_TYPES and "response" in entry:
            report("invariant", f"bdl-4: a {kind} Bundle's entries have no response",
                   f"{at}.response")
        if "resource" not in entry and "request" not in entry and "response" not in entry:
            report("invariant", "bdl-5: an entry has a resource, or a request or response", at)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            if "/_history/" in full_url:
                report("invariant", "bdl-8: fullUrl cannot be a version-specific reference",
                       f"{at}.fullUrl")
            elif not _FULL_URL.match(full_url):
                report("invalid", f"fullUrl {full_url!r} must be an absolute URI (a well-formed "
                                  f"urn:uuid: or urn:oid: for those)", f"{at}.fullUrl")
            resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
            version = (resource.get("meta") or {}).get("versionId") \
                if isinstance(resource.get("meta"), dict) else None
            key = (full_url, version)
            if kind != "history" and key in seen:
                report("invariant", f"bdl-7: fullUrl {full_url!r} is also entry "
                                    f"{seen[key]}'s (fullUrls are unique in a Bundle)",
                       f"{at}.fullUrl")
            seen.setdefault(key, index)
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    if kind == "document":
        identifier = bundle.get("identifier") or {}
        if not (isinstance(identifier, dict) and identifier.get("system")
                and identifier.get("value")):
            report("invariant", "bdl-9: a document has an identifier with a system and a value",
                   f"{expression}.identifier")
        if "timestamp" not in bundle:
            report("invariant", "bdl-10: a document has a timestamp", expression)
        if first_type != "Composition":
            report("invariant", "bdl-11: a document's first resource is a Composition",
                   f"{expression}.entry[0]")
    if kind == "message" and first_type != "MessageHeader":
        report("invariant", "bdl-12: a message's first resource is a MessageHeader",
               f"{expression}.entry[0]")
    if kind != "history":
        _check_references(entries, expression, report)


def _check_references(entries: list, expression: str, report: Report) -> None:
    """References from one entry to others, resolved by the fullUrl rules of bundle.html."""
    versions: dict[str, list[object]] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str):
            resource = entry.get("resource")
            meta = resource.get("meta") if isinstance(resource, dict) else None
            versions.setdefault(entry["fullUrl"], []).append(
                meta.get("versionId") if isinstance(meta, dict) else None)
    if all(len(found) == 1 for found in versions.values()):
        return  # every fullUrl is one resource: nothing is ambiguous, no version is missing
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict) \
                or entry["resource"].get("resourceType") == "Bundle":
            continue  # a nested Bundle resolves its own references
        base = _RESTFUL.match(entry.get("fullUrl") or "")
        for reference, at in _references(entry["resource"], f"{expression}.entry[{index}]"
                                                             f".resource"):
            target = _RESTFUL.match(reference)
            if target is None or target.group(1) is None and (base is None or not base.group(1)):
                continue  # not a RESTful reference, or relative to a urn: the server's
            url = (target.group(1) or base.group(1)) + target.group(2)  # type: ignore[union-attr]
            found = versions.get(url, [])
            if target.group(3) is None and len(found) > 1:
                report("invalid", f"Multiple matches in bundle for reference {reference!r}: "
                       f"{len(found)} entries have the fullUrl {url}; name the version", at)
            elif target.group(3) is not None and found and target.group(3) not in found:
                report("not-found", f"Can't find {reference!r} in the bundle: the entries with "
                       f"the fullUrl {url} are other versions", at)


def _references(value: object, expression: str) -> list[tuple[str, str]]:
    """(Reference.reference, its location) in ``value``, not looking into a nested Bundle."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            found.append((value["reference"], expression))
        for key, item in value.items():
            if isinstance(key, str) and key != "reference" and not (
                    isinstance(item, dict) and item.get("resourceType") == "Bundle"):
                found.extend(_references(item, f"{expression}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_references(item, f"{expression}[{index}]"))
    return found

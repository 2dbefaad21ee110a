"""The rules of a Bundle (R4 bundle.html, its invariants bdl-1 to bdl-12 and the fullUrl
rules), checked where a Bundle is validated: what its type allows of each entry, unique and
well-formed fullUrls, one link of each relation (self, first, next...), and the first resource
of a document or message."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Report = Callable[[str, str, str], None]  # (code, diagnostics, expression)

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

"""Bundles and entries as the server sends them, built around the stored JSON text."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from gateway.fhir import json_text, search
from gateway.fhir.elements import SHAPING_MODES, apply_elements, apply_summary
from gateway.fhir.errors import outcome
from gateway.fhir.versions import StoredResource, format_instant


def resource_text(stored: StoredResource, elements: list[str] | None = None,
                  summary: str | None = None) -> str:
    """The stored text, shaped by ``_elements`` or ``_summary`` when asked (only then is it
    parsed)."""
    assert stored.content is not None
    if summary in SHAPING_MODES:
        return json_text.dumps(apply_summary(stored.json(), summary))
    if not elements:
        return stored.content
    return json_text.dumps(apply_elements(stored.json(), elements))


def searchset(fhir_base: str, resource_type: str, request: search.SearchRequest,
              result: search.SearchResult) -> str:
    """The searchset Bundle as text: entries embed the stored JSON without re-parsing it."""
    base = f"{fhir_base}/{resource_type}"
    params = request.link_params()

    def link(relation: str, offset: int) -> dict[str, str]:
        query = params + ([("_offset", str(offset))] if offset else [])
        return {"relation": relation, "url": f"{base}?{urlencode(query)}" if query else base}

    links = [link("self", request.offset)]
    if result.has_next:
        links.append(link("next", request.offset + request.count))
    if request.offset > 0:
        links.append(link("previous", max(0, request.offset - request.count)))
    head: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        head["total"] = result.total
    head["link"] = links
    entries = [_entry_text(fhir_base, row, "match", request.elements, request.summary)
               for row in result.rows]
    entries += [_entry_text(fhir_base, row, "include", None) for row in result.included]
    if request.warnings:
        entries.append(json.dumps({"resource": outcome(request.warnings),
                                   "search": {"mode": "outcome"}}))
    text = json.dumps(head, separators=(",", ":"))
    if not entries:
        return text
    return text[:-1] + ',"entry":[' + ",".join(entries) + "]}"


def _entry_text(fhir_base: str, row: Any, mode: str, elements: list[str] | None,
                summary: str | None = None) -> str:
    stored = StoredResource.from_row(row)
    url = json.dumps(f"{fhir_base}/{stored.resource_type}/{stored.id}")
    return (f'{{"fullUrl":{url},"resource":{resource_text(stored, elements, summary)},'
            f'"search":{{"mode":"{mode}"}}}}')


def history_bundle(fhir_base: str, path: str, versions: list[StoredResource], total: int,
                   kept_params: list[tuple[str, str]], count: int, offset: int
                   ) -> dict[str, Any]:
    def link(relation: str, at: int) -> dict[str, str]:
        return {"relation": relation, "url": f"{path}?{urlencode([*kept_params, ('_offset', at)])}"}

    links = [link("self", offset)]
    if offset + count < total:
        links.append(link("next", offset + count))
    if offset:
        links.append(link("previous", max(0, offset - count)))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "total": total,
                              "link": links}
    if versions:
        bundle["entry"] = [history_entry(fhir_base, stored) for stored in versions]
    return bundle


HISTORY_STATUS = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}


def history_entry(fhir_base: str, stored: StoredResource) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{fhir_base}/{stored.resource_type}/{stored.id}"}
    if not stored.deleted:
        entry["resource"] = stored.json()
    url = stored.resource_type if stored.method == "POST" else \
        f"{stored.resource_type}/{stored.id}"
    entry["request"] = {"method": stored.method, "url": url}
    entry["response"] = {"status": HISTORY_STATUS[stored.method], "etag": stored.etag,
                         "lastModified": format_instant(stored.last_updated)}
    return entry

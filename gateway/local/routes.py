"""``POST /local/records``: the import pipeline over HTTP, for the agency's own systems."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, request

from gateway.fhir.errors import FhirError
from gateway.local.pipeline import RecordImporter, Summary, in_dependency_order
from gateway.local.sources import SourceRecord
from gateway.local.translate import translator_for
from gateway.state import gateway_state, require_operator

bp = Blueprint("local", __name__, url_prefix="/local")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@bp.before_request
def operators_only() -> None:
    g.principal = require_operator(request.headers.get("Authorization"), "post local records")


@bp.post("/records")
def post_records() -> Response:
    """A batch of records (a JSON array, one record, ``{"records": [...]}`` or NDJSON); the
    answer gives each record's outcome in order."""
    items = _source_records()
    state = gateway_state()
    summary = Summary()
    by_source = {}
    importer = RecordImporter(state, translator_for(state.config))
    for outcome in importer.run(in_dependency_order(items)):
        summary.add(outcome)
        by_source[outcome.source] = outcome.as_dict()
    # Processed organizations first; reported in the order they were sent.
    body = {"summary": summary.as_dict(),
            "outcomes": [by_source[item.source] for item in items]}
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


def _source_records() -> list[SourceRecord]:
    mimetype = (request.mimetype or "").lower()
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FhirError(400, "invalid", "the request body is not UTF-8") from None
    if mimetype in NDJSON_TYPES:
        return [_parse_line(number, line) for number, line in enumerate(text.splitlines(), 1)
                if line.strip()]
    if mimetype not in ("application/json", "application/fhir+json"):
        raise FhirError(415, "not-supported",
                        "send application/json (a record or an array) or application/x-ndjson")
    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise FhirError(400, "invalid", f"the body is not valid JSON: {error.msg} at line "
                                        f"{error.lineno} column {error.colno}") from None
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        body = body["records"]
    records = body if isinstance(body, list) else [body]
    return [SourceRecord(f"request[{index}]", record, None) for index, record in enumerate(records)]


def _parse_line(number: int, line: str) -> SourceRecord:
    try:
        return SourceRecord(f"request:{number}", json.loads(line), None)
    except json.JSONDecodeError as error:
        return SourceRecord(f"request:{number}", None, f"not valid JSON: {error.msg}")

"""The FHIR R4 REST API at ``/fhir``: one view per interaction, all storage in the repository."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from gateway.fhir import json_text, search
from gateway.fhir.bundles import process_bundle
from gateway.fhir.elements import SUMMARY_MODES
from gateway.fhir.errors import FhirError, issue, outcome
from gateway.fhir.http import Prefer, fhir_response, json_body, negotiate
from gateway.fhir.interactions import INTERACTION_PERMISSION, OPERATION_ENDPOINTS
from gateway.fhir.operations import Operation, OperationCall
from gateway.fhir.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    apply_fhirpath_patch,
    apply_json_patch,
    apply_merge_patch,
)
from gateway.fhir.rendering import history_bundle, resource_text, searchset
from gateway.fhir.repository import ID_PATTERN
from gateway.fhir.resource_types import is_supported
from gateway.fhir.search.parse import MAX_INTEGER_PARAM
from gateway.fhir.services import services
from gateway.fhir.validation.definitions import load_definitions
from gateway.fhir.versions import StoredResource, WriteResult

# The app factory adds the request's AuditEvent as an after-request hook of this blueprint
# (gateway/audit/access.py), so the REST layer knows nothing of the audit trail.
bp = Blueprint("fhir", __name__, url_prefix="/fhir")

PUBLIC_ENDPOINTS = {"fhir.metadata", "fhir.operation_definition"}
# The largest POST _search body: parameters, which a URL would carry in 8 kB.
MAX_SEARCH_BODY = 64 * 1024
# Query parameters that shape the response rather than select resources.
FORMAT_PARAMS = {"_format", "_pretty"}


@bp.before_request
def gate() -> None:
    negotiate(request)
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    g.principal = services().authenticate(request.headers.get("Authorization"))
    args = request.view_args or {}
    resource_type = args.get("resource_type")
    if request.endpoint in OPERATION_ENDPOINTS:
        g.operation = services().operations.find(args["operation"], resource_type,
                                                 instance="resource_id" in args)
        g.interaction = "operation"
        permission = g.operation.permission
    else:
        permission = "s" if request.endpoint == "fhir.search_type" else \
            INTERACTION_PERMISSION.get(request.method, "r")
    if resource_type and is_supported(resource_type):
        g.principal.authorize(resource_type, permission)


# -- helpers -----------------------------------------------------------------------------------

def checked_type(resource_type: str) -> str:
    if not is_supported(resource_type):
        raise FhirError(404, "not-supported",
                        f"resource type {resource_type!r} is not supported by this server")
    return resource_type


def checked_id(resource_id: str) -> str:
    if resource_id.startswith("$"):
        raise FhirError(400, "not-supported", f"operation {resource_id!r} is not supported")
    if not ID_PATTERN.match(resource_id):
        raise FhirError(400, "invalid", f"{resource_id!r} is not a valid FHIR id")
    return resource_id


def version_headers(stored: StoredResource) -> dict[str, str]:
    return {"ETag": stored.etag,
            "Last-Modified": stored.last_updated.strftime("%a, %d %b %Y %H:%M:%S GMT")}


def requested_elements() -> list[str] | None:
    raw = request.args.get("_elements")
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def requested_summary() -> str | None:
    """``_summary`` of a read (true, text, data, false; count is for searches)."""
    raw = request.args.get("_summary")
    if raw is not None and raw not in SUMMARY_MODES - {"count"}:
        raise FhirError(400, "invalid", f"_summary must be true, text, data or false for a "
                                        f"read, not {raw!r}", "_summary")
    return raw


def write_response(result: WriteResult, prefer: Prefer, created_status: int = 201) -> Response:
    stored = result.stored
    status = created_status if result.created else 200
    headers = version_headers(stored)
    if result.created:
        headers["Location"] = f"{services().config.fhir_base_url}/{stored.location}"
    if prefer.return_ == "minimal":
        return fhir_response(None, status, headers)
    if prefer.return_ == "OperationOutcome":
        verb = "created" if result.created else ("updated" if result.changed else "unchanged")
        return fhir_response(outcome([issue("information", "informational",
                                            f"{stored.resource_type}/{stored.id} {verb}, "
                                            f"version {stored.version_id}")]), status, headers)
    return fhir_response(stored.content, status, headers)


def criteria() -> str:
    """The request's search criteria as a query string (without the format parameters)."""
    return urlencode([(name, value) for name, value in request.args.items(multi=True)
                      if name not in FORMAT_PARAMS])


def required_criteria(what: str) -> str:
    query = criteria()
    if not query:
        raise FhirError(400, "required", f"{what} needs search criteria in the query string")
    return query


def patch_body() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The change a PATCH body describes: JSON Patch, FHIRPath Patch or a merge patch
    (gateway/fhir/patch.py)."""
    mimetype = (request.mimetype or "").lower()
    if mimetype in (JSON_PATCH, MERGE_PATCH):
        try:
            body = json_text.loads(request.get_data(cache=True))
        except UnicodeDecodeError:
            raise FhirError(400, "invalid", "the patch body is not UTF-8") from None
        if mimetype == JSON_PATCH:
            return lambda resource: apply_json_patch(resource, body)
        return lambda resource: apply_merge_patch(resource, body)
    body = json_body(request)  # 415 for anything but FHIR JSON
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        return lambda resource: apply_fhirpath_patch(resource, body)
    return lambda resource: apply_merge_patch(resource, body)


def query_params() -> list[tuple[str, str]]:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":  # POST [type]/_search: the form carries the parameters too
        pairs += list(request.form.items(multi=True))
    return [(name, value) for name, value in pairs if name not in FORMAT_PARAMS]


def int_param(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 \
            or int(raw) > MAX_INTEGER_PARAM:
        raise FhirError(400, "invalid", f"{name} must be a non-negative integer of at most "
                                        f"{MAX_INTEGER_PARAM:,}", name)
    return min(int(raw), maximum) if maximum is not None else int(raw)


# -- the server as a whole -------------------------------------------------------------------

@bp.get("/metadata")
def metadata() -> Response:
    return fhir_response(services().capability_statement)


@bp.post("")
@bp.post("/")
def transaction_or_batch() -> Response:
    bundle = json_body(request)
    if isinstance(bundle, dict) and bundle.get("type") == "batch":
        g.interaction = "batch"  # for the AuditEvent (the endpoint serves both)
    prefer = Prefer.parse(request.headers.get("Prefer"))
    return fhir_response(process_bundle(services(), bundle, prefer, g.principal))


# -- operations (gateway/fhir/operations/__init__.py) -------------------------------------------

@bp.get("/OperationDefinition/<definition_id>")
def operation_definition(definition_id: str) -> Response:
    """HL7's OperationDefinition of an operation this server serves (public, as metadata)."""
    served = {op.definition.rsplit("/", 1)[-1] for op in services().operations
              if op.definition}
    definition = load_definitions("operation-definitions.json").get(definition_id)
    if definition is None or definition_id not in served:
        raise FhirError(404, "not-found", f"OperationDefinition/{definition_id} is not known")
    return fhir_response(definition)


@bp.post("/$<operation>")
def operation_system(operation: str) -> Response:
    return run_operation(g.operation, None, None)


# The registry has checked that the operation is defined on the type (which need not be one
# this server stores: $validate takes any R4 resource type).
@bp.post("/<resource_type>/$<operation>")
def operation_type(resource_type: str, operation: str) -> Response:
    return run_operation(g.operation, resource_type, None)


@bp.post("/<resource_type>/<resource_id>/$<operation>")
def operation_instance(resource_type: str, resource_id: str, operation: str) -> Response:
    return run_operation(g.operation, resource_type, resource_id)


def run_operation(operation: Operation, resource_type: str | None, resource_id: str | None
                  ) -> Response:
    result = operation.run(OperationCall(g.principal, resource_type, resource_id,
                                         json_body(request), request.args.to_dict()))
    g.audited = result.audited
    return fhir_response(result.body, result.status)


# -- type level ----------------------------------------------------------------------------------

@bp.get("/<resource_type>")
@bp.post("/<resource_type>/_search")
def search_type(resource_type: str) -> Response:
    checked_type(resource_type)
    state = services()
    prefer = Prefer.parse(request.headers.get("Prefer"))
    if request.method == "POST" and request.mimetype != "application/x-www-form-urlencoded":
        raise FhirError(415, "not-supported",
                        "POST _search takes application/x-www-form-urlencoded parameters")
    if request.method == "POST" and (request.content_length or 0) > MAX_SEARCH_BODY:
        raise FhirError(413, "too-costly", f"a _search body may be at most {MAX_SEARCH_BODY:,} "
                                           f"bytes (search parameters, not content)")
    search_request = search.parse_search(
        resource_type, query_params(), state.search_registry, lenient=prefer.lenient,
        default_count=state.config.default_page_size, max_count=state.config.max_page_size,
        base_url=state.config.fhir_base_url)
    with state.reading(g.principal) as repository:
        result = repository.search(search_request)
    return fhir_response(searchset(state.config.fhir_base_url, resource_type, search_request,
                                   result))


@bp.post("/<resource_type>")
def create(resource_type: str) -> Response:
    checked_type(resource_type)
    if criteria():
        # Some clients send a conditional create this way; R4 has it in If-None-Exist, and a
        # create that ignored the query would make a silent duplicate.
        raise FhirError(400, "not-supported",
                        "a create takes no search parameters; send a conditional create's "
                        "criteria in the If-None-Exist header")
    resource = json_body(request)
    prefer = Prefer.parse(request.headers.get("Prefer"))
    with services().writing(g.principal) as repository:
        result = repository.create(resource_type, resource,
                                   if_none_exist=request.headers.get("If-None-Exist"))
    return write_response(result, prefer)


@bp.put("/<resource_type>")
def conditional_update(resource_type: str) -> Response:
    checked_type(resource_type)
    query = required_criteria("a conditional update")
    resource = json_body(request)
    prefer = Prefer.parse(request.headers.get("Prefer"))
    with services().writing(g.principal) as repository:
        result = repository.conditional_update(resource_type, query, resource,
                                               if_match=request.headers.get("If-Match"))
    return write_response(result, prefer)


@bp.delete("/<resource_type>")
def conditional_delete(resource_type: str) -> Response:
    checked_type(resource_type)
    query = required_criteria("a conditional delete")
    with services().writing(g.principal) as repository:
        stored = repository.conditional_delete(resource_type, query)
    return fhir_response(None, 204, {"ETag": stored.etag} if stored else {})


@bp.patch("/<resource_type>")
def conditional_patch(resource_type: str) -> Response:
    checked_type(resource_type)
    query = required_criteria("a conditional patch")
    change = patch_body()
    prefer = Prefer.parse(request.headers.get("Prefer"))
    with services().writing(g.principal) as repository:
        result = repository.conditional_patch(resource_type, query, change,
                                              if_match=request.headers.get("If-Match"))
    return write_response(result, prefer)


@bp.get("/<resource_type>/_history")
def history_type(resource_type: str) -> Response:
    return history(checked_type(resource_type), None)


# -- instance level ------------------------------------------------------------------------------

@bp.get("/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str) -> Response:
    checked_type(resource_type)
    checked_id(resource_id)
    with services().reading(g.principal) as repository:
        stored = repository.read(resource_type, resource_id)
    headers = version_headers(stored)
    if request.headers.get("If-None-Match") in (stored.etag, f'"{stored.version_id}"'):
        return fhir_response(None, 304, headers)
    return fhir_response(resource_text(stored, requested_elements(), requested_summary()), 200,
                         headers)


@bp.put("/<resource_type>/<resource_id>")
def update(resource_type: str, resource_id: str) -> Response:
    checked_type(resource_type)
    checked_id(resource_id)
    resource = json_body(request)
    prefer = Prefer.parse(request.headers.get("Prefer"))
    with services().writing(g.principal) as repository:
        result = repository.update(resource_type, resource_id, resource,
                                   if_match=request.headers.get("If-Match"))
    return write_response(result, prefer)


@bp.patch("/<resource_type>/<resource_id>")
def patch(resource_type: str, resource_id: str) -> Response:
    checked_type(resource_type)
    checked_id(resource_id)
    change = patch_body()
    prefer = Prefer.parse(request.headers.get("Prefer"))
    with services().writing(g.principal) as repository:
        result = repository.patch(resource_type, resource_id, change,
                                  if_match=request.headers.get("If-Match"))
    return write_response(result, prefer)


@bp.delete("/<resource_type>/<resource_id>")
def delete(resource_type: str, resource_id: str) -> Response:
    checked_type(resource_type)
    checked_id(resource_id)
    with services().writing(g.principal) as repository:
        stored = repository.delete(resource_type, resource_id)
    headers = {"ETag": stored.etag} if stored else {}
    return fhir_response(None, 204, headers)


@bp.get("/<resource_type>/<resource_id>/_history")
def history_instance(resource_type: str, resource_id: str) -> Response:
    checked_type(resource_type)
    checked_id(resource_id)
    return history(resource_type, resource_id)


@bp.get("/<resource_type>/<resource_id>/_history/<version_id>")
def vread(resource_type: str, resource_id: str, version_id: str) -> Response:
    checked_type(resource_type)
    checked_id(resource_id)
    with services().reading(g.principal) as repository:
        stored = repository.vread(resource_type, resource_id, version_id)
    return fhir_response(resource_text(stored, requested_elements(), requested_summary()), 200,
                         version_headers(stored))


def history(resource_type: str, resource_id: str | None) -> Response:
    state = services()
    count = int_param("_count", state.config.default_page_size, state.config.max_page_size)
    offset = int_param("_offset", 0)
    since = parse_since(request.args.get("_since"))
    with state.reading(g.principal) as repository:
        versions, total = repository.history(resource_type, resource_id, since=since,
                                             count=count, offset=offset)
        if resource_id and total == 0:
            raise FhirError(404, "not-found", f"{resource_type}/{resource_id} is not known")
    path = f"{state.config.fhir_base_url}/{resource_type}"
    path += f"/{resource_id}/_history" if resource_id else "/_history"
    kept = [(k, v) for k, v in request.args.items(multi=True) if k in ("_count", "_since")]
    return fhir_response(history_bundle(state.config.fhir_base_url, path, versions, total, kept,
                                        count, offset))


def parse_since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, "invalid", f"_since must be an instant, got {raw!r}",
                        "_since") from None
    if moment.tzinfo is None:
        raise FhirError(400, "invalid", "_since must include a time zone", "_since")
    return moment

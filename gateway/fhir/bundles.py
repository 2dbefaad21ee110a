"""``POST /fhir`` with a ``transaction`` (atomic) or ``batch`` (independent) Bundle.

A transaction assigns ids to its ``urn:uuid:`` entries before anything is written, rewrites the
references between entries, resolves conditional references, then processes entries in the
order the specification gives (DELETE, POST, PUT, GET) inside one database transaction: either
every entry succeeds or nothing is stored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gateway.fhir import json_text, search
from gateway.fhir.access import Requester
from gateway.fhir.errors import FhirError, outcome
from gateway.fhir.http import Prefer
from gateway.fhir.integrity import DanglingReferences
from gateway.fhir.interactions import INTERACTION_PERMISSION
from gateway.fhir.rendering import searchset
from gateway.fhir.repository import ID_PATTERN, Repository
from gateway.fhir.resource_types import is_supported
from gateway.fhir.services import FhirServices
from gateway.fhir.versions import StoredResource, WriteResult, format_instant

PROCESSING_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}
RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[^/]+)?$")
# An absolute fullUrl of a RESTful server: its base, the type and the id.
_ABSOLUTE_FULLURL = re.compile(r"^(https?://.+)/[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}"
                               r"(/_history/[^/]+)?$")
# A conditional create whose match exists is processed with the creates, but stores nothing.
MATCHED = "MATCHED"
STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


@dataclass
class EntryRequest:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    version_id: str | None
    query: list[tuple[str, str]]
    resource: Any
    full_url: str | None
    if_match: str | None
    if_none_exist: str | None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}]"


def process_bundle(state: FhirServices, bundle: Any, prefer: Prefer, requester: Requester
                   ) -> dict[str, Any]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "invalid", "the body of POST /fhir must be a Bundle", "Bundle")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(400, "invalid",
                        f"only transaction and batch Bundles can be posted here, not {kind!r}",
                        "Bundle.type")
    raw_entries = bundle.get("entry", [])
    if not isinstance(raw_entries, list):
        raise FhirError(400, "structure", "Bundle.entry must be an array", "Bundle.entry")
    base = state.config.fhir_base_url
    if kind == "transaction":
        for hook in state.hooks.before_transaction:
            bundle = hook(requester, bundle)
        raw_entries = bundle.get("entry", [])
    if kind == "batch":
        return {"resourceType": "Bundle", "type": "batch-response",
                "entry": [batch_entry(state, index, raw, base, prefer, requester)
                          for index, raw in enumerate(raw_entries)]}
    entries = [parse_entry(index, raw, base) for index, raw in enumerate(raw_entries)]
    for entry in entries:  # all or nothing: every entry's scope is checked before any runs
        try:
            authorize_entry(requester, entry)
        except FhirError as error:
            raise relocated(error, entry) from None
    with state.writing(requester) as repository:
        responses = run_transaction(repository, entries, base, state, prefer)
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": responses}


# -- parsing -----------------------------------------------------------------------------------

def parse_entry(index: int, raw: Any, base: str) -> EntryRequest:
    path = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise FhirError(400, "structure", "a Bundle entry must be an object", path)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise FhirError(400, "required", "every entry needs a request", f"{path}.request")
    method = request.get("method")
    if method not in PROCESSING_ORDER:
        raise FhirError(400, "not-supported" if method == "PATCH" else "invalid",
                        f"request.method {method!r} is not supported (GET, POST, PUT, DELETE)",
                        f"{path}.request.method")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise FhirError(400, "required", "request.url is required", f"{path}.request.url")
    if url.startswith(base + "/"):
        url = url[len(base) + 1:]
    split = urlsplit(url)
    if split.scheme or split.netloc:
        raise FhirError(400, "invalid", f"request.url {url!r} is not on this server",
                        f"{path}.request.url")
    parts = [part for part in split.path.split("/") if part]
    if not parts or not is_supported(parts[0]):
        raise FhirError(400, "not-supported",
                        f"request.url {url!r} names no supported resource type",
                        f"{path}.request.url")
    resource_id = parts[1] if len(parts) > 1 else None
    version_id = parts[3] if len(parts) == 4 and parts[2] == "_history" else None
    if (len(parts) > 2 and version_id is None) or len(parts) > 4 or \
            (resource_id is not None and not ID_PATTERN.match(resource_id)):
        raise FhirError(400, "invalid", f"request.url {url!r} is not a supported form",
                        f"{path}.request.url")
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise FhirError(400, "required", f"a {method} entry needs a resource",
                        f"{path}.resource")
    if method == "PUT" and resource_id is None:
        raise FhirError(400, "not-supported", "conditional update is not supported; "
                        "PUT entries need Type/id", f"{path}.request.url")
    if method == "DELETE" and resource_id is None:
        raise FhirError(400, "not-supported", "conditional delete is not supported; "
                        "DELETE entries need Type/id", f"{path}.request.url")
    if method == "POST" and resource_id is not None:
        raise FhirError(400, "invalid", "a POST entry's url is the resource type alone",
                        f"{path}.request.url")
    full_url = raw.get("fullUrl")
    return EntryRequest(index, method, parts[0], resource_id, version_id,
                        parse_qsl(split.query, keep_blank_values=True), resource,
                        full_url if isinstance(full_url, str) else None,
                        request.get("ifMatch"), request.get("ifNoneExist"))


# -- transaction -------------------------------------------------------------------------------

def run_transaction(repository: Repository, entries: list[EntryRequest], base: str,
                    state: FhirServices, prefer: Prefer) -> list[dict[str, Any]]:
    check_identities(entries)
    targets = assign_identities(repository, entries, base)
    for entry in entries:
        if entry.resource is not None:
            entry.resource = rewrite_references(repository, entry, targets)
    responses: dict[int, dict[str, Any]] = {}
    for entry in sorted(entries, key=lambda e: (PROCESSING_ORDER.get(e.method, 1), e.index)):
        try:
            responses[entry.index] = perform(repository, entry, targets, base, state, prefer)
        except FhirError as error:
            raise relocated(error, entry) from None
    try:  # after every entry: an entry may refer to what a later one creates
        repository.check_references()
    except DanglingReferences as error:
        raise located_in_entries(error, entries) from None
    return [responses[entry.index] for entry in entries]


def located_in_entries(error: DanglingReferences, entries: list[EntryRequest]) -> FhirError:
    """Each dangling reference located in the entry that wrote the resource holding it."""
    writers = {f"{e.resource_type}/{e.resource_id}": e for e in entries
               if e.method in ("POST", "PUT")}
    issues = []
    for reference, item in zip(error.references, error.issues, strict=True):
        entry = writers.get(reference.source)
        issues.append({**item, "expression": [_inside_entry(reference.path, entry)]}
                      if entry is not None else item)
    return FhirError(error.status, "", "", issues=issues)


def check_identities(entries: list[EntryRequest]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.method in ("PUT", "DELETE"):
            key = f"{entry.resource_type}/{entry.resource_id}"
            if key in seen:
                raise FhirError(400, "duplicate",
                                f"{key} is changed by entries {seen[key]} and {entry.index}; a "
                                f"transaction may change a resource only once",
                                f"{entry.path}.request.url")
            seen[key] = entry.index


def assign_identities(repository: Repository, entries: list[EntryRequest], base: str
                      ) -> dict[str, str]:
    """fullUrl -> ``Type/id`` for every entry that creates or updates a resource. An entry
    whose fullUrl is absolute on another server (a hospital's own ids) is also the target of
    the relative ``Type/id`` its fullUrl ends in, when no other entry's does: that is what a
    sibling means by it (R4 bundle.html#references)."""
    targets: dict[str, str] = {}
    tails: dict[str, str | None] = {}
    for entry in entries:
        if entry.method == "POST":
            existing = (repository.find(entry.resource_type, entry.if_none_exist)
                        if entry.if_none_exist else [])
            if len(existing) > 1:
                raise FhirError(412, "duplicate", f"ifNoneExist {entry.if_none_exist!r} matches "
                                f"more than one {entry.resource_type}",
                                f"{entry.path}.request.ifNoneExist")
            entry.resource_id = existing[0].id if existing else repository.new_id()
            if existing:
                entry.method = MATCHED
        if entry.full_url and entry.method in ("POST", "PUT", MATCHED):
            targets[entry.full_url] = f"{entry.resource_type}/{entry.resource_id}"
            tail = _fullurl_tail(entry.full_url)
            if tail is not None and not entry.full_url.startswith(base + "/"):
                tails[tail] = None if tail in tails else targets[entry.full_url]
        if entry.method in ("POST", "PUT", MATCHED) and entry.resource_id:
            # Absolute fullUrls on this server resolve the same way as relative references.
            targets[f"{base}/{entry.resource_type}/{entry.resource_id}"] = \
                f"{entry.resource_type}/{entry.resource_id}"
    for tail, target in tails.items():
        if target is not None:
            targets.setdefault(tail, target)
    return targets


def rewrite_references(repository: Repository, entry: EntryRequest, targets: dict[str, str]
                       ) -> Any:
    """The entry's resource with every reference to another entry (by its fullUrl, in
    whatever form) and every conditional reference resolved, wherever it is: in extensions and
    contained resources too (R4 bundle.html#references, http.html#trules)."""
    base = _fullurl_base(entry.full_url)

    def rewrite(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            result = {}
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    result[key] = resolve_reference(repository, value, targets, f"{path}.{key}",
                                                    base)
                else:
                    result[key] = rewrite(value, f"{path}.{key}")
            return result
        if isinstance(node, list):
            return [rewrite(item, f"{path}[{i}]") for i, item in enumerate(node)]
        return node

    return rewrite(entry.resource, f"{entry.path}.resource")


def resolve_reference(repository: Repository, reference: str, targets: dict[str, str],
                      path: str, base: str | None = None) -> str:
    if reference in targets:
        return targets[reference]
    # A relative reference in an entry whose fullUrl is absolute is relative to that fullUrl's
    # base (R4 bundle.html#references): Task at http://h.example/fhir/Task/t1 referring to
    # ServiceRequest/sr1 means the entry http://h.example/fhir/ServiceRequest/sr1.
    if base is not None and RELATIVE_REFERENCE.match(reference) \
            and f"{base}/{reference}" in targets:
        return targets[f"{base}/{reference}"]
    if reference.startswith(("urn:uuid:", "urn:oid:")):
        raise FhirError(400, "not-found",
                        f"reference {reference!r} is not the fullUrl of any entry", path)
    resource_type, _, query = reference.partition("?")
    if query and "/" not in resource_type and is_supported(resource_type):
        matches = repository.find(resource_type, query)
        if len(matches) != 1:
            raise FhirError(412, "not-found" if not matches else "multiple-matches",
                            f"conditional reference {reference!r} matches {len(matches)} "
                            f"resources; it must match exactly one", path)
        return f"{resource_type}/{matches[0].id}"
    return reference


def _fullurl_base(full_url: str | None) -> str | None:
    match = _ABSOLUTE_FULLURL.match(full_url or "")
    return match.group(1) if match else None


def _fullurl_tail(full_url: str) -> str | None:
    """``Type/id`` of an absolute fullUrl (None for urn:uuid: and the like)."""
    base = _fullurl_base(full_url)
    return full_url[len(base) + 1:].split("/_history/")[0] if base else None


def authorize_entry(requester: Requester, entry: EntryRequest) -> None:
    """The requester's scopes must allow the entry's interaction, as for a plain request."""
    if entry.method == "GET":
        permission = "r" if entry.resource_id else "s"
    else:
        permission = INTERACTION_PERMISSION.get(entry.method, "c")
    if entry.method == MATCHED:
        permission = "c"
    requester.authorize(entry.resource_type, permission)


def perform(repository: Repository, entry: EntryRequest, targets: dict[str, str], base: str,
            state: FhirServices, prefer: Prefer) -> dict[str, Any]:
    if entry.method == "DELETE":
        assert entry.resource_id is not None
        stored = repository.delete(entry.resource_type, entry.resource_id)
        return {"response": {"status": "204 No Content",
                             **({"etag": stored.etag} if stored else {})}}
    if entry.method == MATCHED:
        stored = repository.read(entry.resource_type, entry.resource_id or "")
        return write_entry(WriteResult(stored, created=False, changed=False), base, prefer)
    if entry.method == "POST":
        return write_entry(repository.create(entry.resource_type, entry.resource,
                                             resource_id=entry.resource_id), base, prefer)
    if entry.method == "PUT":
        assert entry.resource_id is not None
        return write_entry(repository.update(entry.resource_type, entry.resource_id,
                                             entry.resource, if_match=entry.if_match),
                           base, prefer)
    return read_entry(repository, entry, base, state)


def write_entry(result: WriteResult, base: str, prefer: Prefer) -> dict[str, Any]:
    stored = result.stored
    entry: dict[str, Any] = {"fullUrl": f"{base}/{stored.resource_type}/{stored.id}"}
    if prefer.return_ != "minimal":
        entry["resource"] = stored.json()
    entry["response"] = {"status": STATUS_TEXT[201 if result.created else 200],
                         "location": stored.location, "etag": stored.etag,
                         "lastModified": format_instant(stored.last_updated)}
    return entry


def read_entry(repository: Repository, entry: EntryRequest, base: str, state: FhirServices
               ) -> dict[str, Any]:
    if entry.resource_id is None:
        request = search.parse_search(entry.resource_type, entry.query, state.search_registry,
                                      lenient=False, default_count=state.config.default_page_size,
                                      max_count=state.config.max_page_size, base_url=base)
        result = repository.search(request)
        bundle = json_text.loads_stored(searchset(base, entry.resource_type, request, result))
        return {"resource": bundle, "response": {"status": "200 OK"}}
    stored: StoredResource = (
        repository.vread(entry.resource_type, entry.resource_id, entry.version_id)
        if entry.version_id else repository.read(entry.resource_type, entry.resource_id))
    return {"fullUrl": f"{base}/{stored.resource_type}/{stored.id}", "resource": stored.json(),
            "response": {"status": "200 OK", "etag": stored.etag,
                         "lastModified": format_instant(stored.last_updated)}}


def relocated(error: FhirError, entry: EntryRequest) -> FhirError:
    """The same error, its locations moved inside the entry that caused it."""
    issues = []
    for item in error.issues:
        moved = dict(item)
        expressions = item.get("expression") or []
        if expressions:
            moved["expression"] = [_inside_entry(expr, entry) for expr in expressions]
        else:
            moved["expression"] = [entry.path]
        issues.append(moved)
    return FhirError(error.status, "", "", issues=issues, headers=error.headers)


def _inside_entry(expression: str, entry: EntryRequest) -> str:
    if expression.startswith("Bundle.entry["):
        return expression
    head, dot, rest = expression.partition(".")
    if head == entry.resource_type:
        return f"{entry.path}.resource" + (f".{rest}" if dot else "")
    return f"{entry.path}.request ({expression})"


# -- batch -------------------------------------------------------------------------------------

def batch_entry(state: FhirServices, index: int, raw: Any, base: str, prefer: Prefer,
                requester: Requester) -> dict[str, Any]:
    """One batch entry in its own database transaction; its failure is its own."""
    try:
        entry = parse_entry(index, raw, base)
        authorize_entry(requester, entry)
        if entry.method == "POST" and entry.if_none_exist:
            with state.writing(requester) as repository:
                targets = assign_identities(repository, [entry], base)
                return perform(repository, entry, targets, base, state, prefer)
        with state.writing(requester) as repository:
            return perform(repository, entry, {}, base, state, prefer)
    except FhirError as error:
        located = relocated(error, EntryRequest(index, "", _type_of(raw), None, None, [], None,
                                                None, None, None))
        return {"response": {"status": f"{error.status}",
                             "outcome": outcome(located.issues)}}


def _type_of(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("resource"), dict):
        return str(raw["resource"].get("resourceType", ""))
    return ""


"""Loopback FHIR partner endpoints: the demo's partners and the delivery tests' stand-in partner.

The outbound delivery engine pushes FHIR ``transaction`` Bundles to partner servers (a
primary-care clinic, a hospital). ``ReceivingFhirServer`` is a small but real HTTP FHIR server
that receives and applies those Bundles, so that ``gateway demo``, the reliability tests and the
benchmarks exercise real sockets instead of mocks. It records what it received for assertions
and can be told to misbehave (fail, answer slowly, go away) the way real partners do.

It keeps everything in memory, is not a conformant FHIR server, and is never bound beyond
loopback: constructing one for any other address raises ``ValueError``.

Try one by hand with ``python -m gateway.demo_endpoints --name pcp --port 8091``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import ipaddress
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from gateway.fhir.errors import issue, outcome

FHIR_JSON = "application/fhir+json"
BASE_PATH = "/fhir"
RECENT_REQUESTS = 20
POLL_INTERVAL = 0.05  # how often the serving loop checks for stop(); bounds stop()'s latency
STOP_GRACE = 1.0  # how long stop() waits for in-flight requests to leave the application
WRITE_METHODS = frozenset({"POST", "PUT"})
PATIENT_REFERENCE_FIELDS = ("subject", "patient", "for", "beneficiary")

Key = tuple[str, str]
"""``(resourceType, id)``."""


# --- small pure helpers --------------------------------------------------------------------


def _require_loopback(host: str) -> None:
    """Refuse anything but a loopback IP literal: this server has no authentication worth
    the name and must never be reachable from another machine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address; use 127.0.0.1 or ::1") from None
    if not address.is_loopback:
        raise ValueError(f"{host!r} is not a loopback address; use 127.0.0.1 or ::1")


def _is_type(text: str) -> bool:
    """A plausible FHIR resource type name (``Patient``), so URLs like ``a/b/c`` are refused."""
    return 0 < len(text) <= 64 and text[0].isupper() and text.isalpha() and text.isascii()


def _is_id(text: str) -> bool:
    """A FHIR id: 1-64 of ``A-Za-z0-9-.``."""
    return 0 < len(text) <= 64 and text.isascii() and all(c.isalnum() or c in "-." for c in text)


def _split_type_id(url: str) -> Key | None:
    """``"Patient/p1"`` -> ``("Patient", "p1")``; ``None`` for anything else."""
    parts = url.split("/")
    if len(parts) == 2 and _is_type(parts[0]) and _is_id(parts[1]):
        return parts[0], parts[1]
    return None


def _content_hash(resource: dict[str, Any]) -> str:
    """Hash of the content without ``meta``, so a re-sent resource with a new lastUpdated still
    counts as the same content."""
    content = {k: v for k, v in resource.items() if k != "meta"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> str:
    """Wall-clock time as FHIR instant, for meta.lastUpdated and the summary page."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _status_text(status: int) -> str:
    """``201`` -> ``"201 Created"``, as Bundle.entry.response.status wants it."""
    return f"{status} {HTTPStatus(status).phrase}"


def _parse_if_none_exist(text: str) -> tuple[str | None, str]:
    """``identifier=system|value`` -> ``(system, value)``; a bare value matches any system and
    ``|value`` matches identifiers without a system. Other searches are refused rather than
    silently ignored, so a client relying on them notices."""
    name, sep, value = text.partition("=")
    if name != "identifier" or not sep or not value or "&" in value:
        raise FhirError(400, f"unsupported ifNoneExist {text!r}; only identifier=system|value")
    system, pipe, code = unquote(value).rpartition("|")
    return (system if pipe else None), code


def _has_identifier(resource: dict[str, Any], system: str | None, value: str) -> bool:
    """Whether the resource carries the identifier an ifNoneExist asks for."""
    for identifier in resource.get("identifier") or []:
        if not isinstance(identifier, dict) or identifier.get("value") != value:
            continue
        if system is None or identifier.get("system", "") == system:
            return True
    return False


def _rewrite_references(node: Any, mapping: dict[str, str]) -> Any:
    """Replace ``urn:uuid:`` references by the ids this transaction gave their targets, as a
    FHIR server does, so stored resources point at resources that exist."""
    if isinstance(node, dict):
        return {k: (mapping.get(v, v) if k == "reference" and isinstance(v, str)
                    else _rewrite_references(v, mapping)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_references(item, mapping) for item in node]
    return node


def _references_patient(resource: dict[str, Any], target: str) -> bool:
    """Whether subject/patient/for/beneficiary points at ``target`` (``Patient/x``)."""
    for name in PATIENT_REFERENCE_FIELDS:
        value = resource.get(name)
        reference = value.get("reference") if isinstance(value, dict) else None
        if isinstance(reference, str) and (reference == target
                                           or reference.endswith("/" + target)):
            return True
    return False


def _outcome(messages: list[str], code: str = "invalid") -> dict[str, Any]:
    """An OperationOutcome with one error issue per message."""
    return outcome([issue("error", code, message) for message in messages])


def _fhir_response(status: int, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with the FHIR media type."""
    return Response(json.dumps(body), status=status, headers=headers, content_type=FHIR_JSON)


def _decode_json(data: bytes) -> tuple[Any, str | None]:
    """Parse a request body once; ``(None, reason)`` when it is not JSON."""
    if not data:
        return None, "the request has no body"
    try:
        return json.loads(data), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the body is not JSON: {exc}"


# --- errors and parsed operations ----------------------------------------------------------


class FhirError(Exception):
    """A request the server refuses; answered as an OperationOutcome with ``status``."""

    def __init__(self, status: int, *messages: str, code: str = "invalid",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = list(messages)
        self.code = code
        self.headers = headers or {}

    def response(self) -> Response:
        """The HTTP answer for this error."""
        return _fhir_response(self.status, _outcome(self.messages, self.code), self.headers)


@dataclass(frozen=True)
class _Operation:
    """One write from a Bundle entry or a single-resource request, validated but not applied."""

    method: str  # PUT, POST or DELETE
    rtype: str
    rid: str | None  # None for a POST until the transaction gives it an id
    resource: dict[str, Any] | None = None
    if_none_exist: tuple[str | None, str] | None = None
    full_url: str | None = None
    existing: bool = False  # a POST whose ifNoneExist matched: nothing to write


@dataclass(frozen=True)
class _Result:
    """What applying one operation did, for the response entry."""

    status: int
    rtype: str
    rid: str
    version: int | None  # None for a DELETE

    @property
    def location(self) -> str | None:
        """``Type/id/_history/N``, the form Bundle.entry.response.location takes."""
        if self.version is None:
            return None
        return f"{self.rtype}/{self.rid}/_history/{self.version}"

    def entry(self) -> dict[str, Any]:
        """The transaction-response / batch-response entry."""
        response: dict[str, Any] = {"status": _status_text(self.status)}
        if self.version is not None:
            response["location"] = self.location
            response["etag"] = f'W/"{self.version}"'
        return {"response": response}


def _require_resource(where: str, resource: Any, rtype: str) -> dict[str, Any]:
    """The resource of a write, checked against the type in its URL."""
    if not isinstance(resource, dict):
        raise FhirError(400, f"{where}: no resource")
    if "resourceType" not in resource:
        raise FhirError(400, f"{where}: the resource has no resourceType")
    if resource["resourceType"] != rtype:
        raise FhirError(400, f"{where}: resourceType {resource['resourceType']!r} does not "
                             f"match the URL type {rtype!r}")
    return resource


def _parse_put(where: str, url: str, resource: Any) -> _Operation:
    """A PUT ``Type/id``: create or replace that resource."""
    key = _split_type_id(url)
    if key is None:
        raise FhirError(400, f"{where}: PUT url must be Type/id, got {url!r}")
    body = _require_resource(where, resource, key[0])
    if body.get("id", key[1]) != key[1]:
        raise FhirError(400, f"{where}: resource id {body['id']!r} does not match {url!r}")
    return _Operation("PUT", key[0], key[1], {**body, "id": key[1]})


def _parse_post(where: str, url: str, resource: Any, if_none_exist: str | None) -> _Operation:
    """A POST ``Type``: create with a new id unless ifNoneExist finds one."""
    if not _is_type(url):
        raise FhirError(400, f"{where}: POST url must be a resource type, got {url!r}")
    body = _require_resource(where, resource, url)
    condition = _parse_if_none_exist(if_none_exist) if if_none_exist else None
    return _Operation("POST", url, None, body, condition)


def _parse_delete(where: str, url: str) -> _Operation:
    """A DELETE ``Type/id``."""
    key = _split_type_id(url)
    if key is None:
        raise FhirError(400, f"{where}: DELETE url must be Type/id, got {url!r}")
    return _Operation("DELETE", key[0], key[1])


def _parse_entry(index: int, entry: Any) -> _Operation:
    """Validate one Bundle entry into an operation, or raise saying what is wrong with it."""
    where = f"entry[{index}]"
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict):
        raise FhirError(400, f"{where}: no request")
    method, url = request.get("method"), request.get("url")
    if not isinstance(url, str):
        raise FhirError(400, f"{where}: request.url is missing")
    if method == "PUT":
        operation = _parse_put(where, url, entry.get("resource"))
    elif method == "POST":
        operation = _parse_post(where, url, entry.get("resource"), request.get("ifNoneExist"))
    elif method == "DELETE":
        operation = _parse_delete(where, url)
    else:
        raise FhirError(400, f"{where}: unsupported request.method {method!r}")
    full_url = entry.get("fullUrl")
    return dataclasses.replace(operation, full_url=full_url if isinstance(full_url, str) else None)


def _require_bundle(body: Any, error: str | None) -> dict[str, Any]:
    """The posted Bundle, or a 400 saying why it is not a transaction or batch."""
    if error is not None:
        raise FhirError(400, error)
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise FhirError(400, "POST to the base accepts only a Bundle")
    if body.get("type") not in ("transaction", "batch"):
        raise FhirError(400, f"Bundle.type must be transaction or batch, got {body.get('type')!r}")
    if not isinstance(body.get("entry", []), list):
        raise FhirError(400, "Bundle.entry must be a list")
    return body


# --- the in-memory store -------------------------------------------------------------------


class _Store:
    """Resources and the record of changes. Not locked: the server holds its lock around it."""

    def __init__(self) -> None:
        self.resources: dict[Key, dict[str, Any]] = {}
        self.hashes: dict[Key, str] = {}
        self.versions: dict[Key, int] = {}
        self.applied: list[tuple[str, str, str]] = []
        self.deleted: list[Key] = []
        self.duplicates = 0

    def put(self, rtype: str, rid: str, resource: dict[str, Any]) -> _Result:
        """Create or replace; a new version only when the content (less meta) changed."""
        key = (rtype, rid)
        digest = _content_hash(resource)
        if self.hashes.get(key) == digest:
            self.duplicates += 1
            return _Result(200, rtype, rid, self.versions[key])
        created = key not in self.resources
        version = self.versions.get(key, 0) + 1
        meta = {**(resource.get("meta") or {}), "versionId": str(version), "lastUpdated": _now()}
        self.resources[key] = {**resource, "meta": meta}
        self.hashes[key] = digest
        self.versions[key] = version
        self.applied.append((rtype, rid, digest))
        return _Result(201 if created else 200, rtype, rid, version)

    def delete(self, rtype: str, rid: str) -> _Result:
        """Remove if present; deleting an absent resource is not an error in FHIR."""
        key = (rtype, rid)
        if self.resources.pop(key, None) is not None:
            self.hashes.pop(key, None)
            self.deleted.append(key)
        return _Result(200, rtype, rid, None)

    def find_identifier(self, rtype: str, system: str | None, value: str) -> list[str]:
        """Ids of the stored resources of a type carrying an identifier."""
        return [rid for (t, rid), resource in self.resources.items()
                if t == rtype and _has_identifier(resource, system, value)]

    def of_type(self, rtype: str) -> list[dict[str, Any]]:
        """Every stored resource of a type, in insertion order."""
        return [r for (t, _), r in self.resources.items() if t == rtype]

    def plan(self, operations: list[_Operation], rewrite: bool) -> list[_Operation]:
        """Give POSTs their ids (or their ifNoneExist match) before anything is written, so a
        failing condition leaves the store untouched, then resolve ``urn:uuid`` references."""
        planned = [self._plan_one(op) for op in operations]
        mapping = {op.full_url: f"{op.rtype}/{op.rid}" for op in planned
                   if op.full_url and op.full_url.startswith("urn:") and op.rid}
        if not rewrite or not mapping:
            return planned
        return [dataclasses.replace(op, resource=_rewrite_references(op.resource, mapping))
                if op.resource is not None else op for op in planned]

    def _plan_one(self, op: _Operation) -> _Operation:
        """Fix the id of a POST: the single ifNoneExist match, or a fresh uuid."""
        if op.method != "POST":
            return op
        if op.if_none_exist is None:
            return dataclasses.replace(op, rid=str(uuid.uuid4()))
        matches = self.find_identifier(op.rtype, *op.if_none_exist)
        if len(matches) > 1:
            raise FhirError(412, f"ifNoneExist matches {len(matches)} {op.rtype} resources",
                            code="duplicate")
        if matches:
            return dataclasses.replace(op, rid=matches[0], existing=True)
        return dataclasses.replace(op, rid=str(uuid.uuid4()))

    def apply(self, op: _Operation) -> _Result:
        """Write one planned operation."""
        assert op.rid is not None, "operations are planned before they are applied"
        if op.method == "DELETE":
            return self.delete(op.rtype, op.rid)
        if op.existing:
            return _Result(200, op.rtype, op.rid, self.versions[(op.rtype, op.rid)])
        assert op.resource is not None
        return self.put(op.rtype, op.rid, {**op.resource, "id": op.rid})


# --- recording and fault injection ---------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received, for assertions and the summary page."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None when absent or not JSON
    status: int  # the status answered
    time: float  # time.monotonic() when the request arrived
    received_at: str  # wall-clock time, for people reading the summary page

    @property
    def bundle_id(self) -> str | None:
        """Bundle.id of a posted Bundle, to tell deliveries apart."""
        if isinstance(self.body, dict) and self.body.get("resourceType") == "Bundle":
            return self.body.get("id")
        return None

    @property
    def entry_count(self) -> int | None:
        """How many entries a posted Bundle had."""
        if isinstance(self.body, dict) and isinstance(self.body.get("entry"), list):
            return len(self.body["entry"])
        return None

    def summary(self) -> dict[str, Any]:
        """The line the summary page shows."""
        return {"time": self.received_at, "method": self.method, "path": self.path,
                "status": self.status, "bundle_id": self.bundle_id,
                "entries": self.entry_count}


@dataclass
class _Faults:
    """Misbehaviour queued by the tests; only write requests (POST/PUT) consume it."""

    fail_count: int = 0
    fail_status: int = 503
    fail_retry_after: str | None = None
    always_status: int | None = None
    always_retry_after: str | None = None
    delay_count: int = 0
    delay_seconds: float = 0.0

    def take(self) -> tuple[float, tuple[int, str | None] | None]:
        """Consume this request's share: ``(seconds to delay, (status, Retry-After) or None)``."""
        delay = 0.0
        if self.delay_count > 0:
            self.delay_count -= 1
            delay = self.delay_seconds
        if self.always_status is not None:
            return delay, (self.always_status, self.always_retry_after)
        if self.fail_count > 0:
            self.fail_count -= 1
            return delay, (self.fail_status, self.fail_retry_after)
        return delay, None


@dataclass(frozen=True)
class _Call:
    """A request with its body parsed once and its URL arguments."""

    request: Request
    body: Any
    body_error: str | None
    args: dict[str, str] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log: tests and benchmarks send thousands of requests. The protocol version is
    set here so werkzeug does not patch it onto its own handler class."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Drop the per-request line; errors are still logged."""


class _LoggingRequestHandler(WSGIRequestHandler):
    """The access log, for someone trying the server by hand."""

    protocol_version = "HTTP/1.1"


# --- the server ----------------------------------------------------------------------------


class ReceivingFhirServer:
    """A FHIR endpoint on loopback that applies the transaction Bundles pushed to it.

    Use as ``with ReceivingFhirServer("pcp") as pcp: ...`` or ``start()``/``stop()``. The port
    chosen at the first start is kept, so a stopped partner comes back at the same address.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0, *,
                 require_bearer: str | None = None, log_requests: bool = False) -> None:
        _require_loopback(host)
        self.name = name
        self.require_bearer = require_bearer
        self._host = host
        self._port = port
        self._handler = _LoggingRequestHandler if log_requests else _QuietRequestHandler
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._store = _Store()
        self._requests: list[RecordedRequest] = []
        self._faults = _Faults()
        self._inflight: set[socket.socket] = set()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._urls = Map([
            Rule("/", endpoint="summary", methods=["GET"]),
            Rule(BASE_PATH, endpoint="bundle", methods=["POST"]),
            Rule(f"{BASE_PATH}/metadata", endpoint="metadata", methods=["GET"]),
            Rule(f"{BASE_PATH}/<rtype>", endpoint="search", methods=["GET"]),
            Rule(f"{BASE_PATH}/<rtype>", endpoint="create", methods=["POST"]),
            Rule(f"{BASE_PATH}/<rtype>/<rid>", endpoint="read", methods=["GET"]),
            Rule(f"{BASE_PATH}/<rtype>/<rid>", endpoint="update", methods=["PUT"]),
        ], strict_slashes=False)
        self._endpoints: dict[str, Callable[[_Call], Response]] = {
            "summary": self._summary, "bundle": self._bundle, "metadata": self._metadata,
            "search": self._search, "create": self._create, "read": self._read,
            "update": self._update,
        }

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ReceivingFhirServer {self.name} {self.base_url} {state}>"

    # lifecycle

    @property
    def port(self) -> int:
        """The listening port; 0 until the first start() when constructed with port=0."""
        return self._port

    @property
    def host(self) -> str:
        """The loopback address the server binds."""
        return self._host

    @property
    def base_url(self) -> str:
        """The FHIR base, e.g. ``http://127.0.0.1:8091/fhir``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{BASE_PATH}"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._server is not None

    def start(self) -> ReceivingFhirServer:
        """Listen (on the same port as before, after a stop) and serve in a daemon thread.
        The socket is listening when this returns."""
        if self._server is not None:
            return self
        try:
            server = make_server(self._host, self._port, self._wsgi, threaded=True,
                                 request_handler=self._handler)
        except SystemExit:  # werkzeug prints the bind error and exits; keep the caller alive
            raise OSError(f"{self.name}: cannot listen on {self._host}:{self._port}") from None
        self._port = server.port
        self._stopping = threading.Event()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": POLL_INTERVAL},
                                        name=f"fhir-partner-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the socket (new connections are refused), abort requests still being delayed,
        and wait briefly for in-flight requests so nothing is applied after this returns."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_GRACE)
        self._abort_inflight()

    def __enter__(self) -> ReceivingFhirServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _abort_inflight(self) -> None:
        """Cut connections still open so their clients see the partner vanish, then wait for
        their handlers to leave the application."""
        with self._lock:
            for sock in list(self._inflight):
                with contextlib.suppress(OSError):  # already closed by client or handler
                    sock.shutdown(socket.SHUT_RDWR)
            self._idle.wait_for(lambda: not self._inflight, timeout=STOP_GRACE)

    # what the tests look at (copies, taken under the lock)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received except the summary page, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def resources(self) -> dict[Key, dict[str, Any]]:
        """The latest content of each stored resource (deleted ones are absent)."""
        with self._lock:
            return copy.deepcopy(self._store.resources)

    @property
    def versions(self) -> dict[Key, int]:
        """How many distinct contents were applied to each resource."""
        with self._lock:
            return dict(self._store.versions)

    @property
    def applied(self) -> list[tuple[str, str, str]]:
        """``(type, id, content hash)`` of every real change, in application order."""
        with self._lock:
            return list(self._store.applied)

    @property
    def deleted(self) -> list[Key]:
        """Resources removed by a DELETE, in order."""
        with self._lock:
            return list(self._store.deleted)

    @property
    def duplicates(self) -> int:
        """PUTs whose content equalled what was stored: re-deliveries the partner absorbed."""
        with self._lock:
            return self._store.duplicates

    def reset(self) -> None:
        """Forget resources, recordings and queued faults, keeping the server running."""
        with self._lock:
            self._store = _Store()
            self._requests.clear()
            self._faults = _Faults()

    # fault injection

    def fail_next(self, n: int, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next ``n`` POST/PUT requests with ``status`` without applying them."""
        with self._lock:
            self._faults.fail_count = n
            self._faults.fail_status = status
            self._faults.fail_retry_after = retry_after

    def fail_always(self, status: int | None, retry_after: str | None = None) -> None:
        """Fail every POST/PUT with ``status`` until called with ``None``: a partner outage."""
        with self._lock:
            self._faults.always_status = status
            self._faults.always_retry_after = retry_after

    def delay_next(self, n: int, seconds: float) -> None:
        """Hold the next ``n`` POST/PUT requests for ``seconds`` before applying and answering
        them: a slow partner, to make client timeouts happen. stop() cuts the wait short."""
        with self._lock:
            self._faults.delay_count = n
            self._faults.delay_seconds = seconds

    # request handling

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The WSGI application: track the connection so stop() can cut it, then answer."""
        sock = environ.get("werkzeug.socket")
        stopping = self._stopping
        with self._lock:
            if sock is not None:
                self._inflight.add(sock)
        try:
            response = self._respond(Request(environ), stopping)
        finally:
            with self._lock:
                self._inflight.discard(sock)
                self._idle.notify_all()
        return response(environ, start_response)

    def _respond(self, request: Request, stopping: threading.Event) -> Response:
        """Answer one request and record it."""
        received, received_at = time.monotonic(), _now()
        body, body_error = _decode_json(request.get_data())
        call = _Call(request, body, body_error, stopping=stopping)
        try:
            response = self._dispatch(call)
        except FhirError as exc:
            response = exc.response()
        if request.path != "/":
            self._record(RecordedRequest(
                request.method, request.path, request.query_string.decode("latin-1"),
                dict(request.headers), body, response.status_code, received, received_at))
        return response

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _dispatch(self, call: _Call) -> Response:
        """Authenticate, route, misbehave if asked to, then run the endpoint."""
        self._check_bearer(call.request)
        try:
            endpoint, args = self._urls.bind_to_environ(call.request.environ).match()
        except MethodNotAllowed as exc:
            raise FhirError(405, "method not allowed", code="not-supported",
                            headers={"Allow": ", ".join(exc.valid_methods or [])}) from None
        except HTTPException as exc:
            raise FhirError(exc.code or 404, str(exc.description), code="not-found") from None
        if call.request.method in WRITE_METHODS:
            self._misbehave(call.stopping)
        return self._endpoints[endpoint](dataclasses.replace(call, args=args))

    def _check_bearer(self, request: Request) -> None:
        """Refuse requests without the configured bearer token."""
        if self.require_bearer is None:
            return
        if request.headers.get("Authorization") != f"Bearer {self.require_bearer}":
            raise FhirError(401, "a valid bearer token is required", code="login",
                            headers={"WWW-Authenticate": "Bearer"})

    def _misbehave(self, stopping: threading.Event) -> None:
        """Apply a queued delay and failure to this write request."""
        with self._lock:
            delay, failure = self._faults.take()
        if delay and stopping.wait(delay):
            raise FhirError(503, f"{self.name} is stopping", code="transient")
        if failure is not None:
            status, retry_after = failure
            headers = {"Retry-After": retry_after} if retry_after is not None else None
            raise FhirError(status, f"{self.name}: injected failure", code="transient",
                            headers=headers)

    # endpoints

    def _bundle(self, call: _Call) -> Response:
        """POST [base]: a transaction (all or nothing) or a batch (each entry on its own)."""
        bundle = _require_bundle(call.body, call.body_error)
        entries = bundle.get("entry", [])
        if bundle["type"] == "transaction":
            results = self._transaction(entries)
            body = [result.entry() for result in results]
        else:
            body = [self._batch_entry(index, entry) for index, entry in enumerate(entries)]
        return _fhir_response(200, {
            "resourceType": "Bundle", "id": str(uuid.uuid4()),
            "type": f"{bundle['type']}-response", "entry": body})

    def _transaction(self, entries: list[Any]) -> list[_Result]:
        """Validate every entry, then plan and apply them under one lock hold."""
        operations, problems = [], []
        for index, entry in enumerate(entries):
            try:
                operations.append(_parse_entry(index, entry))
            except FhirError as exc:
                problems.extend(exc.messages)
        if problems:
            raise FhirError(400, *problems)
        return self._apply(operations, rewrite=True)

    def _apply(self, operations: list[_Operation], rewrite: bool) -> list[_Result]:
        """Plan (may refuse, changing nothing) then write, atomically with respect to readers."""
        with self._lock:
            planned = self._store.plan(operations, rewrite)
            return [self._store.apply(op) for op in planned]

    def _batch_entry(self, index: int, entry: Any) -> dict[str, Any]:
        """One batch entry; its failure is reported in its own response entry."""
        try:
            (result,) = self._apply([_parse_entry(index, entry)], rewrite=False)
        except FhirError as exc:
            return {"response": {"status": _status_text(exc.status),
                                 "outcome": _outcome(exc.messages, exc.code)}}
        return result.entry()

    def _update(self, call: _Call) -> Response:
        """PUT [base]/Type/id."""
        if call.body_error is not None:
            raise FhirError(400, call.body_error)
        url = f"{call.args['rtype']}/{call.args['rid']}"
        (result,) = self._apply([_parse_put("body", url, call.body)], rewrite=False)
        return self._single_write_response(result)

    def _create(self, call: _Call) -> Response:
        """POST [base]/Type, honouring an If-None-Exist header."""
        if call.body_error is not None:
            raise FhirError(400, call.body_error)
        condition = call.request.headers.get("If-None-Exist")
        operation = _parse_post("body", call.args["rtype"], call.body, condition)
        (result,) = self._apply([operation], rewrite=False)
        return self._single_write_response(result)

    def _single_write_response(self, result: _Result) -> Response:
        """The stored resource, with Location and ETag as FHIR servers send them."""
        with self._lock:
            stored = self._store.resources[(result.rtype, result.rid)]
            body = json.dumps(stored)
        headers = {"Location": f"{self.base_url}/{result.location}",
                   "ETag": f'W/"{result.version}"'}
        return Response(body, status=result.status, headers=headers, content_type=FHIR_JSON)

    def _read(self, call: _Call) -> Response:
        """GET [base]/Type/id."""
        key = (call.args["rtype"], call.args["rid"])
        with self._lock:
            stored = self._store.resources.get(key)
            if stored is None:
                raise FhirError(404, f"{key[0]}/{key[1]} is not known here", code="not-found")
            body, version = json.dumps(stored), self._store.versions[key]
        return Response(body, status=200, content_type=FHIR_JSON,
                        headers={"ETag": f'W/"{version}"'})

    def _search(self, call: _Call) -> Response:
        """GET [base]/Type, optionally ``?patient=`` and ``_summary=count``."""
        rtype = call.args["rtype"]
        if not _is_type(rtype):
            raise FhirError(400, f"{rtype!r} is not a resource type")
        patient = call.request.args.get("patient")
        with self._lock:
            found = self._store.of_type(rtype)
            if patient:
                target = patient if "/" in patient else f"Patient/{patient}"
                found = [r for r in found if _references_patient(r, target)]
            bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                                      "type": "searchset", "total": len(found)}
            if call.request.args.get("_summary") != "count":
                bundle["entry"] = [{"fullUrl": f"{self.base_url}/{rtype}/{r['id']}",
                                    "resource": r, "search": {"mode": "match"}} for r in found]
            text = json.dumps(bundle)
        return Response(text, status=200, content_type=FHIR_JSON)

    def _metadata(self, call: _Call) -> Response:
        """GET [base]/metadata: just enough CapabilityStatement for a client's handshake."""
        return _fhir_response(200, {
            "resourceType": "CapabilityStatement", "status": "active", "date": _now(),
            "kind": "instance", "fhirVersion": "4.0.1", "format": [FHIR_JSON, "json"],
            "software": {"name": f"demo partner endpoint {self.name}"},
            "implementation": {"description": f"demo partner {self.name}",
                               "url": self.base_url},
            "rest": [{"mode": "server",
                      "interaction": [{"code": "transaction"}, {"code": "batch"}]}]})

    def _summary(self, call: _Call) -> Response:
        """GET /: what this partner holds and the last requests, for people watching a demo.
        Not recorded itself, so looking does not change it."""
        with self._lock:
            counts = Counter(rtype for rtype, _ in self._store.resources)
            recent = [r.summary() for r in self._requests[-RECENT_REQUESTS:]]
            body = {"name": self.name, "base_url": self.base_url,
                    "resources": dict(sorted(counts.items())),
                    "requests_received": len(self._requests),
                    "duplicates": self._store.duplicates, "recent_requests": recent}
        return Response(json.dumps(body, indent=2), status=200, content_type="application/json")


# --- by hand -------------------------------------------------------------------------------


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve one partner endpoint until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m gateway.demo_endpoints",
                                     description="A loopback FHIR partner endpoint that "
                                                 "applies transaction Bundles.")
    parser.add_argument("--name", default="partner", help="shown on the summary page")
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--require-bearer", metavar="TOKEN", help="refuse other tokens")
    args = parser.parse_args(argv)
    try:
        server = ReceivingFhirServer(args.name, args.host, args.port,
                                     require_bearer=args.require_bearer, log_requests=True)
    except ValueError as exc:
        parser.error(str(exc))
    with server:
        print(f"{server.name}: FHIR base {server.base_url} "
              f"(summary at {server.base_url.removesuffix(BASE_PATH)}/); Ctrl-C stops",
              flush=True)
        _wait_for_interrupt()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

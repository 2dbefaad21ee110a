"""``ReceivingFhirServer``: a loopback FHIR partner, the demo's partners and the delivery tests'
stand-in partner.

The outbound delivery engine pushes FHIR ``transaction`` Bundles to partner servers (a
primary-care clinic, a hospital). ``ReceivingFhirServer`` is a small but real HTTP FHIR server
that receives and applies those Bundles, so that ``gateway demo``, the reliability tests and the
benchmarks exercise real sockets instead of mocks. It records what it received for assertions
and can be told to misbehave (fail, answer slowly, go away) the way real partners do. This
module is the HTTP side: the WSGI app, routing, the bearer check, recording, fault injection and
start/stop; the FHIR it speaks is in ``fhir_api`` and ``fhir_store``.

It keeps everything in memory, is not a conformant FHIR server, and is never bound beyond
loopback: constructing one for any other address raises ``ValueError``.

Try one by hand with ``python -m gateway.demo.endpoints --name pcp --port 8091``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import ipaddress
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from gateway.demo.faults import Faults
from gateway.demo.fhir_api import Call, FhirApi
from gateway.demo.fhir_http import FhirError, decode_json, now
from gateway.demo.fhir_store import Key, Store

BASE_PATH = "/fhir"
RECENT_REQUESTS = 20
POLL_INTERVAL = 0.05  # how often the serving loop checks for stop(); bounds stop()'s latency
STOP_GRACE = 1.0  # how long stop() waits for in-flight requests to leave the application
WRITE_METHODS = frozenset({"POST", "PUT"})


def _require_loopback(host: str) -> None:
    """Refuse anything but a loopback IP literal: this server has no authentication worth
    the name and must never be reachable from another machine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address; use 127.0.0.1 or ::1") from None
    if not address.is_loopback:
        raise ValueError(f"{host!r} is not a loopback address; use 127.0.0.1 or ::1")


# --- recording -----------------------------------------------------------------------------


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


class ReceivingFhirServer(FhirApi):
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
        self._store = Store()
        self._requests: list[RecordedRequest] = []
        self._faults = Faults()
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
        self._endpoints: dict[str, Callable[[Call], Response]] = {
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
            self._store = Store()
            self._requests.clear()
            self._faults = Faults()

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
        received, received_at = time.monotonic(), now()
        body, body_error = decode_json(request.get_data())
        call = Call(request, body, body_error, stopping=stopping)
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

    def _dispatch(self, call: Call) -> Response:
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

    # the summary page (the FHIR endpoints are FhirApi's)

    def _summary(self, call: Call) -> Response:
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

"""The partner for the delivery benchmark: a minimal, keep-alive FHIR endpoint on loopback.

    python -m benchmarks.delivery_receiver --port PORT [--max-seconds 1800]

``POST /fhir`` takes a transaction Bundle (parsed, checked: every entry a ``PUT Type/id``),
records its body bytes and ``X-Delivery-Id``, and answers 200 with a ``transaction-response``
(one ``200 OK`` entry per entry). It stores nothing else, so the partner costs both sides of the
benchmark (the workers, the plain loop) the same and little: HTTP/1.1 with ``Content-Length``
on every answer, so a ``requests.Session`` keeps its connection (gateway.demo.partner_server's
ReceivingFhirServer applies every entry to an in-memory store and is heavier).

Also: ``GET /readyz``; ``GET /_received`` (JSON ``{"ids": [...], "bundles": [...]}``, every
bundle received so far, as sent); ``POST /_reset`` (forget them).

It binds 127.0.0.1 only, and exits by itself after ``--max-seconds`` or when its parent
process goes away.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
FHIR_JSON = "application/fhir+json"
BASE_PATH = "/fhir"


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: list[str] = []
        self.bodies: list[bytes] = []

    def add(self, delivery_id: str, body: bytes) -> None:
        with self.lock:
            self.ids.append(delivery_id)
            self.bodies.append(body)

    def dump(self) -> bytes:
        with self.lock:
            ids, bodies = list(self.ids), list(self.bodies)
        return (b'{"ids":' + json.dumps(ids).encode() + b',"bundles":['
                + b",".join(bodies) + b"]}")

    def reset(self) -> None:
        with self.lock:
            self.ids.clear()
            self.bodies.clear()


def transaction_response(body: bytes) -> tuple[int, bytes]:
    """(status, answer) for a POSTed transaction Bundle."""
    try:
        bundle = json.loads(body)
    except ValueError as error:
        return 400, _outcome(f"not JSON: {error}")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" \
            or bundle.get("type") != "transaction":
        return 400, _outcome("expected a transaction Bundle")
    entries = []
    for entry in bundle.get("entry", []):
        request = entry.get("request", {}) if isinstance(entry, dict) else {}
        resource = entry.get("resource", {}) if isinstance(entry, dict) else {}
        url = f"{resource.get('resourceType')}/{resource.get('id')}"
        if request.get("method") != "PUT" or request.get("url") != url:
            return 400, _outcome(f"expected PUT {url}, got {request}")
        entries.append({"response": {"status": "200 OK", "location": f"{url}/_history/1"}})
    return 200, json.dumps({"resourceType": "Bundle", "type": "transaction-response",
                            "entry": entries}).encode()


def _outcome(text: str) -> bytes:
    return json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "diagnostics": text[:500]}]}).encode()


def make_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
        # Headers and body leave in two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK of the headers (40 ms per request on Linux).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/readyz":
                self._answer(200, b'{"status":"ok"}', "application/json")
            elif self.path == "/_received":
                self._answer(200, recorder.dump(), "application/json")
            else:
                self._answer(404, _outcome(f"no {self.path}"))

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_reset":
                recorder.reset()
                self._answer(200, b"{}", "application/json")
            elif self.path.rstrip("/") == BASE_PATH:
                status, answer = transaction_response(body)
                if status == 200:
                    recorder.add(self.headers.get("X-Delivery-Id", ""), body)
                self._answer(status, answer)
            else:
                self._answer(404, _outcome(f"no {self.path}"))

        def _answer(self, status: int, body: bytes, content_type: str = FHIR_JSON) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """No access log (thousands of requests)."""

    return Handler


def serve(port: int, max_seconds: float) -> None:
    server = ThreadingHTTPServer((HOST, port), make_handler(Recorder()))
    server.daemon_threads = True
    parent = os.getppid()
    deadline = time.monotonic() + max_seconds

    def watchdog() -> None:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.delivery_receiver")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    serve(args.port, args.max_seconds)


if __name__ == "__main__":
    main()

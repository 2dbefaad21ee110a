"""The floor: a minimal Flask app returning captured gateway responses byte for byte.

Run as ``python -m benchmarks.floor --port P --bodies FILE``. It is served by
``gateway.server.serve`` itself with only the application swapped, so gunicorn's settings
(workers, gthread, threads, timeouts, access log) are exactly the gateway's.
"""
from __future__ import annotations

import argparse
import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from flask import Flask, Response

from gateway import server
from gateway.config import Config


@dataclass(frozen=True)
class Captured:
    """One real response: status, the headers worth repeating, and the exact body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.headers,
                "body": base64.b64encode(self.body).decode()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Captured:
        return cls(data["status"], data["headers"], base64.b64decode(data["body"]))


def save(path: Path, read: Captured, search: Captured) -> None:
    path.write_text(json.dumps({"read": read.to_json(), "search": search.to_json()}))


def floor_app(read: Captured, search: Captured) -> Flask:
    app = Flask(__name__)

    def respond(captured: Captured) -> Response:
        return Response(captured.body, status=captured.status, headers=captured.headers)

    app.add_url_rule("/fhir/CareTeam/<resource_id>", "read",
                     lambda resource_id: respond(read))
    app.add_url_rule("/fhir/CareTeam", "search", lambda: respond(search))
    app.add_url_rule("/readyz", "readyz", lambda: Response('{"status":"ready"}',
                                                           content_type="application/json"))
    return app


class FloorServer(server.GatewayServer):
    """gunicorn with the floor app instead of ``create_app``."""

    def __init__(self, config: Config, options: dict[str, Any], app: Flask) -> None:
        self.floor = app
        super().__init__(config, options)

    def load(self) -> Flask:
        return self.floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bodies", type=Path, required=True)
    args = parser.parse_args()
    data = json.loads(args.bodies.read_text())
    app = floor_app(Captured.from_json(data["read"]), Captured.from_json(data["search"]))
    serve_app(app, args.port, args.workers)


def serve_app(app: Flask, port: int, workers: int) -> None:
    """``gateway.server.serve`` on 127.0.0.1 with ``app`` in place of ``create_app``."""
    # serve() builds gunicorn's options and hands them to GatewayServer; in this throwaway
    # process the floor's application class takes its place.
    with mock.patch.object(server, "GatewayServer",
                           lambda config, options: FloorServer(config, options, app)):
        server.serve(Config(), "127.0.0.1", port, workers)


if __name__ == "__main__":
    main()

"""The intake record also goes to the local system's webhook, retried like any delivery."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.inbound.conftest import davinci_example
from tests.inbound.test_process_message import process, referral_tasks


class Hook:
    """A loopback webhook that answers 503 ``failures`` times, then 200, keeping what came."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.failures > 0:
                    hook.failures -= 1
                    self.send_response(503)
                else:
                    hook.received.append((dict(self.headers), json.loads(body)))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/intake"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(failures=1)
    yield server
    server.close()


@pytest.fixture
def config(config, hook):  # noqa: F811 - the base config, with the intake webhook
    return config.with_overrides(intake_webhook=hook.url)


def test_the_intake_is_posted_to_the_webhook_after_a_failure(
        client, auth, demo_agency, hospital_headers, make_worker, clock, hook):
    process(client, davinci_example(), hospital_headers)
    [task] = referral_tasks(client, auth)

    make_worker().run(once=True)  # the hook answers 503: retried later
    assert hook.received == []
    clock.advance(600)
    make_worker().run(once=True)

    [(headers, record)] = hook.received
    assert record["referral_task"] == f"Task/{task['id']}"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Intake-Record"].endswith(".intake.json")

"""What gunicorn answers itself, before a request reaches the app (a malformed request line,
one over limit_request_line, too many or too large header fields), is a FHIR
OperationOutcome, not gunicorn's HTML page (found by the security review). Through a real
`gateway serve` on a loopback port."""
from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import OPERATOR_KEY
from tests.inbound.test_hl7_inbound import GATEWAY, _free_port, _wait_for_port


@pytest.fixture
def gunicorn_port(app, config, tmp_path) -> Iterator[tuple[int, subprocess.Popen]]:
    port = _free_port()
    env = {**os.environ, "GATEWAY_DATABASE_URL": config.database_url,
           "GATEWAY_OPERATOR_KEYS": OPERATOR_KEY, "GATEWAY_VAR_DIR": str(tmp_path / "var")}
    process = subprocess.Popen([GATEWAY, "serve", "--port", str(port), "--workers", "1"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    assert b"Traceback" not in process.stderr.read()


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in
                           head.decode("latin-1").split("\r\n")[1:] if ": " in line)
            if "Content-Length" in headers and len(body) >= int(headers["Content-Length"]):
                break
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in
               (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    return int(lines[0].split(" ")[1]), headers, body


@pytest.mark.parametrize("raw,status", [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET /fhir/Patient HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    (b"GET /fhir/Patient?name=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-%d: y\r\n" % n for n in range(150)) + b"\r\n", 431),
    (b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
])
def test_gunicorns_own_errors_are_operation_outcomes(gunicorn_port, raw, status):
    port, process = gunicorn_port
    answered, headers, body = _exchange(port, raw)
    assert answered == status, body[:300]
    assert headers["content-type"].startswith("application/fhir+json")
    answer = json.loads(body)
    assert answer["resourceType"] == "OperationOutcome"
    assert answer["issue"][0]["severity"] == "error"
    # The server still answers, through the app.
    ok, _, body = _exchange(port, b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n")
    assert ok == 200 and json.loads(body)["resourceType"] == "CapabilityStatement"

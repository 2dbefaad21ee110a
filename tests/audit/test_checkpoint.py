"""gateway audit checkpoint: the chain's head signed with a key the database does not hold,
written to a file, an HTTP endpoint or syslog; verify refuses a checkpoint it cannot trust.
Bad keys and targets are one-line errors, and a target that is down touches no request."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner, Result
from flask import Flask

from gateway.audit.chain import GENESIS_HASH
from gateway.audit.checkpoint import (
    CheckpointError,
    chain_head,
    generate_key_pair,
    key_id,
    latest_record,
    load_private_key,
    load_public_key,
    open_checkpoint,
)
from gateway.audit.checkpointer import checkpoint_every
from gateway.audit.targets import parse_target
from gateway.cli import cli
from gateway.config import Config, config_from_env

from .builders import operator_disclosure, partner_disclosure, record_events


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "checkpoint.pem", tmp_path / "checkpoint.pub.pem"
    generate_key_pair(private, public)
    return private, public


@pytest.fixture
def events(app: Flask) -> list[str]:
    return record_events(app.extensions["gateway"], [partner_disclosure(),
                                                     operator_disclosure()])


def run(config: Config, *args: str, **env: str) -> Result:
    environment = {"GATEWAY_DATABASE_URL": config.database_url,
                   "GATEWAY_AUDIT_CHECKPOINT_KEY": "", "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY": "",
                   "GATEWAY_AUDIT_CHECKPOINT_TARGET": "", **env}
    return CliRunner().invoke(cli, list(args), env=environment)


def head(app: Flask) -> tuple[int, str]:
    with app.extensions["gateway"].session_factory() as session:
        return chain_head(session)


def test_checkpoint_to_a_file_appends_one_signed_line_each(app, config, events, keys,
                                                           tmp_path):
    target = tmp_path / "checkpoints.jsonl"
    first = run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target", str(target))
    assert first.exit_code == 0, first.output
    record_events(app.extensions["gateway"], [partner_disclosure()])
    second = run(config, "audit", "checkpoint", GATEWAY_AUDIT_CHECKPOINT_KEY=str(keys[0]),
                 GATEWAY_AUDIT_CHECKPOINT_TARGET=str(target))
    assert second.exit_code == 0, second.output
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["count"] for line in lines] == [2, 3]
    count, head_hash = head(app)
    assert lines[-1]["head"] == head_hash
    kid = key_id(load_public_key(keys[1]))
    assert second.stdout == (f"checkpoint written to {target}: 3 events, head {head_hash}, "
                             f"key {kid}\n")
    # The signature is a JWS (EdDSA) over the readable fields, naming the key.
    signature = lines[-1]["signature"]
    assert jwt.get_unverified_header(signature) == {"alg": "EdDSA", "kid": kid, "typ": "JWT"}
    claims = jwt.decode(signature, load_public_key(keys[1]), algorithms=["EdDSA"])
    assert claims == {name: lines[-1][name] for name in ("count", "head", "time", "key_id")}
    assert latest_record(target) == lines[-1]
    assert open_checkpoint(lines[-1], load_public_key(keys[1])).count == count


def test_an_empty_chain_checkpoints_the_genesis_hash(app, config, keys, tmp_path):
    target = tmp_path / "checkpoints.jsonl"
    assert run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target",
               str(target)).exit_code == 0
    record = latest_record(target)
    assert (record["count"], record["head"]) == (0, GENESIS_HASH)
    assert run(config, "audit", "verify", "--checkpoint", str(target), "--public-key",
               str(keys[1])).exit_code == 0


class _Collector(BaseHTTPRequestHandler):
    received: list[Any] = []
    status = 204

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_endpoint() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Collector", (_Collector,), {"received": [], "status": 204})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/checkpoints", handler
    finally:
        server.shutdown()
        server.server_close()


def test_checkpoint_to_an_http_endpoint(app, config, events, keys, http_endpoint):
    url, collector = http_endpoint
    written = run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target", url)
    assert written.exit_code == 0, written.output
    [(content_type, record)] = collector.received
    assert content_type == "application/json"
    assert (record["count"], record["head"]) == head(app)
    assert open_checkpoint(record, load_public_key(keys[1])).count == 2


def test_an_http_endpoint_that_refuses_is_one_line_and_the_file_still_gets_it(
        app, config, events, keys, http_endpoint, tmp_path):
    url, collector = http_endpoint
    collector.status = 503
    target = tmp_path / "checkpoints.jsonl"
    written = run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target", url,
                  "--target", str(target))
    assert written.exit_code == 1
    assert written.stderr == f"gateway: error: cannot write the checkpoint to {url}: HTTP 503\n"
    assert latest_record(target)["count"] == 2


def test_checkpoint_to_syslog_over_udp(app, config, events, keys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        target = f"syslog://127.0.0.1:{receiver.getsockname()[1]}"
        written = run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target", target)
        assert written.exit_code == 0, written.output
        message = receiver.recv(65536).decode()
    # <PRI> with facility auth (4) and severity info (6), the tag, then the JSON line.
    assert message.startswith("<38>gateway-audit-checkpoint: {")
    record = json.loads(message[message.index("{"):].rstrip("\x00"))
    assert (record["count"], record["head"]) == head(app)
    assert open_checkpoint(record, load_public_key(keys[1])).count == 2


def test_a_syslog_copy_can_be_verified_from_the_collected_log(app, config, events, keys,
                                                              tmp_path):
    # A syslog line as a collector writes it: the JSON after the usual prefix.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target",
            f"syslog://127.0.0.1:{receiver.getsockname()[1]}")
        message = receiver.recv(65536).decode().rstrip("\x00")
    collected = tmp_path / "auth.log"
    collected.write_text(f"Mar  2 14:30:05 host {message[4:]}\nMar  2 14:31:00 host other\n")
    verified = run(config, "audit", "verify", "--checkpoint", str(collected), "--public-key",
                   str(keys[1]))
    assert verified.exit_code == 0, verified.output


def test_a_checkpoint_signed_with_another_key_is_refused(app, config, events, keys, tmp_path):
    other = tmp_path / "other.pem", tmp_path / "other.pub.pem"
    generate_key_pair(*other)
    target = tmp_path / "checkpoints.jsonl"
    assert run(config, "audit", "checkpoint", "--key", str(other[0]), "--target",
               str(target)).exit_code == 0
    verified = run(config, "audit", "verify", "--checkpoint", str(target), "--public-key",
                   str(keys[1]))
    assert verified.exit_code == 3
    assert verified.stderr == (
        f"gateway: error: checkpoint refused: signed with another key (key id "
        f"{key_id(load_public_key(other[1]))}, the public key's is "
        f"{key_id(load_public_key(keys[1]))})\n")
    # A forger who also names the right key id is refused by the signature itself.
    record = latest_record(target)
    forged = jwt.encode({n: record[n] for n in ("count", "head", "time", "key_id")},
                        load_private_key(other[0]), algorithm="EdDSA",
                        headers={"kid": key_id(load_public_key(keys[1]))})
    with pytest.raises(CheckpointError, match="the signature does not verify"):
        open_checkpoint({**record, "signature": forged}, load_public_key(keys[1]))
    as_json = run(config, "audit", "verify", "--checkpoint", str(target), "--public-key",
                  str(keys[1]), "--json")
    assert as_json.exit_code == 3
    report = json.loads(as_json.stdout)
    assert report["intact"] is False and report["checkpoint_refused"].startswith(
        "checkpoint refused: signed with another key")


def test_a_checkpoint_line_edited_to_a_smaller_count_is_refused(app, config, events, keys,
                                                                tmp_path):
    target = tmp_path / "checkpoints.jsonl"
    run(config, "audit", "checkpoint", "--key", str(keys[0]), "--target", str(target))
    record = {**latest_record(target), "count": 1}
    target.write_text(json.dumps(record) + "\n")
    verified = run(config, "audit", "verify", "--checkpoint", str(target), "--public-key",
                   str(keys[1]))
    assert verified.exit_code == 3
    assert verified.stderr == ("gateway: error: checkpoint refused: its fields differ from "
                               "what was signed\n")


@pytest.mark.parametrize(("args", "message"), [
    (["checkpoint", "--key", "{missing}", "--target", "{file}"],
     "cannot read the private key {missing}: No such file or directory"),
    (["checkpoint", "--key", "{public}", "--target", "{file}"],
     "{public} is not an unencrypted Ed25519 private key in PEM (make one with 'gateway audit "
     "keygen')"),
    (["checkpoint", "--key", "{private}", "--target", "ftp://example.org/x"],
     "checkpoint target ftp://example.org/x: unknown scheme 'ftp' (a file path, syslog://, "
     "syslog+tcp://, http:// or https://)"),
    (["checkpoint", "--key", "{private}", "--target", "{tmp}/no/such/dir/cp.jsonl"],
     "cannot write the checkpoint to {tmp}/no/such/dir/cp.jsonl: No such file or directory"),
    (["checkpoint", "--key", "{private}", "--target", "http://127.0.0.1:9/checkpoints"],
     "cannot write the checkpoint to http://127.0.0.1:9/checkpoints: cannot connect "
     "(Connection refused)"),
    (["checkpoint", "--key", "{private}", "--target", "syslog:///no/such/socket"],
     "cannot write the checkpoint to syslog:///no/such/socket: No such file or directory"),
    (["checkpoint", "--target", "{file}"],
     "no signing key: set GATEWAY_AUDIT_CHECKPOINT_KEY or pass --key (make one with "
     "'gateway audit keygen')"),
    (["checkpoint", "--key", "{private}"],
     "no checkpoint target: set GATEWAY_AUDIT_CHECKPOINT_TARGET or pass --target"),
    (["verify", "--checkpoint", "{file}", "--public-key", "{missing}"],
     "cannot read the public key {missing}: No such file or directory"),
    (["verify", "--checkpoint", "{file}"],
     "no public key to check the checkpoint with (--public-key or "
     "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY)"),
    (["verify", "--checkpoint", "{tmp}/none.jsonl", "--public-key", "{public}"],
     "no checkpoint: {tmp}/none.jsonl does not exist (write one with 'gateway audit "
     "checkpoint')"),
    (["keygen", "{private}"], "{private} exists; not overwriting a key"),
])
def test_bad_keys_and_targets_are_one_line_errors(app, config, keys, tmp_path, args, message):
    names = {"missing": tmp_path / "missing.pem", "private": keys[0], "public": keys[1],
             "file": tmp_path / "checkpoints.jsonl", "tmp": tmp_path}
    result = run(config, "audit", *[arg.format(**names) for arg in args])
    assert result.exit_code in (1, 3), result.output
    assert result.stderr.splitlines()[-1] == f"gateway: error: {message.format(**names)}"
    assert "Traceback" not in result.output


def test_keygen_writes_a_private_key_for_its_owner_only(config, tmp_path):
    private = tmp_path / "made.pem"
    result = run(config, "audit", "keygen", str(private))
    assert result.exit_code == 0, result.output
    assert private.stat().st_mode & 0o777 == 0o600
    public = load_public_key(tmp_path / "made.pem.pub")
    assert key_id(load_private_key(private).public_key()) == key_id(public)
    assert f"key id      {key_id(public)}" in result.stdout


def test_the_periodic_writer_survives_a_target_that_is_down(app, config, events, keys,
                                                            tmp_path, client, auth):
    """The loop writes where it can, reports the rest and carries on; requests and their
    AuditEvents never depend on it."""
    state = app.extensions["gateway"]
    target = tmp_path / "checkpoints.jsonl"
    where = [parse_target(str(target)), parse_target("http://127.0.0.1:9/down")]
    reports: list[Any] = []
    stop = threading.Event()

    def report(result: Any) -> None:
        reports.append(result)
        if len(reports) == 1:
            # Between rounds, a request (with its AuditEvent) goes through regardless.
            assert client.get("/fhir/Patient", headers=auth).status_code == 200
        if len(reports) == 3:
            stop.set()

    checkpoint_every(0.01, state.session_factory, load_private_key(keys[0]), where, report,
                     stop)
    assert all(len(r.failed) == 1 and "cannot connect" in r.failed[0] for r in reports)
    # The file got the first head and the one with the request's AuditEvent; the third round
    # found nothing new for it.
    assert [r.written for r in reports] == [[where[0]], [where[0]], []]
    assert [json.loads(line)["count"] for line in target.read_text().splitlines()] == [2, 3]


def test_checkpoint_settings_come_from_the_environment(tmp_path):
    config = config_from_env({
        "GATEWAY_AUDIT_CHECKPOINT_KEY": str(tmp_path / "k.pem"),
        "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY": str(tmp_path / "k.pem.pub"),
        "GATEWAY_AUDIT_CHECKPOINT_TARGET": "/var/log/cp.jsonl, syslog://logs:514",
        "GATEWAY_AUDIT_CHECKPOINT_INTERVAL": "300"})
    assert config.audit_checkpoint_key == tmp_path / "k.pem"
    assert config.audit_checkpoint_public_key == tmp_path / "k.pem.pub"
    assert config.audit_checkpoint_targets == ("/var/log/cp.jsonl", "syslog://logs:514")
    assert config.audit_checkpoint_interval == 300.0
    assert [parse_target(t).kind for t in config.audit_checkpoint_targets] == ["file", "syslog"]


@pytest.mark.parametrize(("env", "message"), [
    ({"GATEWAY_AUDIT_CHECKPOINT_TARGET": "{file}"},
     "GATEWAY_AUDIT_CHECKPOINT_INTERVAL needs GATEWAY_AUDIT_CHECKPOINT_KEY and "
     "GATEWAY_AUDIT_CHECKPOINT_TARGET"),
    ({"GATEWAY_AUDIT_CHECKPOINT_KEY": "{missing}", "GATEWAY_AUDIT_CHECKPOINT_TARGET": "{file}"},
     "cannot read the private key {missing}: No such file or directory"),
    ({"GATEWAY_AUDIT_CHECKPOINT_KEY": "{private}",
      "GATEWAY_AUDIT_CHECKPOINT_TARGET": "gopher://x"},
     "checkpoint target gopher://x: unknown scheme 'gopher' (a file path, syslog://, "
     "syslog+tcp://, http:// or https://)"),
])
def test_serve_refuses_to_start_with_a_bad_checkpoint_setting(app, config, keys, tmp_path,
                                                              env, message):
    names = {"missing": tmp_path / "missing.pem", "private": keys[0],
             "file": tmp_path / "checkpoints.jsonl"}
    result = run(config, "serve", "--port", "1",
                 GATEWAY_AUDIT_CHECKPOINT_INTERVAL="60",
                 **{name: value.format(**names) for name, value in env.items()})
    assert result.exit_code == 1, result.output
    assert result.stderr == f"gateway: error: {message.format(**names)}\n"

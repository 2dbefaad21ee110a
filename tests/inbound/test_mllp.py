"""MLLP framing and the MLLP server, over real sockets on the loopback interface only."""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.adapters.hl7v2 import ack, parse
from gateway.adapters.mllp import (
    MllpClient,
    MllpDecoder,
    MllpError,
    MllpServer,
    frame,
    send,
)

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7v2"
TIMEOUT = 5.0  # no socket call in these tests waits longer
A01 = (SAMPLES / "adt-a01-v2.5.1-admit.hl7").read_bytes()
A03 = (SAMPLES / "adt-a03-v2.5.1-utf8-profile.hl7").read_bytes()


class Recorder:
    """A handler that records what it got and answers with an ACK (or fails on demand)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.fail_on: bytes | None = None

    def __call__(self, message: bytes, peer: str) -> bytes:
        self.received.append((message, peer))
        if self.fail_on is not None and self.fail_on in message:
            raise RuntimeError("handler failure")
        return ack(parse(message), "AA")


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@contextlib.contextmanager
def running(handler: Recorder, host: str = "127.0.0.1",
            allowed: tuple[str, ...] = ("127.0.0.0/8", "::1"), **options: float
            ) -> Iterator[MllpServer]:
    with MllpServer(host, 0, handler, allowed, **options) as server:  # type: ignore[arg-type]
        server.start()
        yield server


@pytest.fixture
def server(handler: Recorder) -> Iterator[MllpServer]:
    with running(handler) as server:
        yield server


def connect(server: MllpServer) -> socket.socket:
    connection = socket.create_connection(server.server_address, timeout=TIMEOUT)
    return connection


def read_answer(connection: socket.socket) -> bytes:
    decoder = MllpDecoder()
    while True:
        data = connection.recv(65536)
        if not data:
            raise ConnectionError("closed")
        messages = decoder.feed(data)
        if messages:
            return messages[0]


def closed_without_answer(connection: socket.socket) -> bool:
    """True when the server closes the connection without sending anything."""
    try:
        return connection.recv(65536) == b""
    except ConnectionResetError:
        return True


def control_id(answer: bytes) -> str:
    return next(line for line in answer.decode().split("\r") if line.startswith("MSA")
                ).split("|")[2]


# -- framing ---------------------------------------------------------------------------------

def test_frame() -> None:
    assert frame(b"MSH|x") == b"\x0bMSH|x\x1c\r"
    with pytest.raises(ValueError):
        frame(b"MSH|\x1c")


def test_decoder_joins_a_message_split_across_reads() -> None:
    decoder = MllpDecoder()
    framed = frame(A01)
    pieces = [decoder.feed(framed[i:i + 7]) for i in range(0, len(framed), 7)]
    assert [m for piece in pieces for m in piece] == [A01]
    assert decoder.discarded == 0


def test_decoder_splits_several_messages_in_one_read() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(frame(A01) + frame(A03) + frame(A01)[:10]) == [A01, A03]
    assert decoder.feed(frame(A01)[10:]) == [A01]


def test_decoder_discards_bytes_before_a_start_block(caplog: pytest.LogCaptureFixture) -> None:
    decoder = MllpDecoder(source="10.1.2.3")
    with caplog.at_level(logging.WARNING, logger="gateway.adapters.mllp"):
        assert decoder.feed(b"GET / HTTP/1.1\r\n" + frame(A01)) == [A01]
    assert decoder.discarded == len(b"GET / HTTP/1.1\r\n")
    assert "discarded 16 bytes before a start block from 10.1.2.3" in caplog.text


def test_decoder_ignores_blank_lines_between_blocks(caplog: pytest.LogCaptureFixture) -> None:
    decoder = MllpDecoder()
    with caplog.at_level(logging.WARNING, logger="gateway.adapters.mllp"):
        assert decoder.feed(frame(A01)[:-1] + b"\n\n" + frame(A01)) == [A01, A01]
    assert decoder.discarded == 0 and caplog.text == ""


def test_decoder_drops_an_unfinished_message_when_a_new_one_starts() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0bMSH|^~\\&|half a mess") == []
    assert decoder.feed(frame(A01)) == [A01]
    assert decoder.discarded == len(b"MSH|^~\\&|half a mess")


def test_decoder_refuses_an_oversize_message() -> None:
    decoder = MllpDecoder(max_message_bytes=100)
    assert decoder.feed(frame(b"x" * 100)) == [b"x" * 100]
    with pytest.raises(MllpError):
        decoder.feed(b"\x0b" + b"x" * 101)
    with pytest.raises(MllpError):  # even when it arrives whole
        MllpDecoder(max_message_bytes=100).feed(frame(b"x" * 101))


# -- the server ------------------------------------------------------------------------------

def test_one_message(server: MllpServer, handler: Recorder) -> None:
    answer = send(*server.server_address, A01, timeout=TIMEOUT)
    assert answer.startswith(b"MSH|^~\\&|CMHGW|RIVERBEND_CMH|EPICADT|STBRIGID|")
    assert control_id(answer) == "SBH20241105031500011"
    assert handler.received == [(A01, "127.0.0.1")]


def test_several_messages_on_one_connection_are_answered_in_order(
        server: MllpServer, handler: Recorder) -> None:
    with MllpClient(*server.server_address, timeout=TIMEOUT) as client:
        answers = [client.send(message) for message in (A01, A03, A01)]
    assert [control_id(a) for a in answers] == [
        "SBH20241105031500011", "SB-7f3c2a91", "SBH20241105031500011"]
    # Pipelined: both sent before either answer is read.
    with connect(server) as connection:
        connection.sendall(frame(A03) + frame(A01))
        decoder, answers = MllpDecoder(), []
        while len(answers) < 2:
            answers += decoder.feed(connection.recv(65536))
    assert [control_id(a) for a in answers] == ["SB-7f3c2a91", "SBH20241105031500011"]
    assert len(handler.received) == 5


def test_a_message_in_small_chunks_with_pauses(server: MllpServer, handler: Recorder) -> None:
    framed = frame(A03)
    with connect(server) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(framed), 64):
            connection.sendall(framed[start:start + 64])
            time.sleep(0.01)
        assert control_id(read_answer(connection)) == "SB-7f3c2a91"
    assert handler.received == [(A03, "127.0.0.1")]


def test_junk_before_the_start_block_is_skipped(server: MllpServer) -> None:
    with connect(server) as connection:
        connection.sendall(b"\r\nhello\r\n" + frame(A01))
        assert control_id(read_answer(connection)) == "SBH20241105031500011"


def test_an_oversize_message_closes_the_connection(handler: Recorder) -> None:
    with running(handler, max_message_bytes=512) as server, connect(server) as connection:
        connection.sendall(frame(A01 + b"ZXX|" + b"x" * 600))
        assert closed_without_answer(connection)
        assert handler.received == []
        # The server itself goes on.
        assert control_id(send(*server.server_address, A01, timeout=TIMEOUT)) == \
            "SBH20241105031500011"


def test_a_disallowed_source_is_closed_without_an_answer(
        handler: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.adapters.mllp"), \
            running(handler, allowed=("10.0.0.0/8", "::1")) as server, \
            connect(server) as connection:
        with contextlib.suppress(OSError):  # the server may have closed it already
            connection.sendall(frame(A01))
        assert closed_without_answer(connection)
    assert handler.received == []
    assert "refused a connection from 127.0.0.1" in caplog.text


def test_allowed_sources() -> None:
    with MllpServer("127.0.0.1", 0, Recorder(), ["10.0.0.0/8", "127.0.0.1", "::1"]) as server:
        assert server.allows("10.20.30.40") and server.allows("127.0.0.1")
        assert server.allows("::1") and server.allows("::ffff:127.0.0.1")
        assert not server.allows("127.0.0.2") and not server.allows("192.168.1.1")
        assert not server.allows("not an address")


def test_a_failing_handler_closes_only_that_connection(server: MllpServer,
                                                       handler: Recorder) -> None:
    handler.fail_on = b"SB-7f3c2a91"
    with connect(server) as connection:
        connection.sendall(frame(A03))
        assert closed_without_answer(connection)
    assert control_id(send(*server.server_address, A01, timeout=TIMEOUT)) == \
        "SBH20241105031500011"


def test_an_idle_connection_is_closed(handler: Recorder) -> None:
    with running(handler, idle_timeout=0.2) as server, connect(server) as connection:
        started = time.monotonic()
        assert closed_without_answer(connection)
        assert time.monotonic() - started < TIMEOUT


def test_ipv6_loopback(handler: Recorder) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with running(handler, host="::1") as server:
        assert server.server_address[0] == "::1"
        assert control_id(send("::1", server.server_address[1], A01, timeout=TIMEOUT)) == \
            "SBH20241105031500011"
    assert handler.received == [(A01, "::1")]


def test_shutdown_leaves_no_thread_running(handler: Recorder) -> None:
    before = set(threading.enumerate())
    with running(handler) as server:
        idle = connect(server)  # an open connection, mid-conversation
        with MllpClient(*server.server_address, timeout=TIMEOUT) as client:
            client.send(A01)
            assert len(set(threading.enumerate()) - before) >= 2
    assert set(threading.enumerate()) - before == set()
    assert closed_without_answer(idle)
    idle.close()


def test_client_reports_a_server_that_closes_without_answering(handler: Recorder) -> None:
    with running(handler, max_message_bytes=10) as server, pytest.raises(ConnectionError):
        send(*server.server_address, A01, timeout=TIMEOUT)

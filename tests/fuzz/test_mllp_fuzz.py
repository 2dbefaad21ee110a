"""Fuzzing HL7 v2 over MLLP (Hypothesis): content junk in good frames and framing junk, sent
to the MLLP listener on 127.0.0.1 in process, in front of the real receive path (the demo
agency and partners registered). The properties: every framed message gets one answer, an
HL7 ACK (AA, AE or AR); a stream with broken framing gets ACKs for its complete blocks and
is then closed cleanly; nothing is logged with a traceback (or at ERROR), nothing printed to
stderr; and the listener still answers a good message afterwards.

Bounded in count like the API fuzz tests: GATEWAY_FUZZ_EXAMPLES (150 by default; ``make
fuzz`` runs 2,500 each); every socket wait is at most TIMEOUT seconds."""
from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.adapters.mllp import END_BLOCK, START_BLOCK, MllpDecoder, MllpServer, frame
from gateway.workflows.hl7_messages import receive_hl7
from tests.fuzz.test_fhir_fuzz import FUZZ
from tests.partners.conftest import demo_agency, get_token, partners  # noqa: F401 - fixtures

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7v2"
MESSAGES = [path.read_bytes() for path in sorted(SAMPLES.glob("*.hl7"))]
GOOD = (SAMPLES / "adt-a01-v2.5.1-admit.hl7").read_bytes()
TIMEOUT = 20.0
MAX_MESSAGE_BYTES = 16 * 1024  # small, so that "too large" is reached by the fuzzer
FIELD_JUNK = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
                     max_size=40) | st.sampled_from(["", "|", "^^^", "~", "\\", "&", "\r",
                                                     "\n", "MSH|^~\\&|", "\x00", "2.9",
                                                     "ADT^A03^ADT_A03", "UNICODE UTF-8"])


@st.composite
def junk_messages(draw: st.DrawFn) -> bytes:
    """A sample message mutated: a field replaced, bytes inserted, cut short; or random."""
    kind = draw(st.sampled_from(["field", "insert", "truncate", "random", "segments"]))
    if kind == "random":
        return draw(st.binary(max_size=400))
    message = draw(st.sampled_from(MESSAGES))
    if kind == "truncate":
        return message[:draw(st.integers(0, len(message)))]
    if kind == "insert":
        at = draw(st.integers(0, len(message)))
        return message[:at] + draw(st.binary(min_size=1, max_size=40)) + message[at:]
    text = message.decode("latin-1")
    segments = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    if kind == "segments":
        order = draw(st.permutations(segments))
        return "\r".join(order[:draw(st.integers(0, len(order)))]).encode("latin-1")
    index = draw(st.integers(0, len(segments) - 1))
    fields = segments[index].split("|")
    fields[draw(st.integers(0, len(fields) - 1))] = draw(FIELD_JUNK)
    segments[index] = "|".join(fields)
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    return "\r".join(segments).encode(encoding, errors="replace")


@st.composite
def junk_streams(draw: st.DrawFn) -> bytes:
    """Framing junk: start and end blocks where they should not be, blocks left open, noise
    between blocks, an oversize block, good frames among them."""
    pieces = draw(st.lists(st.one_of(
        st.sampled_from([START_BLOCK, END_BLOCK, b"\r", b"\n", END_BLOCK + b"\r",
                         START_BLOCK + START_BLOCK, b"\x00"]),
        st.binary(max_size=60),
        st.sampled_from(MESSAGES),
        st.sampled_from(MESSAGES).map(frame),
        st.just(START_BLOCK + b"X" * (MAX_MESSAGE_BYTES + 10))), min_size=1, max_size=8))
    return b"".join(pieces)


@pytest.fixture
def listener(app, demo_agency) -> Iterator[tuple[str, int]]:  # noqa: F811
    state = app.extensions["gateway"]

    def handler(raw: bytes, peer: str) -> bytes:
        return receive_hl7(state, raw, peer=peer)

    with MllpServer("127.0.0.1", 0, handler, ["127.0.0.1/32"],
                    max_message_bytes=MAX_MESSAGE_BYTES, idle_timeout=TIMEOUT) as server:
        server.start()
        yield server.server_address[:2]


def _exchange(address: tuple[str, int], stream: bytes) -> list[bytes]:
    """Send ``stream``, close our side, and read every answer until the server closes. The
    server may close first (a message too large): then what it answered before counts."""
    decoder, answers = MllpDecoder(), []
    with socket.create_connection(address, timeout=TIMEOUT) as connection:
        try:
            connection.sendall(stream)
            connection.shutdown(socket.SHUT_WR)
        except TimeoutError:
            raise
        except OSError:
            pass  # the server closed first (ENOTCONN, EPIPE, ECONNRESET)
        try:
            while data := connection.recv(65536):
                answers += decoder.feed(data)
        except ConnectionResetError:
            pass  # closed by the server with our unread bytes pending: a close all the same
    return answers


def _ack_code(answer: bytes) -> str:
    assert answer.startswith(b"MSH"), answer[:200]
    separator = answer[3:4]
    segments = answer.replace(b"\n", b"\r").split(b"\r")
    [msa] = [segment for segment in segments if segment.startswith(b"MSA")]
    return msa.split(separator)[1].decode("ascii")


def _assert_quiet(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    loud = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in capsys.readouterr().err
    caplog.clear()


def _assert_still_answers(address: tuple[str, int]) -> None:
    [answer] = _exchange(address, frame(GOOD))
    assert _ack_code(answer) in ("AA", "AE", "AR")


@FUZZ
@given(message=junk_messages())
def test_every_framed_message_gets_an_ack(listener, caplog, capsys, message):
    caplog.set_level(logging.INFO)
    message = message.replace(START_BLOCK, b"").replace(END_BLOCK, b"")
    answers = _exchange(listener, frame(message))
    assert len(answers) == 1
    assert _ack_code(answers[0]) in ("AA", "AE", "AR")
    _assert_quiet(caplog, capsys)


@FUZZ
@given(stream=junk_streams())
def test_framing_junk_is_answered_or_closed_cleanly(listener, caplog, capsys, stream):
    caplog.set_level(logging.INFO)
    answers = _exchange(listener, stream)
    assert len(answers) <= stream.count(END_BLOCK)
    assert all(_ack_code(answer) in ("AA", "AE", "AR") for answer in answers)
    _assert_quiet(caplog, capsys)
    _assert_still_answers(listener)

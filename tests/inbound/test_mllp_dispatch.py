"""MLLP connections handed out in turn to listener servers (``gateway mllp --workers N``),
over real loopback sockets; the listener "processes" are threads here, each with its own
MllpServer and pipe, as gateway/cli.py runs them in processes."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import Pipe

from gateway.adapters.mllp import MllpClient, MllpServer
from gateway.adapters.mllp_dispatch import MllpDispatcher, handed_over

TIMEOUT = 5.0


def answering_as(name: str):
    return lambda message, peer: f"{name}:{message.decode()}".encode()


@contextmanager
def dispatched(*allowed_by_listener: list[str]) -> Iterator[MllpDispatcher]:
    """A dispatcher on a free loopback port and one listener server per ``allowed`` list
    (named L0, L1... in their answers)."""
    pipes = [Pipe() for _ in allowed_by_listener]
    servers = [MllpServer("127.0.0.1", 0, answering_as(f"L{n}"), allowed, listen=False,
                          idle_timeout=TIMEOUT)
               for n, allowed in enumerate(allowed_by_listener)]
    threads = [threading.Thread(target=server.serve_handed, args=(handed_over(theirs),),
                                daemon=True)
               for server, (_, theirs) in zip(servers, pipes, strict=True)]
    for thread in threads:
        thread.start()
    dispatcher = MllpDispatcher("127.0.0.1", 0, [ours for ours, _ in pipes])
    stopped = threading.Event()
    accepting = threading.Thread(target=dispatcher.serve_forever,
                                 kwargs={"keep_going": lambda: not stopped.is_set(),
                                         "poll_interval": 0.05}, daemon=True)
    accepting.start()
    try:
        yield dispatcher
    finally:
        stopped.set()
        accepting.join(TIMEOUT)
        dispatcher.close()  # the listeners' pipes end: serve_handed returns
        for thread in threads:
            thread.join(TIMEOUT)
        for server, (_, theirs) in zip(servers, pipes, strict=True):
            server.shutdown()
            theirs.close()
        assert not any(thread.is_alive() for thread in (accepting, *threads))


def test_connections_go_to_the_listeners_in_turn_and_stay_with_theirs():
    with dispatched(["127.0.0.1/32"], ["127.0.0.1/32"]) as dispatcher:
        host, port = dispatcher.server_address
        clients = [MllpClient(host, port, timeout=TIMEOUT) for _ in range(4)]
        try:
            first = [client.send(f"m{n}".encode()) for n, client in enumerate(clients)]
            again = [client.send(b"again") for client in clients]
        finally:
            for client in clients:
                client.close()
        assert dispatcher.handed == 4
    assert first == [b"L0:m0", b"L1:m1", b"L0:m2", b"L1:m3"]
    # Each connection keeps the listener it was handed to.
    assert again == [b"L0:again", b"L1:again", b"L0:again", b"L1:again"]


def test_a_listener_checks_the_source_of_a_handed_connection():
    with dispatched(["127.0.0.1/32"], ["10.20.0.0/16"]) as dispatcher:
        host, port = dispatcher.server_address
        with MllpClient(host, port, timeout=TIMEOUT) as allowed:
            assert allowed.send(b"x") == b"L0:x"
        refused = MllpClient(host, port, timeout=TIMEOUT)  # handed to L1, which refuses it
        try:
            try:
                answer = refused.send(b"y")
            except OSError:
                answer = None
        finally:
            refused.close()
        assert answer in (None, b"")

"""One MLLP port, several listener processes: connections handed out in turn.

MLLP connections are long-lived: an interface engine opens one and sends every message on it.
Sharing the port between processes with SO_REUSEPORT lets the kernel place each new connection
by a hash of its addresses, and a few long-lived connections often land on the same process
while another stays idle (each process's messages share one interpreter lock). Here the
parent process accepts every connection and hands it to the next listener process in turn,
over a pipe of its own (``multiprocessing.reduction.send_handle``: the socket itself is passed,
the parent then closes its copy); the listener serves it as if it had accepted it
(``MllpServer.serve_handed``), source check included.

    dispatcher = MllpDispatcher(host, port, [pipe_to_child_1, pipe_to_child_2])
    dispatcher.serve_forever(keep_going=lambda: all(c.is_alive() for c in children))

    # in each child
    server.serve_handed(handed_over(pipe_from_parent))
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

log = logging.getLogger(__name__)

BACKLOG = 128


class MllpDispatcher:
    """Accepts on ``host``:``port`` and hands connections to ``listeners`` (pipes to the
    listener processes), one after another."""

    def __init__(self, host: str, port: int, listeners: Sequence[Connection]) -> None:
        if not listeners:
            raise ValueError("an MLLP dispatcher needs at least one listener")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listeners = list(listeners)
        self.handed = 0  # connections handed out so far
        self._socket = socket.create_server((host, port), family=family, backlog=BACKLOG)

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return host, port

    def serve_forever(self, keep_going: Callable[[], bool] = lambda: True,
                      poll_interval: float = 0.5) -> None:
        """Accept and hand out connections while ``keep_going()`` (asked at least every
        ``poll_interval`` seconds)."""
        self._socket.settimeout(poll_interval)
        while keep_going():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.hand_out(connection)

    def hand_out(self, connection: socket.socket) -> None:
        listener = self.listeners[self.handed % len(self.listeners)]
        try:
            send_handle(listener, connection.fileno(), None)
        except OSError as error:  # the listener is gone; the parent notices and stops
            log.error("MLLP: could not hand a connection to a listener process: %s", error)
        finally:
            connection.close()  # the listener has its own copy now
        self.handed += 1

    def close(self) -> None:
        self._socket.close()
        for listener in self.listeners:
            listener.close()


def handed_over(pipe: Connection) -> Callable[[], socket.socket | None]:
    """For ``MllpServer.serve_handed`` in a listener process: the next connection the
    dispatcher hands over ``pipe``, or None once the dispatcher is gone."""
    def next_connection() -> socket.socket | None:
        try:
            return socket.socket(fileno=recv_handle(pipe))
        except (EOFError, OSError, RuntimeError):  # closed, or not a handed socket
            return None
    return next_connection

"""MLLP: HL7 v2 messages over TCP (HL7 Minimal Lower Layer Protocol, Release 2).

On the wire each message is a block: start block ``0x0B``, the message, end block ``0x1C``
and a carriage return ``0x0D`` (MLLP R2, "Block format"). One connection carries any number
of messages; the receiver answers each, in order, with a block holding its acknowledgment.

    with MllpServer("0.0.0.0", 2575, handler, allowed_sources=["10.20.0.0/16"]) as server:
        server.serve_forever()                  # or server.start() for a background thread
    ack = send("127.0.0.1", 2575, message)     # a one-message client, for tests and tools

The server knows nothing of HL7: ``handler(message, peer_address)`` gets each unframed
message and returns the unframed answer, which is framed and sent back. A connection from an
address outside ``allowed_sources`` is closed before anything is read from it. A message over
``max_message_bytes``, an idle connection (``idle_timeout`` seconds without a byte) or a
handler that raises closes that connection only: the sender reconnects and resends, as MLLP
senders do when no acknowledgment comes.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Collection
from types import TracebackType

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20  # ADT messages are a few kB; this leaves room for notes
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds; interface engines reconnect when they have more
_READ_SIZE = 65536
_BLANKS = b" \t\r\n"

Handler = Callable[[bytes, str], bytes]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class MllpError(Exception):
    """A stream that breaks the framing rules beyond repair (e.g. a message too large)."""


def frame(message: bytes) -> bytes:
    """``message`` as an MLLP block. The framing bytes may not occur in the message itself."""
    if START_BLOCK in message or END_BLOCK in message:
        raise ValueError("an MLLP message may not contain 0x0B or 0x1C")
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


class MllpDecoder:
    """Complete messages out of a byte stream, however it is split into reads.

    Bytes outside a block (noise, or a sender's stray newline) are discarded and logged; a
    start block inside an unfinished message means the sender started over, so the partial
    message is discarded. The carriage return after the end block is optional here (it may
    arrive in the next read, or a sloppy sender may omit it)."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 source: str = "") -> None:
        self.max_message_bytes = max_message_bytes
        self.source = source  # who is sending, for the log
        self.discarded = 0  # bytes thrown away so far (blanks between blocks not counted)
        self._buffer = bytearray()
        self._in_block = False
        self._scanned = 0  # how much of the buffer is known to hold no end block

    def feed(self, data: bytes) -> list[bytes]:
        """The messages ``data`` completes (often none, sometimes several). MllpError when a
        message grows past ``max_message_bytes``."""
        self._buffer += data
        messages: list[bytes] = []
        while self._buffer:
            if not self._in_block and not self._open_block():
                break
            end = self._buffer.find(END_BLOCK, self._scanned)
            restart = self._buffer.rfind(START_BLOCK, 0, len(self._buffer) if end < 0 else end)
            if restart >= 0:  # a new start block before this message ended
                self._discard(self._buffer[:restart], "an unfinished message")
                del self._buffer[:restart + 1]
                self._scanned = 0
                continue
            if end < 0:
                self._scanned = len(self._buffer)
                self._check_size(len(self._buffer))
                break
            self._check_size(end)
            messages.append(bytes(self._buffer[:end]))
            del self._buffer[:end + 1]
            if self._buffer[:1] == CARRIAGE_RETURN:
                del self._buffer[:1]
            self._in_block, self._scanned = False, 0
        return messages

    def _open_block(self) -> bool:
        """Skip to the next start block; False when the buffer holds none."""
        start = self._buffer.find(START_BLOCK)
        self._discard(self._buffer if start < 0 else self._buffer[:start], "a start block")
        del self._buffer[:len(self._buffer) if start < 0 else start + 1]
        self._in_block = start >= 0
        return self._in_block

    def _discard(self, junk: bytes | bytearray, before: str) -> None:
        if junk.strip(_BLANKS):
            self.discarded += len(junk)
            log.warning("MLLP: discarded %d bytes before %s from %s", len(junk), before,
                        self.source or "the peer")

    def _check_size(self, size: int) -> None:
        if size > self.max_message_bytes:
            raise MllpError(f"a message of more than {self.max_message_bytes} bytes")


class MllpServer:
    """A threaded MLLP listener: one thread per connection, many messages per connection.
    ``port`` 0 picks a free port (see ``server_address``); a ``host`` with a colon is IPv6."""

    def __init__(self, host: str, port: int, handler: Handler,
                 allowed_sources: Collection[Network | str], *,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, listen: bool = True) -> None:
        """``listen=False``: bind nothing; the server serves only connections accepted
        elsewhere and handed to it (``serve_handed``, gateway/adapters/mllp_dispatch.py)."""
        self.handler = handler
        self.allowed_sources = tuple(ipaddress.ip_network(str(s), strict=False)
                                     for s in allowed_sources)
        self.max_message_bytes = max_message_bytes
        self.idle_timeout = idle_timeout
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._serving = False
        self._thread: threading.Thread | None = None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _TcpServer((host, port), family, self, listen)

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return host, port

    def allows(self, address: str) -> bool:
        """Whether a peer at ``address`` may connect (an IPv4-mapped IPv6 address counts as
        its IPv4 address)."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.allowed_sources)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections until ``shutdown``."""
        self._serving = True
        self._server.serve_forever(poll_interval)

    def serve_handed(self, handed: Callable[[], socket.socket | None]) -> None:
        """Serve the connections ``handed()`` returns, each as if accepted here (the same
        source check, a thread of its own), until it returns None."""
        self._serving = True
        while (connection := handed()) is not None:
            try:
                address = connection.getpeername()
            except OSError:  # gone before it got here
                connection.close()
                continue
            if self._server.verify_request(connection, address):
                self._server.process_request(connection, address)
            else:
                self._server.shutdown_request(connection)

    def start(self) -> threading.Thread:
        """``serve_forever`` in a background thread."""
        self._serving = True
        self._thread = threading.Thread(target=self.serve_forever, args=(0.1,),
                                        name=f"mllp-{self.server_address[1]}", daemon=True)
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        """Stop accepting, close every open connection and wait for their threads."""
        if self._serving and self._server.listening:
            self._server.shutdown()
        self._serving = False
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the connection threads (block_on_close)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> MllpServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.shutdown()

    def _serve_connection(self, connection: socket.socket, peer: str) -> None:
        """Read blocks and answer each in order, until the peer closes, goes idle, breaks
        the framing or the handler fails."""
        connection.settimeout(self.idle_timeout)
        decoder = MllpDecoder(self.max_message_bytes, source=peer)
        while True:
            try:
                data = connection.recv(_READ_SIZE)
            except TimeoutError:
                log.info("MLLP: closing the idle connection from %s", peer)
                return
            except OSError:
                return  # reset by the peer, or shut down by us
            if not data:
                return
            try:
                messages = decoder.feed(data)
            except MllpError as error:
                log.warning("MLLP: closing the connection from %s: %s", peer, error)
                return
            for message in messages:
                try:
                    answer = self.handler(message, peer)
                except Exception:
                    log.exception("MLLP: the handler failed on a message from %s; closing "
                                  "the connection", peer)
                    return
                try:
                    connection.sendall(frame(answer))
                except OSError as error:
                    log.info("MLLP: could not answer %s: %s", peer, error)
                    return

    def _track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


class _TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """socketserver's threaded TCP server, checking each peer before a thread is started."""

    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() waits for the connection threads

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily,
                 owner: MllpServer, listen: bool = True) -> None:
        self.address_family = family
        self.owner = owner
        self.listening = listen
        super().__init__(address, _Connection, bind_and_activate=listen)

    def verify_request(self, request: object, client_address: tuple) -> bool:
        if self.owner.allows(client_address[0]):
            return True
        log.warning("MLLP: refused a connection from %s (not an allowed source)",
                    client_address[0])
        return False


class _Connection(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        owner: MllpServer = self.server.owner  # type: ignore[attr-defined]
        owner._track(self.request, True)
        try:
            owner._serve_connection(self.request, self.client_address[0])
        finally:
            owner._track(self.request, False)


class MllpClient:
    """One connection for many messages, each sent and its answer awaited in turn."""

    def __init__(self, host: str, port: int, timeout: float = 10.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._decoder = MllpDecoder(max_message_bytes, source=f"{host}:{port}")
        self._answers: deque[bytes] = deque()

    def send(self, message: bytes) -> bytes:
        """Send ``message`` (unframed) and return the answer (unframed). ConnectionError when
        the server closes the connection first; TimeoutError when it takes too long."""
        self._socket.sendall(frame(message))
        while not self._answers:
            data = self._socket.recv(_READ_SIZE)
            if not data:
                raise ConnectionError("the server closed the connection without answering")
            self._answers.extend(self._decoder.feed(data))
        return self._answers.popleft()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def send(host: str, port: int, message: bytes, timeout: float = 10.0) -> bytes:
    """Send one message on a new connection and return the answer (unframed)."""
    with MllpClient(host, port, timeout) as client:
        return client.send(message)

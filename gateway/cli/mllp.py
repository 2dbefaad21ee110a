"""``gateway mllp``: the HL7 v2 MLLP listener, one process or a dispatcher and N listeners."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

import click

from gateway.cli.database import open_state
from gateway.cli.errors import CliError
from gateway.config import Config, config_from_env

# Commands import the gateway inside the functions: `gateway --help` takes 1.3 s this way and
# 3.1 s with those imports at module level (medians of 20 runs on 2 shared cores, measured for
# the split of cli.py into this package).


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2575, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="listener processes; connections are handed to them in turn")
def mllp(host: str, port: int, workers: int) -> None:
    """HL7 v2 listener over MLLP (ADT in, ACK out). Connections are taken only from the
    addresses in GATEWAY_MLLP_ALLOWED_SOURCES (CIDRs, comma-separated), or else from those
    the hospital partners list in endpoints.mllp_sources. With --workers N (N > 1) this
    process accepts connections and hands each to the next of N listener processes."""
    from gateway.adapters.mllp_dispatch import MllpDispatcher
    from gateway.workflows.hl7_messages import mllp_sources

    config = config_from_env()
    with open_state() as state:
        if not mllp_sources(state):
            raise CliError("no source may send: set GATEWAY_MLLP_ALLOWED_SOURCES or register "
                           "a hospital partner with endpoints.mllp_sources")
    if workers == 1:
        _serve_mllp(config, host, port)
        return
    pipes = [multiprocessing.Pipe() for _ in range(workers)]  # socket pairs: they carry sockets
    ours = [end for end, _ in pipes]
    children = [multiprocessing.Process(target=_listener_process,
                                        args=(config, host, port, theirs, ours),
                                        name=f"mllp-{n}") for n, (_, theirs) in enumerate(pipes)]
    for child in children:
        child.start()
    for _, theirs in pipes:
        theirs.close()
    # SIGTERM or Ctrl-C only ask the accept loop to stop (a handler that raises can land in
    # a finalizer, where the exception is printed and lost). Closing the pipes then stops the
    # listener processes, which finish their connections first.
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    dispatcher = None
    try:
        try:
            dispatcher = MllpDispatcher(host, port, ours)
        except (OSError, ValueError) as error:
            raise _cannot_listen(host, port, error) from None
        bound_host, bound_port = dispatcher.server_address
        click.echo(f"MLLP listening on {bound_host}:{bound_port} (pid {os.getpid()}), handing "
                   f"connections in turn to {workers} listener processes", err=True)
        dispatcher.serve_forever(keep_going=lambda: not stopping.is_set()
                                 and all(c.is_alive() for c in children))
    finally:
        if dispatcher is not None:
            dispatcher.close()
        else:
            for end in ours:
                end.close()
        for child in children:
            child.join(15)
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(5)
    if any(child.exitcode != 0 for child in children):
        raise CliError("an MLLP listener process failed (see above)")


def _listener_process(config: Config, host: str, port: int, pipe: Any,
                      dispatcher_ends: list[Any]) -> None:
    for end in dispatcher_ends:  # the parent's: so that the pipe ends when the parent does
        end.close()
    try:
        _serve_mllp(config, host, port, handed_by=pipe)
    except click.ClickException as error:
        error.show()
        sys.exit(1)


def _serve_mllp(config: Config, host: str, port: int, handed_by: Any = None) -> None:
    """One MLLP listener process: its own app state (database connections are not shared
    across processes), serving until SIGTERM or Ctrl-C; the connections it accepts itself, or
    those the dispatcher hands it over the pipe ``handed_by``."""
    from gateway.adapters.mllp import MllpServer
    from gateway.adapters.mllp_dispatch import handed_over
    from gateway.app import create_app
    from gateway.workflows.hl7_messages import mllp_sources, receive_hl7

    state = create_app(config).extensions["gateway"]
    try:
        allowed = mllp_sources(state)
        try:
            server = MllpServer(host, port,
                                lambda raw, peer: receive_hl7(state, raw, peer=peer),
                                allowed, listen=handed_by is None,
                                max_message_bytes=config.hl7_max_message_bytes)
        except (OSError, ValueError) as error:
            raise _cannot_listen(host, port, error) from None
        if handed_by is None:
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
        else:  # the dispatcher stops it, by closing the pipe
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        accepting = ", ".join(str(a) for a in allowed)
        if handed_by is None:
            bound_host, bound_port = server.server_address[:2]
            click.echo(f"MLLP listening on {bound_host}:{bound_port} (pid {os.getpid()}), "
                       f"accepting {accepting}", err=True)
        else:
            click.echo(f"MLLP listener process (pid {os.getpid()}) ready, accepting "
                       f"{accepting}", err=True)
        try:
            if handed_by is None:
                server.serve_forever()
            else:
                server.serve_handed(handed_over(handed_by))
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
    finally:
        state.close()


def _cannot_listen(host: str, port: int, error: Exception) -> CliError:
    return CliError(f"cannot listen on {host}:{port}: "
                    f"{getattr(error, 'strerror', None) or error}")


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt  # serve_forever returns; the finally block shuts down cleanly

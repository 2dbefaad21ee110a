"""The audit writer: concurrent requests' events committed together, each request waiting for
its own, and one bad event failing only its own request."""
from __future__ import annotations

import threading

import pytest

from gateway.audit.verify import verify_chain
from gateway.fhir.errors import FhirError

from .builders import partner_disclosure


def test_concurrent_writes_all_land_once_and_the_chain_holds(app):
    state = app.extensions["gateway"]
    ids: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        for _ in range(n):
            audit_event_id = state.audit_writer.write(partner_disclosure())
            with lock:
                ids.append(audit_event_id)

    threads = [threading.Thread(target=write, args=(15,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(set(ids)) == 90
    with state.session_factory() as session:
        result = verify_chain(session)
    assert result.intact and result.entries == 90


def test_a_bad_event_fails_alone(app):
    state = app.extensions["gateway"]
    bad = {key: value for key, value in partner_disclosure().items() if key != "source"}
    results: dict[str, object] = {}
    barrier = threading.Barrier(4)

    def write(name: str, event: dict) -> None:
        barrier.wait()
        try:
            results[name] = state.audit_writer.write(event)
        except FhirError as error:
            results[name] = error

    threads = [threading.Thread(target=write, args=(f"good-{i}", partner_disclosure()))
               for i in range(3)] + [threading.Thread(target=write, args=("bad", bad))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(results.pop("bad"), FhirError)
    assert len(results) == 3 and all(isinstance(value, str) for value in results.values())
    with state.session_factory() as session:
        assert verify_chain(session).entries == 3


def test_close_finishes_queued_writes_and_a_later_write_starts_again(app):
    state = app.extensions["gateway"]
    first = state.audit_writer.write(partner_disclosure())
    state.audit_writer.close()
    second = state.audit_writer.write(partner_disclosure())
    assert first != second
    with state.session_factory() as session:
        chain = verify_chain(session)
    assert chain.intact and chain.entries == 2  # both written, the first before close ended
    with pytest.raises(FhirError):
        state.audit_writer.write({"resourceType": "AuditEvent"})


def test_a_request_that_waits_too_long_gives_up_without_stalling_the_others(app):
    """The leader's batch is slow: a request that arrived after it was taken gives up after
    the timeout (its answer is a 500), and the writer goes on serving later requests."""
    import time
    from contextlib import contextmanager

    from gateway.audit.writer import AuditWriter

    state = app.extensions["gateway"]
    slow = threading.Event()

    @contextmanager
    def writing(requester):
        with state.writing(requester) as repository:
            yield repository
            if slow.is_set():
                slow.clear()
                time.sleep(0.6)

    writer = AuditWriter(writing, timeout=0.2)
    slow.set()
    results: dict[str, object] = {}

    def write(name: str) -> None:
        try:
            results[name] = writer.write(partner_disclosure())
        except TimeoutError as error:
            results[name] = error

    leader = threading.Thread(target=write, args=("leader",))
    leader.start()
    time.sleep(0.1)  # the leader's batch has been taken and is being written
    follower = threading.Thread(target=write, args=("follower",))
    follower.start()
    follower.join()
    leader.join()
    assert isinstance(results["leader"], str)
    # The follower either gave up (500) or was written by the leader's next turn: never hung.
    assert isinstance(results["follower"], str | TimeoutError)
    assert isinstance(writer.write(partner_disclosure()), str)
    with state.session_factory() as session:
        written = verify_chain(session)
    assert written.intact
    assert written.entries == 2 + isinstance(results["follower"], str)

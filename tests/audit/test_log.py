"""record: each AuditEvent is stored in the journal and linked into the hash chain (one step
per transaction) in the caller's transaction."""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from gateway.audit.chain import GENESIS_HASH
from gateway.audit.log import record
from gateway.audit.verify import verify_chain
from gateway.auth import SYSTEM
from gateway.db.models import AuditBatchRow, Base, JournalRow, ResourceRow
from gateway.fhir.errors import FhirError
from gateway.state import GatewayState

from .builders import operator_disclosure, partner_disclosure, record_events


def chain_rows(state: GatewayState) -> Sequence[AuditBatchRow]:
    with state.session_factory() as session:
        return session.execute(select(AuditBatchRow).order_by(AuditBatchRow.seq)).scalars().all()


def count(state: GatewayState, model: type[Base]) -> int:
    with state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_each_step_hashes_the_stored_events_and_the_step_before(app):
    state = app.extensions["gateway"]
    ids = record_events(state, [partner_disclosure(), operator_disclosure(),
                                partner_disclosure(outcome="deny", resources=[])])
    steps = chain_rows(state)
    assert [step.event_ids for step in steps] == ids  # one transaction each: one event each
    assert [step.total for step in steps] == [1, 2, 3]
    assert [step.previous_hash for step in steps] == [GENESIS_HASH] + [
        step.batch_hash for step in steps[:-1]]
    with state.reading(SYSTEM) as repository:
        for step in steps:
            stored = repository.read("AuditEvent", step.event_ids)
            # The hash covers the event as stored, meta.versionId and lastUpdated included.
            assert stored.json()["meta"]["versionId"] == "1"
            canonical = json.dumps(stored.json(), sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False)
            expected = hashlib.sha256(f"{step.previous_hash}\n{canonical}".encode()).hexdigest()
            assert step.batch_hash == expected
            assert step.event_hashes == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_event_and_its_link_are_written_together_or_not_at_all(app):
    state = app.extensions["gateway"]
    with pytest.raises(RuntimeError), state.writing(SYSTEM) as repository:
        record(repository, partner_disclosure())
        raise RuntimeError("the disclosure failed after it was recorded")
    assert count(state, AuditBatchRow) == 0
    assert count(state, JournalRow) == 0
    assert count(state, ResourceRow) == 0


def test_an_invalid_event_is_refused_and_nothing_is_linked(app):
    state = app.extensions["gateway"]
    event = partner_disclosure()
    del event["source"]
    with pytest.raises(FhirError) as refused, state.writing(SYSTEM) as repository:
        record(repository, event)
    assert refused.value.status == 422
    assert count(state, AuditBatchRow) == 0


def test_several_events_in_one_transaction_are_one_step_in_order(app):
    state = app.extensions["gateway"]
    with state.writing(SYSTEM) as repository:
        ids = [record(repository, partner_disclosure(patients=[f"C-{n}"])) for n in range(3)]
    steps = chain_rows(state)
    assert [(step.event_ids.split(), step.total) for step in steps] == [(ids, 3)]
    events = []
    with state.reading(SYSTEM) as repository:
        for event_id in ids:
            events.append(json.dumps(repository.read("AuditEvent", event_id).json(),
                                     sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    assert steps[0].batch_hash == hashlib.sha256(
        "\n".join([GENESIS_HASH, *events]).encode()).hexdigest()
    # Nothing of them is in the general resource tables.
    assert count(state, ResourceRow) == 0
    with state.session_factory() as session:
        assert verify_chain(session).entries == 3


def test_concurrent_writers_never_fork_the_chain(app):
    state = app.extensions["gateway"]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            start.wait()
            for n in range(20):
                with state.writing(SYSTEM) as repository:
                    record(repository, operator_disclosure(requester_name=name,
                                                           patients=[f"C-{n}"]))
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    steps = chain_rows(state)
    assert len(steps) == 40
    assert len({step.previous_hash for step in steps}) == 40
    with state.session_factory() as session:
        result = verify_chain(session)
    assert result.broken is None
    assert result.entries == 40

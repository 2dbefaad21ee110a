"""verify_chain: an untouched log verifies; every kind of tampering is found at its entry."""
from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from gateway.audit.verify import VerifyResult, verify_chain
from gateway.auth import SYSTEM
from gateway.fhir.versions import to_json
from gateway.state import GatewayState

from .builders import chain_seqs, operator_disclosure, partner_disclosure, record_events


@pytest.fixture
def state(app: Flask) -> GatewayState:
    return app.extensions["gateway"]


@pytest.fixture
def recorded(state: GatewayState) -> list[str]:
    """Five AuditEvent ids, in the order they were recorded."""
    return record_events(state, [
        partner_disclosure(), operator_disclosure(),
        partner_disclosure(outcome="deny", resources=[], description="no consent"),
        partner_disclosure(interaction="delivery", action="C"),
        operator_disclosure(interaction="inbound", action="C"),
    ])


def verify(state: GatewayState, **options: int) -> VerifyResult:
    with state.session_factory() as session:
        return verify_chain(session, **options)


def execute(state: GatewayState, sql: str, **params: object) -> None:
    with state.engine.begin() as connection:
        assert connection.execute(text(sql), params).rowcount == 1


def step_of(state: GatewayState, audit_event_id: str) -> int:
    """The chain step (audit_batch.seq) that lists the event."""
    with state.engine.connect() as connection:
        steps = connection.execute(text("SELECT seq, event_ids FROM audit_batch")).all()
    return next(seq for seq, ids in steps if audit_event_id in ids.split())


def stored_content(state: GatewayState, audit_event_id: str) -> dict[str, Any]:
    with state.reading(SYSTEM) as repository:
        return repository.read("AuditEvent", audit_event_id).json()


def test_an_empty_log_is_intact(state):
    result = verify(state)
    assert (result.entries, result.broken, result.intact) == (0, None, True)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 1000])
def test_an_untouched_log_is_intact_whatever_the_batch_size(state, recorded, batch_size):
    result = verify(state, batch_size=batch_size)
    assert result.intact
    assert result.entries == 5


@pytest.mark.parametrize("batch_size", [2, 1000])
def test_a_changed_event_is_found_at_its_entry(state, recorded, batch_size):
    # Someone with database access turns a refusal into a permitted disclosure.
    changed = {**stored_content(state, recorded[2]), "outcome": "0"}
    execute(state, "UPDATE journal SET content = :content WHERE resource_type = 'AuditEvent' "
                   "AND id = :id", content=to_json(changed), id=recorded[2])
    result = verify(state, batch_size=batch_size)
    seq = chain_seqs(state)[recorded[2]]
    assert (result.broken.seq, result.broken.audit_event_id) == (seq, recorded[2])
    assert result.broken.reason == \
        "the AuditEvent or its entry hash was changed after it was recorded"
    # The walk goes on past it (every problem is reported), and this edit is one problem.
    assert result.entries == 5
    assert [p.kind for p in result.problems] == ["chain-broken"]
    assert str(result.broken) == (
        f"audit chain broken at entry {seq} (AuditEvent/{recorded[2]}): the AuditEvent or its "
        f"entry hash was changed after it was recorded")


def test_a_rewritten_meta_is_a_change_too(state, recorded):
    content = stored_content(state, recorded[0])
    content["meta"]["lastUpdated"] = "2020-01-01T00:00:00.000Z"
    execute(state, "UPDATE journal SET content = :content WHERE id = :id",
            content=to_json(content), id=recorded[0])
    assert verify(state).broken.audit_event_id == recorded[0]


def test_the_first_broken_entry_is_the_one_reported(state, recorded):
    for audit_event_id in (recorded[3], recorded[1]):
        content = {**stored_content(state, audit_event_id), "outcomeDesc": "edited"}
        execute(state, "UPDATE journal SET content = :content WHERE id = :id",
                content=to_json(content), id=audit_event_id)
    assert verify(state).broken.audit_event_id == recorded[1]


def test_a_removed_event_is_found(state, recorded):
    execute(state, "DELETE FROM journal WHERE resource_type = 'AuditEvent' AND id = :id",
            id=recorded[1])
    broken = verify(state).broken
    assert (broken.seq, broken.audit_event_id) == (chain_seqs(state)[recorded[1]], recorded[1])
    assert broken.reason == "the AuditEvent is missing"


def test_an_emptied_event_is_found(state, recorded):
    execute(state, "UPDATE journal SET content = '' WHERE id = :id", id=recorded[4])
    broken = verify(state).broken
    assert (broken.audit_event_id, broken.reason) == (
        recorded[4], "the stored AuditEvent is not valid JSON")


def test_an_edited_entry_hash_is_found_at_its_entry(state, recorded):
    seq = chain_seqs(state)[recorded[1]]
    execute(state, "UPDATE audit_batch SET batch_hash = :hash WHERE seq = :seq",
            hash="f" * 64, seq=step_of(state, recorded[1]))
    broken = verify(state).broken
    assert (broken.seq, broken.audit_event_id) == (seq, recorded[1])


def test_an_edited_previous_hash_is_found_at_its_entry(state, recorded):
    seq = chain_seqs(state)[recorded[3]]
    execute(state, "UPDATE audit_batch SET previous_hash = :hash WHERE seq = :seq",
            hash="e" * 64, seq=step_of(state, recorded[3]))
    broken = verify(state).broken
    assert (broken.seq, broken.reason) == (
        seq, "its previous hash does not match the entry before it")


def test_a_removed_link_breaks_the_next_one(state, recorded):
    seqs = chain_seqs(state)
    # The event and its link both gone: only the chain can tell.
    execute(state, "DELETE FROM audit_batch WHERE seq = :seq", seq=step_of(state, recorded[2]))
    execute(state, "DELETE FROM journal WHERE id = :id", id=recorded[2])
    broken = verify(state).broken
    assert (broken.seq, broken.audit_event_id) == (seqs[recorded[3]], recorded[3])
    assert broken.reason == "its previous hash does not match the entry before it"


def test_an_event_without_a_link_is_found(state, recorded):
    execute(state, "DELETE FROM audit_batch WHERE seq = :seq", seq=step_of(state, recorded[4]))
    result = verify(state)
    assert result.entries == 4
    assert (result.broken.seq, result.broken.audit_event_id) == (None, recorded[4])
    assert str(result.broken).startswith(
        f"audit chain broken: AuditEvent/{recorded[4]} is not linked into the chain")


def test_an_event_written_around_the_repository_is_found(state, recorded):
    # A row copied straight into the journal (as someone with database access could).
    execute(state, "INSERT INTO journal (resource_type, id, last_updated, content) "
                   "SELECT resource_type, 'slipped-in', last_updated, content FROM journal "
                   "WHERE resource_type = 'AuditEvent' AND id = :id", id=recorded[0])
    result = verify(state)
    assert result.broken.audit_event_id == "slipped-in"
    assert result.broken.seq is None


def test_audit_events_created_over_rest_are_chained_too(state, recorded, client, auth):
    created = client.post("/fhir/AuditEvent", json=partner_disclosure(), headers=auth)
    assert created.status_code == 201
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": operator_disclosure(), "request": {"method": "POST", "url": "AuditEvent"}}]}
    assert client.post("/fhir", json=bundle, headers=auth).status_code == 200
    result = verify(state)
    # The two AuditEvents posted, and the two that account for the requests themselves.
    assert result.intact and result.entries == len(recorded) + 4


def test_stored_json_is_compared_by_value_not_spelling(state, recorded):
    # Re-spelling the same JSON (key order, spacing) is not tampering: the hash is canonical.
    content = stored_content(state, recorded[0])
    respelled = json.dumps(dict(reversed(list(content.items()))), indent=1)
    execute(state, "UPDATE journal SET content = :content WHERE id = :id",
            content=respelled, id=recorded[0])
    assert verify(state).intact


def test_a_transaction_is_one_step_written_last_before_the_commit(state, recorded):
    """The events a transaction stores are one step of the chain, written after everything
    else the transaction writes, so the chain's lock is held only from there to the commit;
    the step is as good as one per event."""
    from sqlalchemy import event

    from gateway.audit.log import record

    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(state.engine, "before_cursor_execute", seen)
    try:
        with state.writing(SYSTEM, defer_index=True) as repository:
            first = record(repository, partner_disclosure())
            second = record(repository, operator_disclosure())
            assert not any("audit_batch" in s for s in statements)
            repository.create("Patient", {"resourceType": "Patient", "gender": "female"})
    finally:
        event.remove(state.engine, "before_cursor_execute", seen)
    chain_statements = [n for n, s in enumerate(statements) if "audit_batch" in s]
    # (On PostgreSQL they are INSERTs inside a WITH: fhir/journal_insert.py, search/index.py.)
    others = [n for n, s in enumerate(statements)
              if "INSERT INTO search_" in s or "INSERT INTO journal" in s]
    assert chain_statements and others and min(chain_statements) > max(others)
    assert step_of(state, first) == step_of(state, second)
    seqs = chain_seqs(state)
    assert seqs[first] + 1 == seqs[second] and seqs[first] > max(seqs[i] for i in recorded)
    result = verify(state)
    assert result.intact and result.entries == len(recorded) + 2


def test_an_event_edited_in_a_step_of_several_is_found_at_its_entry(state, recorded):
    with state.writing(SYSTEM) as repository:
        from gateway.audit.log import record
        ids = [record(repository, partner_disclosure(patients=[f"C-{n}"])) for n in range(3)]
    changed = {**stored_content(state, ids[1]), "outcome": "8"}
    execute(state, "UPDATE journal SET content = :content WHERE id = :id",
            content=to_json(changed), id=ids[1])
    result = verify(state)
    assert [(p.kind, p.audit_event_id, p.seq) for p in result.problems] == [
        ("chain-broken", ids[1], chain_seqs(state)[ids[1]])]


def test_a_step_whose_event_list_was_edited_is_found(state, recorded):
    # Dropping an event from its step's list (and fixing nothing else) breaks the step.
    with state.writing(SYSTEM) as repository:
        from gateway.audit.log import record
        ids = [record(repository, operator_disclosure(patients=[f"C-{n}"])) for n in range(2)]
    execute(state, "UPDATE audit_batch SET event_ids = :ids WHERE seq = :seq",
            ids=ids[0], seq=step_of(state, ids[0]))
    kinds = {p.kind for p in verify(state).problems}
    assert kinds == {"chain-broken", "unlinked-event"}

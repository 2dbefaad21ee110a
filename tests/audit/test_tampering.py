"""The four tamperings `gateway audit verify` used to miss (issue 18): each is shown to work on
what a reader is served, then to be found.

1. the newest AuditEvent deleted with its chain step (tail truncation);
2. the journal row's lastUpdated moved (``_lastUpdated`` searches and history go by it);
3. its search index rows deleted (it vanishes from ``AuditEvent?patient=``), or added;
4. the whole chain recomputed after an edit, as anyone who can write the database can.
Truncation and recomputation leave a chain that holds: only a checkpoint written outside the
database (checkpoint.py) finds them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import text

from gateway.audit.chain import GENESIS_HASH, canonical_json, event_hash, step_hash
from gateway.audit.checkpoint import (
    Checkpoint,
    generate_key_pair,
    latest_record,
    load_public_key,
    open_checkpoint,
)
from gateway.audit.verify import VerifyResult, verify_chain
from gateway.auth import SYSTEM
from gateway.cli import cli
from gateway.config import Config
from gateway.fhir.versions import to_json
from gateway.state import GatewayState

from .builders import chain_seqs, operator_disclosure, partner_disclosure, record_events

PATIENT = "C-1001"


@pytest.fixture
def state(app: Flask) -> GatewayState:
    return app.extensions["gateway"]


@pytest.fixture
def recorded(state: GatewayState) -> list[str]:
    """Four AuditEvent ids in the order recorded; the last names Patient/C-1001 alone."""
    return record_events(state, [
        partner_disclosure(), operator_disclosure(),
        partner_disclosure(outcome="deny", resources=[], description="no consent"),
        operator_disclosure(patients=[PATIENT], resources=[f"Patient/{PATIENT}"]),
    ])


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "checkpoint.pem", tmp_path / "checkpoint.pub.pem"
    generate_key_pair(private, public)
    return private, public


def run(config: Config, *args: str, keys: tuple[Path, Path] | None = None,
        target: Path | None = None) -> Result:
    env = {"GATEWAY_DATABASE_URL": config.database_url, "GATEWAY_BASE_URL": config.base_url,
           "GATEWAY_AUDIT_CHECKPOINT_KEY": str(keys[0]) if keys else "",
           "GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY": str(keys[1]) if keys else "",
           "GATEWAY_AUDIT_CHECKPOINT_TARGET": str(target) if target else ""}
    return CliRunner().invoke(cli, list(args), env=env)


def verify(state: GatewayState, checkpoint: Checkpoint | None = None) -> VerifyResult:
    with state.session_factory() as session:
        return verify_chain(session, checkpoint=checkpoint, registry=state.search_registry,
                            base_url=state.config.fhir_base_url)


def execute(state: GatewayState, sql: str, **params: object) -> int:
    with state.engine.begin() as connection:
        return connection.execute(text(sql), params).rowcount


def resource_pk(state: GatewayState, audit_event_id: str) -> int:
    with state.engine.connect() as connection:
        return connection.execute(text("SELECT pk FROM journal WHERE resource_type = "
                                       "'AuditEvent' AND id = :id"), {"id": audit_event_id}
                                  ).scalar_one()


def checkpoint_now(config: Config, keys: tuple[Path, Path], target: Path) -> Checkpoint:
    written = run(config, "audit", "checkpoint", keys=keys, target=target)
    assert written.exit_code == 0, written.output
    record = latest_record(target)
    assert record is not None
    return open_checkpoint(record, load_public_key(keys[1]))


def kinds(result: VerifyResult) -> list[str]:
    return [problem.kind for problem in result.problems]


# 1. Tail truncation.

def test_deleting_the_newest_event_with_its_link_is_found_against_the_checkpoint(
        state, recorded, config, keys, tmp_path, client, auth):
    target = tmp_path / "checkpoints.jsonl"
    checkpoint = checkpoint_now(config, keys, target)
    assert checkpoint.count == len(recorded)
    newest = recorded[-1]
    execute(state, "DELETE FROM audit_batch WHERE event_ids = :id", id=newest)
    execute(state, "DELETE FROM journal WHERE resource_type = 'AuditEvent' AND id = :id",
            id=newest)
    # What is left is a chain that holds: without the checkpoint nothing shows.
    assert verify(state).intact
    result = verify(state, checkpoint)
    assert kinds(result) == ["truncated"]
    assert result.problems[0].message == (
        f"the chain has 3 events, the {checkpoint.describe()} counted 4: 1 missing after "
        f"event 3 (the newest were removed)")
    verified = run(config, "audit", "verify", keys=keys, target=target)
    assert verified.exit_code == 1
    assert verified.stderr == f"gateway: error: {result.problems[0].message}\n"


def test_a_truncated_tail_grown_back_by_new_events_is_a_rewritten_chain(state, recorded,
                                                                        config, keys,
                                                                        tmp_path):
    checkpoint = checkpoint_now(config, keys, tmp_path / "checkpoints.jsonl")
    execute(state, "DELETE FROM audit_batch WHERE event_ids = :id", id=recorded[-1])
    execute(state, "DELETE FROM journal WHERE id = :id", id=recorded[-1])
    record_events(state, [partner_disclosure(), operator_disclosure()])
    result = verify(state, checkpoint)
    assert kinds(result) == ["rewritten"]
    assert result.problems[0].message.startswith("event 4 of the chain (AuditEvent/")


# 2. The journal row.

def test_vread_and_history_serve_the_journal_entry_itself(state, recorded, client, auth):
    # There is no separate version copy to forge: vread and history serve the entry.
    victim = recorded[2]
    read = client.get(f"/fhir/AuditEvent/{victim}", headers=auth).get_json()
    assert client.get(f"/fhir/AuditEvent/{victim}/_history/1", headers=auth).get_json() == read
    assert client.get(f"/fhir/AuditEvent/{victim}/_history/2", headers=auth).status_code == 404
    history = client.get(f"/fhir/AuditEvent/{victim}/_history", headers=auth).get_json()
    assert [e["resource"] for e in history["entry"]] == [read]


def test_an_edited_event_is_reported_once(state, recorded):
    victim = recorded[1]
    content = {**json.loads(_stored_text(state, victim)), "outcomeDesc": "edited"}
    execute(state, "UPDATE journal SET content = :content WHERE id = :id",
            content=to_json(content), id=victim)
    assert kinds(verify(state)) == ["chain-broken"]


def test_a_moved_last_updated_is_found(state, recorded):
    execute(state, "UPDATE journal SET last_updated = :moment WHERE id = :id",
            moment="2001-01-01 00:00:00", id=recorded[0])
    assert kinds(verify(state)) == ["event-row"]


# 3. The search index rows.

def test_deleted_index_rows_are_found(state, recorded, client, auth):
    victim = recorded[-1]
    search = f"/fhir/AuditEvent?patient=Patient/{PATIENT}"
    assert victim in _ids(client.get(search, headers=auth).get_json())
    removed = execute(state, "DELETE FROM journal_reference WHERE resource_pk = :pk",
                      pk=resource_pk(state, victim))
    assert removed > 0
    # Gone from the accounting of disclosures that Patient would be given.
    assert victim not in _ids(client.get(search, headers=auth).get_json())
    result = verify(state)
    assert kinds(result) == ["index-rows"]
    assert result.problems[0].message.startswith(
        f"AuditEvent/{victim} (entry {chain_seqs(state)[victim]}): {removed} search index "
        f"row(s) missing (")
    assert "patient" in result.problems[0].message


def test_added_index_rows_are_found(state, recorded):
    # Someone makes another consumer's accounting show a disclosure that never concerned them.
    execute(state, "INSERT INTO journal_reference (resource_pk, resource_type, param, "
                   "target_type, target_id) VALUES (:pk, 'AuditEvent', 'patient', 'Patient', "
                   "'C-2002')", pk=resource_pk(state, recorded[0]))
    result = verify(state)
    assert kinds(result) == ["index-rows"]
    assert "1 search index row(s) not derived from the event (patient)" in \
        result.problems[0].message


def test_index_rows_of_no_journal_entry_are_found(state, recorded):
    # A row left behind when an entry was deleted with foreign keys off (SQLite's default for
    # a bare connection, as someone at the database would use).
    insert = ("INSERT INTO journal_token (resource_pk, resource_type, param, system, code) "
              "VALUES (987654, 'AuditEvent', 'outcome', NULL, '0')")
    raw = state.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if state.engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, or it is a no-op
        else:
            cursor.execute("SET session_replication_role = replica")  # triggers (FKs) off
        cursor.execute(insert)
        raw.commit()
        if state.engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA foreign_keys=ON")
        else:
            cursor.execute("SET session_replication_role = DEFAULT")
    finally:
        raw.close()
    assert "stray-index-rows" in kinds(verify(state))


def test_an_untouched_trail_with_rest_and_request_events_is_intact(state, recorded, client,
                                                                   auth):
    # Index rows recomputed by verify match those the repository wrote, for events the
    # gateway wrote itself and ones posted over REST.
    assert client.post("/fhir/AuditEvent", json=partner_disclosure(),
                       headers=auth).status_code == 201
    assert client.get(f"/fhir/AuditEvent?patient={PATIENT}", headers=auth).status_code == 200
    result = verify(state)
    assert result.intact, [str(p) for p in result.problems]
    assert result.entries == len(recorded) + 3


# 4. A recomputed chain.

def test_a_recomputed_chain_is_found_against_the_checkpoint(state, recorded, config, keys,
                                                            tmp_path):
    target = tmp_path / "checkpoints.jsonl"
    checkpoint = checkpoint_now(config, keys, target)
    victim = recorded[2]
    # An edit no index row shows (or the attacker fixes the index rows as well).
    forged = {**json.loads(_stored_text(state, victim)), "outcomeDesc": "nothing withheld"}
    execute(state, "UPDATE journal SET content = :content WHERE id = :id",
            content=to_json(forged), id=victim)
    _recompute_chain(state)
    # Every link holds again; only the checkpoint tells.
    assert verify(state).intact
    result = verify(state, checkpoint)
    assert kinds(result) == ["rewritten"]
    verified = run(config, "audit", "verify", keys=keys, target=target)
    assert verified.exit_code == 1
    assert verified.stderr.startswith("gateway: error: event 4 of the chain (AuditEvent/")
    assert "rewritten or recomputed" in verified.stderr


def test_an_intact_trail_extends_its_checkpoint(state, recorded, config, keys, tmp_path):
    target = tmp_path / "checkpoints.jsonl"
    checkpoint = checkpoint_now(config, keys, target)
    record_events(state, [partner_disclosure()])
    assert verify(state, checkpoint).intact
    verified = run(config, "audit", "verify", keys=keys, target=target)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout == (f"audit chain intact: 5 entries; it extends the "
                               f"{checkpoint.describe()}\n")


def _stored_text(state: GatewayState, audit_event_id: str) -> str:
    with state.reading(SYSTEM) as repository:
        return repository.read("AuditEvent", audit_event_id).content


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])
            if entry["resource"]["resourceType"] == "AuditEvent"]


def _recompute_chain(state: GatewayState) -> None:
    """Rewrite every step from the events as they are stored now, as an attacker with the
    database (and the gateway's source) can."""
    with state.engine.begin() as connection:
        steps = connection.execute(text(
            "SELECT seq, event_ids FROM audit_batch ORDER BY seq")).all()
        # previous_hash is unique: clear the old ones first.
        connection.execute(text("UPDATE audit_batch SET previous_hash = 'x' || seq"))
        previous = GENESIS_HASH
        for seq, event_ids in steps:
            events = [json.loads(connection.execute(text(
                "SELECT content FROM journal WHERE id = :id"), {"id": event_id}).scalar_one())
                for event_id in event_ids.split()]
            current = step_hash(previous, [canonical_json(e) for e in events])
            connection.execute(text("UPDATE audit_batch SET previous_hash = :p, "
                                    "batch_hash = :b, event_hashes = :h WHERE seq = :seq"),
                               {"p": previous, "b": current, "seq": seq,
                                "h": " ".join(event_hash(e) for e in events)})
            previous = current

"""The delivery drain benchmark (benchmarks/delivery_drain.py) at a tiny scale, on PostgreSQL
(GATEWAY_TEST_DATABASE_URL; skipped without it): real worker processes, a real loopback
partner, every delivery sent exactly once, and both rates measured."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import delivery_receiver
from benchmarks.delivery_drain import measure
from benchmarks.plan import FULL, QUICK
from gateway.db.engine import make_engine, upgrade
from tests.conftest import EXTRA_URL, throwaway_schema


@pytest.mark.skipif(not EXTRA_URL or not EXTRA_URL.startswith("postgresql"),
                    reason="needs GATEWAY_TEST_DATABASE_URL (PostgreSQL)")
def test_drain_sends_every_delivery_once(tmp_path: Path) -> None:
    with throwaway_schema("drain") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        messages: list[str] = []
        results = measure(url, consumers=20, workers=2, batch_size=5, workdir=tmp_path,
                          log=messages.append, timeout=120.0)
    assert results.sent_once
    assert results.sent == results.attempts_one == results.received == 20
    assert results.distinct_consumers == results.complete_bundles == 20
    assert sum(c.get("sent", 0) for c in results.worker_counts.values()) == 20
    assert set(results.worker_counts) == {"w1", "w2"}
    assert sum(results.worker_batches.values()) >= 4  # batches of 5
    assert results.drain_seconds > 0 and results.rate > 0
    assert results.plain_sent == 20 and results.plain_rate > 0
    assert any("sent exactly once: True" in message for message in messages), messages
    assert results.profile is None  # not asked for
    assert json.loads(json.dumps(results.raw()))["sent_once"] is True


def test_receiver_answers_a_transaction_response() -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"},
         "request": {"method": "PUT", "url": "Patient/p1"}}]}
    status, body = delivery_receiver.transaction_response(json.dumps(bundle).encode())
    assert status == 200
    answer = json.loads(body)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["200 OK"]
    bundle["entry"][0]["request"]["method"] = "POST"
    assert delivery_receiver.transaction_response(json.dumps(bundle).encode())[0] == 400
    assert delivery_receiver.transaction_response(b"{")[0] == 400


def test_plans_have_the_delivery_sizes() -> None:
    assert FULL.delivery_consumers == 5_000 and FULL.delivery_workers == 2
    assert 0 < QUICK.delivery_consumers < FULL.delivery_consumers

"""Reliability with real worker processes (``gateway deliver``) and a partner on loopback:
a partner that is down for a while, a worker killed with SIGKILL mid-batch, two workers on
PostgreSQL sharing a burst, and a revocation while deliveries wait. Every wait is bounded."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.auth import SYSTEM
from gateway.db.models import DeliveryRow

from .conftest import PCP_ORG, consent, consumer_records, put

GATEWAY = str(Path(sys.executable).parent / "gateway")
FAST = {"GATEWAY_DELIVERY_BACKOFF_SECONDS": "0.2", "GATEWAY_DELIVERY_LEASE_SECONDS": "10",
        "GATEWAY_DELIVERY_TIMEOUT_SECONDS": "1", "GATEWAY_DELIVERY_POLL_SECONDS": "0.1",
        "GATEWAY_DELIVERY_BREAKER_COOLDOWN_SECONDS": "0.5",
        "GATEWAY_DELIVERY_MAX_ATTEMPTS": "1000"}


@pytest.fixture
def workers(config) -> Iterator[Callable[..., subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start(name: str, batch: int = 10) -> subprocess.Popen:
        env = {**os.environ, **FAST, "GATEWAY_DATABASE_URL": config.database_url,
               "GATEWAY_BASE_URL": config.base_url}
        process = subprocess.Popen([GATEWAY, "deliver", "--name", name, "--batch", str(batch)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def counts(app) -> Counter:
    with app.extensions["gateway"].session_factory() as session:
        return Counter(dict(session.execute(select(DeliveryRow.status, func.count())
                                            .group_by(DeliveryRow.status)).all()))


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up after {seconds:g}s waiting for {what}")


def add_consumers(app, count: int, prefix: str) -> list[str]:
    """``count`` consumers consented to the test clinic, stored in one transaction."""
    ids = [f"{prefix}-{n}" for n in range(count)]
    with app.extensions["gateway"].writing(SYSTEM) as repository:
        for patient_id in ids:
            for resource in [*consumer_records(patient_id), consent(patient_id, PCP_ORG)]:
                repository.update(resource["resourceType"], resource["id"], resource)
    return ids


def edit_plan(app, patient_id: str, title: str) -> None:
    with app.extensions["gateway"].reading(SYSTEM) as repository:
        plan = repository.read("CarePlan", f"plan-{patient_id}").json()
    put(app, {**plan, "title": title})


def no_double_effects(receiver) -> None:
    """Each resource holds one content at the partner: re-sends changed nothing there."""
    assert receiver.versions and set(receiver.versions.values()) == {1}, receiver.versions


def test_a_partner_down_for_a_while_gets_everything_once_it_recovers(
        app, world, receiver, workers):
    ids = ["p-yes", *add_consumers(app, 8, "p-down")]
    for version in range(1, 6):
        edit_plan(app, "p-yes", f"version {version}")
    receiver.stop()  # refused connections
    worker = workers("w-down")
    wait_until(lambda: _attempted(app) >= 3, 20, "attempts against the refused partner")
    receiver.fail_next(3, 503)
    receiver.delay_next(2, 3.0)  # longer than the worker's 1 s timeout
    receiver.start()
    wait_until(lambda: counts(app)["pending"] == 0, 60, "every delivery to be done")
    assert worker.poll() is None  # the worker rode it out
    assert counts(app) == Counter({"sent": len(ids), "withheld": 1})  # p-no never consented
    assert receiver.resources[("CarePlan", "plan-p-yes")]["title"] == "version 5"
    delivered = {id_ for (t, id_) in receiver.resources if t == "Patient"}
    assert delivered == set(ids)
    no_double_effects(receiver)


def _attempted(app) -> int:
    with app.extensions["gateway"].session_factory() as session:
        return session.scalar(select(func.sum(DeliveryRow.attempts))) or 0


def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
        app, world, receiver, workers):
    ids = ["p-yes", *add_consumers(app, 19, "p-kill")]
    receiver.delay_next(10_000, 0.15)  # a slow partner: the kill lands mid-batch
    first = workers("w-first", batch=10)
    wait_until(lambda: len(receiver.requests) >= 3, 30, "the first sends")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    with app.extensions["gateway"].session_factory() as session:
        leased = session.scalar(select(func.count()).where(
            DeliveryRow.status == "pending", DeliveryRow.lease_owner == "w-first"))
    assert leased > 0  # the killed worker left claimed deliveries behind
    receiver.delay_next(0, 0)
    workers("w-second", batch=10)  # takes them over once their leases run out (10 s)
    wait_until(lambda: counts(app)["pending"] == 0, 60, "the second worker to finish")
    assert counts(app) == Counter({"sent": len(ids), "withheld": 1})
    assert {id_ for (t, id_) in receiver.resources if t == "Patient"} == set(ids)
    no_double_effects(receiver)


def test_two_workers_share_a_burst_and_send_each_delivery_once(app, world, receiver, workers,
                                                               database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers at once need PostgreSQL (SQLite has one claimant)")
    ids = ["p-yes", *add_consumers(app, 999, "p-burst")]
    assert counts(app)["pending"] == 1_001  # p-no is queued too, and withheld at send time
    workers("w-a", batch=20)
    workers("w-b", batch=20)
    wait_until(lambda: counts(app)["pending"] == 0, 240, "the burst to drain")
    assert counts(app) == Counter({"sent": 1_000, "withheld": 1})
    sends = Counter(r.headers.get("X-Delivery-Id") for r in receiver.requests
                    if r.method == "POST")
    assert len(sends) == 1_000 and set(sends.values()) == {1}  # each sent exactly once
    with app.extensions["gateway"].session_factory() as session:
        by_worker = Counter(session.scalars(select(DeliveryRow.lease_owner)
                                            .where(DeliveryRow.status == "sent")))
    assert set(by_worker) == {"w-a", "w-b"} and min(by_worker.values()) > 50
    assert {id_ for (t, id_) in receiver.resources if t == "Patient"} == set(ids)


def test_revoking_consent_while_deliveries_wait_sends_none_of_them(app, world, receiver,
                                                                   workers):
    ids = add_consumers(app, 5, "p-revoke")
    for patient_id in ["p-yes", *ids]:
        put(app, consent(patient_id, PCP_ORG, status="inactive"))
    assert counts(app)["pending"] == 7
    workers("w-revoke")
    wait_until(lambda: counts(app)["pending"] == 0, 30, "the queue to be decided")
    assert counts(app) == Counter({"withheld": 7})
    assert receiver.requests == []

"""Failures: retries with backoff and Retry-After, dead letters and replays, the circuit
breaker, leases that expire, deliveries folded together."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import select

from gateway.auth import SYSTEM
from gateway.cli import cli
from gateway.db.models import DeliveryRow
from gateway.delivery import queue
from tests.conftest import OPERATOR_KEY

from .conftest import PCP_ORG, consent, consumer_records, put

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def row(app, patient_id: str = "p-yes") -> DeliveryRow:
    with app.extensions["gateway"].session_factory() as session:
        return session.scalars(select(DeliveryRow).where(DeliveryRow.patient_id == patient_id)
                               .order_by(DeliveryRow.seq.desc())).first()


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_transient_failures_back_off_then_arrive(app, world, receiver, make_worker, clock):
    receiver.fail_next(2, 503)
    worker = make_worker()
    worker.run(once=True)
    first = row(app)
    assert (first.status, first.attempts, first.last_status) == ("pending", 1, 503)
    wait = (as_utc(first.next_attempt_at) - clock()).total_seconds()
    assert 0.5 < wait <= 2.0  # half to all of the first window (base 2 s)
    worker.run(once=True)
    assert row(app).attempts == 1  # not due yet: nothing sent
    clock.advance(2.1)
    worker.run(once=True)
    second = row(app)
    assert (second.status, second.attempts) == ("pending", 2)
    assert (as_utc(second.next_attempt_at) - clock()).total_seconds() > 1.0  # window 4 s
    clock.advance(4.1)
    worker.run(once=True)
    assert row(app).status == "sent"
    assert ("CarePlan", "plan-p-yes") in receiver.resources


def test_retry_after_is_honoured(app, world, receiver, make_worker, clock):
    receiver.fail_next(1, 429, retry_after="120")
    make_worker().run(once=True)
    pending = row(app)
    assert pending.last_status == 429
    assert abs((as_utc(pending.next_attempt_at) - clock()).total_seconds() - 120) < 2


def test_a_permanent_error_is_a_dead_letter_at_once_and_can_be_replayed(
        app, world, receiver, make_worker, client, config, monkeypatch):
    receiver.fail_next(1, 422)
    make_worker().run(once=True)
    dead = row(app)
    assert (dead.status, dead.attempts, dead.last_status) == ("dead", 1, 422)
    # An AuditEvent records the failed disclosure attempt (outcome 8).
    events = client.get("/fhir/AuditEvent?patient=Patient/p-yes&type=110106",
                        headers=OPERATOR).get_json()
    assert [e["resource"]["outcome"] for e in events["entry"]] == ["8"]

    monkeypatch.setenv("GATEWAY_DATABASE_URL", config.database_url)
    runner = CliRunner()
    listed = runner.invoke(cli, ["deadletters", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    letters = [json.loads(line) for line in listed.output.splitlines()]
    assert [(d["id"], d["partner"], d["patient"]) for d in letters] == [
        (dead.seq, "pcp-test", "p-yes")]
    replayed = runner.invoke(cli, ["deadletters", "replay", str(dead.seq)])
    assert replayed.exit_code == 0 and "replayed 1" in replayed.output
    assert row(app).status == "pending"
    make_worker().run(once=True)
    assert row(app).status == "sent"
    assert runner.invoke(cli, ["deadletters", "replay", str(dead.seq)]).exit_code == 1


def test_too_many_attempts_make_a_dead_letter(app, world, receiver, make_worker, clock):
    receiver.fail_always(500)
    worker = make_worker()
    for _ in range(4):
        worker.run(once=True)
        clock.advance(60)
    dead = row(app)
    assert (dead.status, dead.attempts, dead.last_status) == ("dead", 4, 500)


def test_a_partner_that_is_down_is_left_alone_then_probed(app, world, receiver, make_worker,
                                                          clock):
    # Ten consented consumers queued for a partner that refuses connections.
    for number in range(10):
        patient_id = f"p-many-{number}"
        for resource in consumer_records(patient_id):
            put(app, resource)
        put(app, consent(patient_id, PCP_ORG))
    receiver.stop()
    worker = make_worker(breaker_threshold=3, breaker_cooldown=30.0, batch_size=50)
    worker.run(once=True)
    attempted = [r for r in _all(app) if r.attempts > 0]
    assert len(attempted) == 3  # then the circuit opened: the rest were not tried
    assert all(r.status == "pending" for r in _all(app) if r.patient_id != "p-no")
    receiver.start()
    worker.breaker.clock = lambda: float("inf")  # the cooldown is over: one probe, then all
    clock.advance(3600)
    worker.run(once=True)
    assert {r.status for r in _all(app) if r.patient_id != "p-no"} == {"sent"}
    assert len({id_ for (t, id_) in receiver.resources if t == "Patient"}) == 11


def _all(app) -> list[DeliveryRow]:
    with app.extensions["gateway"].session_factory() as session:
        return list(session.scalars(select(DeliveryRow).where(DeliveryRow.status != "withheld")))


def test_an_expired_lease_is_claimed_again(app, world, make_worker, clock):
    state = app.extensions["gateway"]
    now = clock()
    with state.session_factory() as session, session.begin():
        taken = queue.claim_due(session, "crashed-worker", 10, now, now)
    assert {c.patient_id for c in taken} == {"p-yes", "p-no"}
    # A lease that has not run out keeps the delivery from other workers...
    with state.session_factory() as session, session.begin():
        session.execute(DeliveryRow.__table__.update().values(
            lease_until=datetime(2999, 1, 1, tzinfo=UTC)))
    assert make_worker().run(once=True).counts == {}
    # ...and once it has, another worker takes it.
    with state.session_factory() as session, session.begin():
        session.execute(DeliveryRow.__table__.update().values(lease_until=clock()))
    clock.advance(1)
    assert make_worker().run(once=True).counts == {"sent": 1, "withheld": 1}


def test_a_change_while_sending_keeps_the_delivery_pending(app, world, receiver, make_worker):
    worker = make_worker()
    claimed = worker._claim()
    assert len(claimed) == 2
    outcomes = [worker._deliver(c, {}, datetime(2999, 1, 1, tzinfo=UTC)) for c in claimed]
    # The plan changes after the send, before the outcome is recorded.
    put(app, {**_plan(app), "title": "changed while sending"})
    worker._record(outcomes)
    assert row(app).status == "pending"  # generation moved on: it goes again
    worker.run(once=True)
    assert row(app).status == "sent"
    assert receiver.resources[("CarePlan", "plan-p-yes")]["title"] == "changed while sending"


def _plan(app) -> dict:
    with app.extensions["gateway"].reading(SYSTEM) as repo:
        return repo.read("CarePlan", "plan-p-yes").json()

"""Deliveries in the console: per partner queue figures, the lists with their reasons, the
hourly chart, and "Replay" on a dead letter (the delivery queue's own replay), which only an
administrator may do, with a CSRF token, once."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from gateway.db.engine import begin_write
from gateway.delivery import queue
from tests.console.conftest import hidden

REASON = "Service Unavailable: down for maintenance"


@pytest.fixture
def dead_letter(app, demo_agency) -> int:
    """One pending delivery to the clinic, given up on as a worker does: its seq."""
    state = app.extensions["gateway"]
    now = datetime.now(UTC)
    others = [p for p in demo_agency if p != "pcp-cedar"]
    with state.session_factory() as session, session.begin():
        begin_write(session)
        [claimed] = queue.claim_due(session, "test", 1, now + timedelta(days=1),
                                    now + timedelta(minutes=5), skip_partners=others)
        queue.mark_finished(session, claimed, "test", queue.DEAD, now, 503, REASON,
                            attempted=True)
    return claimed.seq


def status_of(app, seq: int) -> str:
    with app.extensions["gateway"].session_factory() as session:
        return {d.seq: d.status for s in queue.STATUSES
                for d in queue.deliveries(session, s, limit=1000)}[seq]


def test_dead_letters_with_their_reasons_and_the_queue_figures(dead_letter, signed_in):
    page = signed_in("carl").get("/console/deliveries").get_data(as_text=True)
    assert REASON in page and "HTTP 503" in page
    assert re.search(rf"<td>{dead_letter}</td>", page)
    assert "Cedar Street Family Health" in page  # the partner, by name
    assert not re.search(r">Patient/[0-9a-f]{8}…<", page)  # and the consumer too
    assert "Replay" not in page  # a case manager may look, not replay
    waiting = signed_in("carl").get("/console/deliveries?status=pending").get_data(
        as_text=True)
    assert "Waiting" in waiting and "Nothing is waiting" not in waiting


def test_replay_queues_the_dead_letter_again(app, dead_letter, signed_in):
    console = signed_in("ada")
    page = console.get("/console/deliveries").get_data(as_text=True)
    assert f'action="/console/deliveries/{dead_letter}/replay"' in page
    answer = console.post(f"/console/deliveries/{dead_letter}/replay",
                          data={"csrf_token": hidden(page, "csrf_token")})
    assert answer.status_code == 303
    assert status_of(app, dead_letter) == queue.PENDING
    after = console.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Delivery {dead_letter} is queued again" in after
    assert "No dead letters" in after
    again = console.post(f"/console/deliveries/{dead_letter}/replay",
                         data={"csrf_token": hidden(page, "csrf_token")})
    assert again.status_code == 409
    assert "is not a dead letter" in again.get_data(as_text=True)


def test_replay_needs_the_csrf_token_and_the_admin_role(app, dead_letter, signed_in):
    admin = signed_in("ada")
    forged = admin.post(f"/console/deliveries/{dead_letter}/replay",
                        data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert "could not be verified" in forged.get_data(as_text=True)
    officer = signed_in("petra")
    page = officer.get("/console/deliveries").get_data(as_text=True)
    refused = officer.post(f"/console/deliveries/{dead_letter}/replay",
                           data={"csrf_token": hidden(page, "csrf_token")})
    assert refused.status_code == 403
    assert status_of(app, dead_letter) == queue.DEAD


def test_the_hourly_chart_counts_finished_deliveries(dead_letter, signed_in):
    page = signed_in("ada").get("/console/deliveries").get_data(as_text=True)
    assert '<svg class="chart"' in page
    assert "0 sent, 0 withheld, 1 dead" in page
    assert re.search(r"<title>[^<]*: 1 dead</title>", page)


def test_empty_states_and_bad_filters(app, operators, signed_in):
    console = signed_in("ada")
    page = console.get("/console/deliveries").get_data(as_text=True)
    assert "Nothing has been queued for any partner yet" in page
    assert "No dead letters" in page and "No delivery finished" in page
    odd = console.get("/console/deliveries?status=lost&partner=nobody")
    assert odd.status_code == 200
    assert "There is no delivery status" in odd.get_data(as_text=True)
    assert console.get("/console/deliveries/abc/replay").status_code == 404


def test_dead_letters_page_by_page(app, demo_agency, signed_in):
    state = app.extensions["gateway"]
    now = datetime.now(UTC)
    with state.session_factory() as session, session.begin():
        begin_write(session)
        claimed = queue.claim_due(session, "test", 30, now + timedelta(days=1),
                                  now + timedelta(minutes=5))
        for item in claimed:
            queue.mark_finished(session, item, "test", queue.DEAD, now, 500, "boom",
                                attempted=True)
    assert len(claimed) == 30
    console = signed_in("ada")
    first = console.get("/console/deliveries").get_data(as_text=True)
    assert "Page 1 of 2" in first and first.count(">Replay</button>") == 25
    second = console.get("/console/deliveries?status=dead&page=2").get_data(as_text=True)
    assert second.count(">Replay</button>") == 5

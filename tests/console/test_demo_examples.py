"""The demo's console examples: referrals in different states and deadlines, a match
review waiting and a dead letter, made through the gateway's own workflows."""
from __future__ import annotations

from collections import Counter

from gateway.delivery import queue
from gateway.demo.console_examples import add_console_examples
from gateway.workflows import match_review
from tests.conftest import OPERATOR_KEY


def test_every_console_page_has_something_real(app, client, config, demo_agency):
    state = app.extensions["gateway"]
    line = add_console_examples(config, state)
    assert "5 hospital referrals" in line and "dead letter" in line
    listed = client.get("/admin/referrals", headers={
        "Authorization": f"Bearer {OPERATOR_KEY}"}).get_json()["referrals"]
    statuses = Counter(r["status"] for r in listed)
    assert statuses["requested"] == 2 and statuses["accepted"] == 1
    assert statuses["in-progress"] == 1  # the rejected one is no longer open
    assert any(r.get("overdue") for r in listed) and not all(r.get("overdue") for r in listed)
    assert len(match_review.reviews(state, match_review.OPEN)) == 1
    with state.session_factory() as session:
        [dead] = queue.deliveries(session, queue.DEAD)
    assert dead.partner_id == "pcp-cedar" and dead.last_status == 503

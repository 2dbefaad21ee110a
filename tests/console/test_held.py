"""Held HL7 messages in the console: the list, and "Replay" (the CLI's own replay), which
intake and administrators may use, with a CSRF token; a replay before the facility is
registered leaves the message held and says why."""
from __future__ import annotations

import re

from tests.console.conftest import hidden
from tests.inbound.test_hl7_held import MERCY, register_mercy, send_over_mllp
from tests.inbound.test_hl7_inbound import fields, sample
from tests.inbound.test_process_message import referral_tasks


def held_id(page: str) -> int:
    return int(re.search(r"/console/held/(\d+)/replay", page).group(1))


def test_a_held_message_is_listed_and_replayed_once_its_facility_is_registered(
        app, client, auth, demo_agency, gateway_cli, signed_in):
    [ack] = send_over_mllp(app, sample(MERCY))
    assert fields(ack, "MSA")[1] == "AR"
    ines = signed_in("ines")
    home = ines.get("/console/home").get_data(as_text=True)
    assert 'href="/console/held"' in home
    page = ines.get("/console/held").get_data(as_text=True)
    assert "MERCYGEN" in page and "ADT^A03" in page
    number = held_id(page)
    token = hidden(page, "csrf_token")

    # Replayed before the facility is registered: still held, and the page says why.
    answer = ines.post(f"/console/held/{number}/replay", data={"csrf_token": token})
    assert answer.status_code == 303
    page = ines.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Held message {number} is still held" in page
    assert referral_tasks(client, auth) == []

    register_mercy(gateway_cli)
    answer = ines.post(f"/console/held/{number}/replay", data={"csrf_token": token})
    page = ines.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Held message {number} was taken in" in page
    assert "No message is held" in page
    assert len(referral_tasks(client, auth)) == 1
    every = ines.get("/console/held?show=all").get_data(as_text=True)
    assert "replayed" in every and "MERCYGEN" in every


def test_replay_needs_the_role_and_the_csrf_token(app, demo_agency, signed_in):
    send_over_mllp(app, sample(MERCY))
    page = signed_in("ada").get("/console/held").get_data(as_text=True)
    number = held_id(page)
    carl = signed_in("carl")
    assert carl.get("/console/held").status_code == 403
    carl_token = hidden(carl.get("/console/home").get_data(as_text=True), "csrf_token")
    assert carl.post(f"/console/held/{number}/replay",
                     data={"csrf_token": carl_token}).status_code == 403
    ines = signed_in("ines")
    assert ines.post(f"/console/held/{number}/replay", data={}).status_code in (400, 403)
    assert f"/console/held/{number}/replay" in ines.get("/console/held").get_data(as_text=True)


def test_empty_state(signed_in):
    page = signed_in("ines").get("/console/held").get_data(as_text=True)
    assert "No message is held: every sender was registered." in page

"""HL7 v2 from facilities nobody registered: answered AR, held for an operator, replayed once
the facility is registered (CLI, admin API; over MLLP and over HTTP). And a sender whose MSH-18
is wrong, read in the character set registered for it."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.adapters import hl7v2, mllp
from gateway.db.models import InboundMessageRow
from gateway.partners.registry import PartnerError, hl7_endpoints
from gateway.workflows.hl7_messages import receive_hl7
from tests.inbound.test_hl7_inbound import fields, post, sample
from tests.inbound.test_process_message import referral_tasks

MERCY = "adt-a03-v2.3.1-newlines.hl7"  # MSH-4 MERCYGEN: no partner registers it
MERCY_A04 = "adt-a04-v2.3.1-registration.hl7"  # also MERCYGEN
WRONG_CHARSET = "wrong-msh18-adt-a03-v2.5.1-latin1.hl7"  # says UTF-8, is ISO 8859-1


def send_over_mllp(app, *messages: bytes) -> list[bytes]:
    state = app.extensions["gateway"]
    handler = lambda raw, peer: receive_hl7(state, raw, peer=peer)  # noqa: E731
    with mllp.MllpServer("127.0.0.1", 0, handler, ["127.0.0.1/32"]) as server:
        server.start()
        host, port = server.server_address[:2]
        with mllp.MllpClient(host, port, timeout=10) as connection:
            return [connection.send(message) for message in messages]


def register_mercy(gateway_cli) -> None:
    added = gateway_cli("partners", "add", "--id", "hospital-mercy", "--type", "hospital",
                        "--name", "Mercy General", "--hl7-facility", "MERCYGEN",
                        "--mllp-source", "127.0.0.1/32", "--hl7-timezone", "America/Chicago")
    assert added.exit_code == 0, added.output


def test_a_message_from_an_unknown_facility_is_held_and_replayed_after_registration(
        app, client, auth, demo_agency, gateway_cli):
    [ack, again] = send_over_mllp(app, sample(MERCY), sample(MERCY))  # a retry after the AR

    assert fields(ack, "MSA")[1] == "AR" and fields(again, "MSA")[1] == "AR"
    assert "held for the receiving agency" in fields(ack, "MSA")[3]  # no need to resend
    assert referral_tasks(client, auth) == []
    listed = gateway_cli("inbound", "held")
    assert listed.exit_code == 0, listed.output
    [line] = [row for row in listed.output.splitlines() if "\t" in row]
    held_id, received, facility, message_type, control_id, channel = line.split("\t")
    assert (facility, message_type, control_id, channel) == (
        "MERCYGEN", "ADT^A03", "MG-884120", "mllp:127.0.0.1")
    assert received.startswith("20")

    still = gateway_cli("inbound", "replay", held_id)
    assert still.exit_code == 1
    assert still.output.strip().count("\n") == 0
    assert "'MERCYGEN' is still not registered" in still.output
    assert referral_tasks(client, auth) == []

    register_mercy(gateway_cli)
    replayed = gateway_cli("inbound", "replay", held_id)

    assert replayed.exit_code == 0, replayed.output
    assert f"held message {held_id} replayed: AA" in replayed.output
    [task] = referral_tasks(client, auth)
    assert task["status"] == "requested"
    assert "\t" not in gateway_cli("inbound", "held").output
    # Replaying again changes nothing.
    twice = gateway_cli("inbound", "replay", held_id)
    assert twice.exit_code == 0 and "replayed already" in twice.output
    assert len(referral_tasks(client, auth)) == 1
    shown = gateway_cli("inbound", "held", "--all", "--json")
    [row] = [json.loads(line) for line in shown.output.splitlines()]
    assert row["status"] == "replayed" and row["times_received"] == 2
    assert row["answer"].startswith("AA")


def test_every_message_of_a_facility_is_replayed_in_the_order_received(
        app, client, auth, demo_agency, gateway_cli, session_factory):
    send_over_mllp(app, sample(MERCY_A04), sample(MERCY))
    register_mercy(gateway_cli)

    replayed = gateway_cli("inbound", "replay", "--facility", "MERCYGEN")

    assert replayed.exit_code == 0, replayed.output
    assert len(replayed.output.strip().splitlines()) == 2
    assert len(referral_tasks(client, auth)) == 1
    assert gateway_cli("inbound", "replay", "--facility", "MERCYGEN").exit_code == 1
    # Both went through the receive path: the inbound message log has them, as Mercy's.
    with session_factory() as session:
        taken = session.execute(select(InboundMessageRow.kind, InboundMessageRow.outcome).where(
            InboundMessageRow.partner_id == "hospital-mercy").order_by(
            InboundMessageRow.seq)).all()
    assert [tuple(row) for row in taken] == [("admit", "recorded"), ("discharge", "referral")]


def test_a_facility_registered_later_for_an_http_sender(
        client, auth, demo_agency, hospital_headers, gateway_cli):
    ack = post(client, hospital_headers, sample(MERCY))  # St. Brigid's token, MSH-4 MERCYGEN
    assert fields(ack, "MSA")[1] == "AR"
    [held] = client.get("/admin/inbound/held", headers=auth).get_json()["messages"]
    assert held["channel"] == "http:hospital-stbrigid" and held["facility"] == "MERCYGEN"

    refused = client.post(f"/admin/inbound/held/{held['id']}/replay", headers=auth)
    assert refused.status_code == 409
    assert refused.get_json()["resourceType"] == "OperationOutcome"

    assert gateway_cli("partners", "update", "hospital-stbrigid",
                       "--hl7-facility", "MERCYGEN").exit_code == 0
    replayed = client.post(f"/admin/inbound/held/{held['id']}/replay", headers=auth)

    assert replayed.status_code == 200, replayed.get_json()
    assert replayed.get_json()["outcome"] == "taken"
    assert len(referral_tasks(client, auth)) == 1
    assert client.get("/admin/inbound/held", headers=auth).get_json()["messages"] == []
    again = client.post(f"/admin/inbound/held/{held['id']}/replay", headers=auth)
    assert again.status_code == 200 and again.get_json()["outcome"] == "replayed-before"
    assert len(referral_tasks(client, auth)) == 1


def test_the_held_messages_are_for_operators_only(client, auth, demo_agency,
                                                  hospital_headers):
    assert client.get("/admin/inbound/held").status_code == 401
    assert client.get("/admin/inbound/held", headers=hospital_headers).status_code == 403
    assert client.post("/admin/inbound/held/1/replay",
                       headers=hospital_headers).status_code == 403
    assert client.post("/admin/inbound/held/999/replay", headers=auth).status_code == 404
    assert client.get("/admin/inbound/held?status=nope", headers=auth).status_code == 400


def test_the_replay_command_wants_ids_or_a_facility(config, app, gateway_cli):
    assert gateway_cli("inbound", "replay").exit_code == 2
    unknown = gateway_cli("inbound", "replay", "--facility", "NOWHERE")
    assert unknown.exit_code == 1 and "Traceback" not in unknown.output
    assert gateway_cli("inbound", "replay", "12345").exit_code == 1


# -- a sender whose MSH-18 is wrong ------------------------------------------------------------

def test_a_sender_whose_msh18_is_wrong_is_read_in_its_registered_charset(
        client, auth, demo_agency, hospital_headers, gateway_cli):
    message = sample(WRONG_CHARSET)
    assert fields(post(client, hospital_headers, message), "MSA")[1] == "AE"

    updated = gateway_cli("partners", "update", "hospital-stbrigid", "--hl7-charset",
                          "latin-1")
    assert updated.exit_code == 0, updated.output
    ack = post(client, hospital_headers, message.replace(b"SB-A03-7001", b"SB-A03-7002"))

    assert fields(ack, "MSA")[1] == "AA"
    [task] = referral_tasks(client, auth)
    patient = client.get(f"/fhir/{task['for']['reference']}", headers=auth).get_json()
    assert patient["name"][0] == {"family": "MÜLLER", "given": ["JOSÉ"]}
    shown = json.loads(gateway_cli("partners", "show", "hospital-stbrigid").output)
    assert shown["endpoints"]["hl7_charset"] == "iso8859-1"


def test_a_charset_that_cannot_read_hl7_is_refused_in_one_line(demo_agency, gateway_cli):
    refused = gateway_cli("partners", "update", "hospital-stbrigid", "--hl7-charset", "utf-16")
    assert refused.exit_code == 1
    assert "hl7_charset" in refused.output and "Traceback" not in refused.output
    with pytest.raises(PartnerError):
        hl7_endpoints(None, (), None, "no-such-charset")


def test_the_override_is_preferred_to_msh18():
    message = sample(WRONG_CHARSET)
    with pytest.raises(hl7v2.Hl7Error):
        hl7v2.parse(message)

    parsed = hl7v2.parse(message, charset="windows-1252")

    assert parsed.segment("PID").field(5).text() == "MÜLLER"
    assert parsed.charset == "UNICODE UTF-8" and parsed.codec == "windows-1252"
    assert "registered character set" in parsed.notes[0]
    assert "MÜLLER".encode("cp1252") in message
    with pytest.raises(hl7v2.Hl7Error) as refused:
        hl7v2.parse("MSH|^~\\&|A|B|C|D|20250101||ADT^A03|1|P|2.5.1\rPID|1||Ω".encode(),
                    charset="ascii")
    assert refused.value.ack_code == "AE" and refused.value.location == "MSH-18"

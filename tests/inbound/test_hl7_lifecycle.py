"""The HL7 v2 discharge lifecycle end to end (POST /hl7v2 and MLLP): A01 then A03 of one visit
is one Encounter; A11 withdraws the admission's care-team notice; A13 cancels the referral the
A03 made and the hospital hears of it; A40/A34 merge the hospital's MRNs (the crosswalk and
the referral follow the surviving MRN)."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters import hl7v2, mllp
from gateway.adapters.adt_event import CANCEL_ADMIT, CANCEL_DISCHARGE, MERGE
from gateway.adapters.adt_v2 import event_from_v2
from gateway.workflows.hl7_messages import receive_hl7
from tests.inbound.test_closed_loop import hospital_endpoint  # noqa: F401 - the fixture
from tests.inbound.test_hl7_inbound import (
    fields,
    mllp_process,  # noqa: F401 - the fixture
    post,
    sample,
)
from tests.inbound.test_process_message import consumer_patient_id, referral_tasks, search

MRN_SYSTEM = "https://fhir-care-gateway.example/partner/hospital-stbrigid/mrn"
ELENA = consumer_patient_id("C-1001")
A01, A11 = "adt-a01-v2.5.1-admit-consumer.hl7", "adt-a11-v2.5.1-cancel-admit.hl7"
A03, A13 = "adt-a03-v2.5.1-discharge-consumer.hl7", "adt-a13-v2.5.1-cancel-discharge.hl7"
A40, A34 = "adt-a40-v2.5.1-merge.hl7", "adt-a34-v2.3-merge.hl7"


def ack_code(ack: bytes) -> str:
    return fields(ack, "MSA")[1]


def resent(name: str, control_id: str, *replacements: tuple[str, str]) -> bytes:
    """A sample as a new message (another MSH-10), with text replaced."""
    message = sample(name)
    old_id = fields(message, "MSH")[9]
    message = message.replace(f"|{old_id}|".encode(), f"|{control_id}|".encode())
    for old, new in replacements:
        assert old.encode() in message, old
        message = message.replace(old.encode(), new.encode())
    return message


def read(client, auth, reference: str) -> dict[str, Any]:
    response = client.get(f"/fhir/{reference}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- A01 then A03: one Encounter --------------------------------------------------------------

def test_an_admission_then_a_discharge_of_one_visit_is_one_encounter(
        client, auth, demo_agency, hospital_headers):
    assert ack_code(post(client, hospital_headers, sample(A01))) == "AA"
    [notice] = search(client, auth, f"Communication?patient=Patient/{ELENA}")
    admitted = search(client, auth, f"Encounter?patient=Patient/{ELENA}")

    assert ack_code(post(client, hospital_headers, sample(A03))) == "AA"

    [encounter] = search(client, auth, f"Encounter?patient=Patient/{ELENA}")
    assert [e["id"] for e in admitted] == [encounter["id"]]
    assert encounter["status"] == "finished" and encounter["meta"]["versionId"] == "2"
    assert encounter["identifier"][0]["value"] == "SB-V-5001"
    assert encounter["period"]["end"].startswith("2025-03-09")
    assert notice["about"] == [{"reference": f"Encounter/{encounter['id']}"}]
    [task] = referral_tasks(client, auth)
    assert task["encounter"] == {"reference": f"Encounter/{encounter['id']}"}


# -- A11: the admission did not happen -------------------------------------------------------

def test_a_cancelled_admission_withdraws_the_care_team_notice(
        client, auth, demo_agency, hospital_headers):
    post(client, hospital_headers, sample(A01))
    [notice] = search(client, auth, f"Communication?patient=Patient/{ELENA}")
    assert notice["status"] == "completed"

    ack = post(client, hospital_headers, sample(A11))

    assert fields(ack, "MSA")[1:3] == ["AA", "SB-A11-5001"]
    withdrawn = read(client, auth, f"Communication/{notice['id']}")
    assert withdrawn["status"] == "entered-in-error"
    assert "cancelled the admission (ADT^A11 SB-A11-5001)" in withdrawn["statusReason"]["text"]
    encounter = read(client, auth, notice["about"][0]["reference"])
    assert encounter["status"] == "cancelled"
    # The withdrawal is on record: the receipt's AuditEvent names the notice.
    events = search(client, auth, f"AuditEvent?entity=Communication/{notice['id']}")
    assert any("withdrawn" in e.get("outcomeDesc", "") and "A11" in e["outcomeDesc"]
               for e in events), events
    assert referral_tasks(client, auth) == []


def test_a_cancelled_admission_of_an_unknown_visit_is_acknowledged(
        client, auth, demo_agency, hospital_headers):
    assert ack_code(post(client, hospital_headers, sample(A11))) == "AA"


def test_an_admission_is_not_cancelled_after_its_discharge(
        client, auth, demo_agency, hospital_headers):
    post(client, hospital_headers, sample(A01))
    post(client, hospital_headers, sample(A03))

    ack = post(client, hospital_headers, sample(A11))

    assert ack_code(ack) == "AE"
    assert "cancel the discharge (A13)" in ack.decode()
    [task] = referral_tasks(client, auth)
    assert task["status"] == "requested"


# -- A13: the discharge did not happen --------------------------------------------------------

def test_a_cancelled_discharge_cancels_the_referral_and_the_hospital_is_told(
        client, auth, demo_agency, hospital_headers, hospital_endpoint,  # noqa: F811
        make_worker):
    post(client, hospital_headers, sample(A03))
    [task] = referral_tasks(client, auth)
    make_worker().run(once=True)
    assert hospital_endpoint.resources[("Task", task["id"])]["status"] == "requested"

    ack = post(client, hospital_headers, sample(A13))

    assert fields(ack, "MSA")[1:3] == ["AA", "SB-A13-5001"]
    [cancelled] = referral_tasks(client, auth)
    assert cancelled["status"] == "cancelled"
    assert "cancelled the discharge (ADT^A13 SB-A13-5001)" in cancelled["statusReason"]["text"]
    assert cancelled["businessStatus"]["text"] == "discharge cancelled by the hospital"
    order = read(client, auth, cancelled["focus"]["reference"])
    assert order["status"] == "revoked"
    encounter = read(client, auth, cancelled["encounter"]["reference"])
    assert encounter["status"] == "in-progress" and "end" not in encounter["period"]
    # The hospital is told through the delivery engine, with the reason ...
    make_worker().run(once=True)
    reported = hospital_endpoint.resources[("Task", task["id"])]
    assert reported["status"] == "cancelled"
    assert "cancelled the discharge" in reported["statusReason"]["text"]
    # ... and sees it when it asks for its referral's status.
    own_view = client.get(f"/fhir/Task/{task['id']}", headers=hospital_headers)
    assert own_view.status_code == 200 and own_view.get_json()["status"] == "cancelled"


def test_a_cancelled_discharge_again_changes_nothing(client, auth, demo_agency,
                                                    hospital_headers):
    post(client, hospital_headers, sample(A03))
    first = post(client, hospital_headers, sample(A13))
    [task] = referral_tasks(client, auth)

    assert post(client, hospital_headers, sample(A13)) == first  # the same message
    again = post(client, hospital_headers, resent(A13, "SB-A13-5001-B"))  # another one

    assert ack_code(again) == "AA"
    [same] = referral_tasks(client, auth)
    assert same["meta"]["versionId"] == task["meta"]["versionId"]


def test_a_cancelled_discharge_leaves_an_accepted_then_completed_referral_alone(
        client, auth, demo_agency, hospital_headers):
    post(client, hospital_headers, sample(A03))
    [task] = referral_tasks(client, auth)
    for status in ("received", "accepted", "in-progress", "completed"):
        current = read(client, auth, f"Task/{task['id']}")
        response = client.put(f"/fhir/Task/{task['id']}", json={**current, "status": status},
                              headers={**auth, "Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.get_json()

    ack = post(client, hospital_headers, sample(A13))

    assert ack_code(ack) == "AA"
    assert referral_tasks(client, auth)[0]["status"] == "completed"


def test_a_cancelled_discharge_without_a_referral_is_acknowledged(
        client, auth, demo_agency, hospital_headers):
    assert ack_code(post(client, hospital_headers, sample(A13))) == "AA"
    assert referral_tasks(client, auth) == []


# -- A40, A34: merges --------------------------------------------------------------------------

@pytest.mark.parametrize("merge", [A40, A34])
def test_a_merge_moves_the_crosswalk_and_the_referral_to_the_surviving_mrn(
        client, auth, demo_agency, hospital_headers, merge):
    post(client, hospital_headers, sample(A03))  # C-1001 is known by MRN SB-771204
    [task] = referral_tasks(client, auth)

    ack = post(client, hospital_headers, sample(merge))

    assert ack_code(ack) == "AA"
    patient = read(client, auth, f"Patient/{ELENA}")
    mrns = {i["value"]: i.get("use") for i in patient["identifier"]
            if i["system"] == MRN_SYSTEM}
    assert mrns == {"SB-771204": "old", "SB-900017": None}
    found = search(client, auth, f"Task?patient.identifier={MRN_SYSTEM}|SB-900017"
                                 f"&_tag=hospital-discharge")
    assert [t["id"] for t in found] == [task["id"]]
    # A later message with the surviving MRN alone finds the consumer.
    later = resent(A13, "SB-A13-after-merge",
                   ("SB-771204^^^STBRIGID^MR~0014382291^^^MI^MA", "SB-900017^^^STBRIGID^MR"))
    assert ack_code(post(client, hospital_headers, later)) == "AA"
    assert referral_tasks(client, auth)[0]["status"] == "cancelled"


def test_a_merge_takes_a_prospective_patient_into_the_consumer(
        client, auth, demo_agency, hospital_headers):
    # The consumer is known by the surviving MRN ...
    post(client, hospital_headers, resent(A01, "SB-A01-survivor",
                                          ("SB-771204", "SB-900017")))
    # ... and a discharge under a temporary MRN made a prospective Patient with a referral.
    post(client, hospital_headers, resent(
        A03, "SB-A03-temporary",
        ("SB-771204^^^STBRIGID^MR~0014382291^^^MI^MA||MARTINEZ^ELENA||19880412|F",
         "SB-771204^^^STBRIGID^MR||TRAUMA^UNKNOWN||19000101|U"),
        ("SB-V-5001", "SB-V-5002")))
    [task] = referral_tasks(client, auth)
    prospective = task["for"]["reference"]
    assert prospective != f"Patient/{ELENA}"

    assert ack_code(post(client, hospital_headers, sample(A40))) == "AA"

    [moved] = referral_tasks(client, auth)
    assert moved["for"] == {"reference": f"Patient/{ELENA}"}
    assert read(client, auth, moved["focus"]["reference"])["subject"] == moved["for"]
    merged = read(client, auth, prospective)
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{ELENA}"},
                               "type": "replaced-by"}]
    survivor = read(client, auth, f"Patient/{ELENA}")
    assert {(i["value"], i.get("use")) for i in survivor["identifier"]
            if i["system"] == MRN_SYSTEM} == {("SB-900017", None), ("SB-771204", "old")}


def test_a_merge_of_an_unknown_mrn_is_acknowledged(client, auth, demo_agency,
                                                  hospital_headers):
    assert ack_code(post(client, hospital_headers, sample(A40))) == "AA"


# -- bad input: an HL7 NAK, never a 500 --------------------------------------------------------

@pytest.mark.parametrize(("name", "location"), [
    ("bad-a13-no-visit-number.hl7", "PV1^1^19"), ("bad-a40-no-mrg.hl7", "MRG^1"),
])
def test_a_cancel_or_merge_that_cannot_be_placed_is_nakked(
        client, auth, demo_agency, hospital_headers, name, location):
    ack = post(client, hospital_headers, sample(name))

    assert ack_code(ack) == "AE"
    assert fields(ack, "ERR")[2] == location


def test_the_lifecycle_over_mllp(app, client, auth, demo_agency):
    state = app.extensions["gateway"]
    handler = lambda raw, peer: receive_hl7(state, raw, peer=peer)  # noqa: E731
    with mllp.MllpServer("127.0.0.1", 0, handler, ["127.0.0.1/32"]) as server:
        server.start()
        host, port = server.server_address[:2]
        with mllp.MllpClient(host, port, timeout=10) as connection:
            acks = [connection.send(sample(name)) for name in (A01, A11, A03, A13, A40)]

    assert [ack_code(a) for a in acks] == ["AA"] * 5
    [task] = referral_tasks(client, auth)
    assert task["status"] == "cancelled"
    [notice] = search(client, auth, f"Communication?patient=Patient/{ELENA}")
    assert notice["status"] == "entered-in-error"
    assert {i["value"]: i.get("use") for i in read(client, auth, f"Patient/{ELENA}")[
        "identifier"] if i["system"] == MRN_SYSTEM} == {"SB-771204": "old", "SB-900017": None}


def test_a_real_mllp_listener_takes_cancels_and_merges(client, auth,
                                                       mllp_process):  # noqa: F811
    host, port, process = mllp_process
    with mllp.MllpClient(host, port, timeout=30) as connection:
        acks = [connection.send(sample(name)) for name in (A01, A11, A03, A13, A40)]

    assert [ack_code(a) for a in acks] == ["AA"] * 5
    assert referral_tasks(client, auth)[0]["status"] == "cancelled"
    process.terminate()
    assert process.wait(15) == 0
    assert "Traceback" not in process.stderr.read().decode()


# -- the mapping ------------------------------------------------------------------------------

def test_the_mapping_reads_cancels_and_merges():
    assert event_from_v2(hl7v2.parse(sample(A11))).kind == CANCEL_ADMIT
    assert event_from_v2(hl7v2.parse(sample(A13))).kind == CANCEL_DISCHARGE
    merge = event_from_v2(hl7v2.parse(sample(A34)))
    assert merge.kind == MERGE and merge.encounter is None
    [prior] = merge.prior_identifiers
    assert prior["value"] == "SB-771204"
    assert prior["type"]["coding"][0]["code"] == "MR"  # untyped MRG-1: an MRN


def test_two_merges_in_one_message_are_refused():
    message = sample(A40) + b"PID|2||SB-1^^^STBRIGID^MR||A^B\rMRG|SB-2^^^STBRIGID^MR\r"

    with pytest.raises(hl7v2.Hl7Error) as refused:
        event_from_v2(hl7v2.parse(message))

    assert refused.value.ack_code == "AE" and refused.value.location == "MRG[2]"


def test_a_cancelled_discharge_takes_it_off_the_match_review_queue(
        client, auth, demo_agency, hospital_headers):
    uncertain = resent(A03, "SB-A03-uncertain",
                       ("SB-771204^^^STBRIGID^MR~0014382291^^^MI^MA", "SB-555555^^^STBRIGID^MR"),
                       ("||19880412|F|||412 W SAGINAW ST^^LANSING^MI^48933^USA^H",
                        "||19880412|F"))
    post(client, hospital_headers, uncertain)
    [review] = client.get("/admin/matches", headers=auth).get_json()["reviews"]

    ack = post(client, hospital_headers, sample(A13))

    assert ack_code(ack) == "AA"
    assert client.get("/admin/matches", headers=auth).get_json()["reviews"] == []
    closed = client.get("/admin/matches?status=cancelled", headers=auth).get_json()["reviews"]
    assert [r["id"] for r in closed] == [review["id"]]
    linked = client.post(f"/admin/matches/{review['id']}/link", headers=auth,
                         json={"patient": ELENA})
    assert linked.status_code == 409
    assert referral_tasks(client, auth) == []

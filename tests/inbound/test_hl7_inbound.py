"""HL7 v2 ADT messages through POST /hl7v2 and over MLLP (in process and with a real
``gateway mllp`` process), end to end: ACKs, referrals, idempotency, senders."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.adapters import mllp
from gateway.care.followup import FUH_7_DAY
from gateway.partners.registry import Partner, PartnerRegistry
from gateway.workflows.hl7_messages import receive_hl7
from tests.inbound.conftest import HOSPITAL
from tests.inbound.test_process_message import referral_tasks, search

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7v2"
GATEWAY = str(Path(sys.executable).parent / "gateway")
DISCHARGES = sorted(p.name for p in SAMPLES.glob("adt-a03-*.hl7"))
ER7 = "x-application/hl7-v2+er7"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def fields(ack: bytes, segment: str) -> list[str]:
    for line in ack.replace(b"\n", b"\r").split(b"\r"):
        if line.startswith(segment.encode()):
            return line.decode("latin-1").split("|")
    raise AssertionError(f"no {segment} in {ack!r}")


def control_id(message: bytes) -> str:
    return fields(message, "MSH")[9]


@pytest.fixture
def any_facility(app, demo_agency) -> Partner:
    """The demo hospital, registered without a fixed MSH-4 (the samples come from several
    facilities' systems)."""
    state = app.extensions["gateway"]
    with state.session_factory() as session, session.begin():
        registry = PartnerRegistry(session)
        hospital = registry.get(HOSPITAL)
        endpoints = {k: v for k, v in hospital.endpoints.items() if k != "hl7_facility"}
        registry.put(Partner.from_json(hospital.to_json() | {"endpoints": endpoints}))
        return registry.get(HOSPITAL)


def post(client, headers, message: bytes):
    response = client.post("/hl7v2", data=message,
                           headers={"Authorization": headers["Authorization"],
                                    "Content-Type": ER7})
    assert response.status_code == 200, response.data
    assert response.content_type.startswith(ER7)
    return response.data


@pytest.mark.parametrize("name", DISCHARGES)
def test_each_discharge_sample_becomes_a_referral(client, auth, any_facility,
                                                  hospital_headers, name):
    message = sample(name)

    ack = post(client, hospital_headers, message)

    msa = fields(ack, "MSA")
    assert msa[1:3] == ["AA", control_id(message)]
    [task] = referral_tasks(client, auth)
    assert task["status"] == "requested"
    assert {e["url"] for e in task["extension"]} >= {FUH_7_DAY}
    assert task["requester"]["reference"] == f"Organization/{any_facility.organization}"


def test_a_latin1_name_arrives_intact(client, auth, any_facility, hospital_headers):
    post(client, hospital_headers, sample("adt-a03-v2.4-latin1.hl7"))

    [task] = referral_tasks(client, auth)
    patient = client.get(f"/fhir/{task['for']['reference']}", headers=auth).get_json()
    raw = sample("adt-a03-v2.4-latin1.hl7").decode("latin-1")
    assert patient["name"][0]["family"] in raw and not patient["name"][0]["family"].isascii()


@pytest.mark.parametrize(("name", "code"), [
    ("bad-not-hl7.txt", "AR"), ("bad-missing-msh.hl7", "AR"),
    ("bad-unknown-charset.hl7", "AR"), ("bad-unsupported-trigger-a99.hl7", "AR"),
    ("bad-oru-r01.hl7", "AR"), ("bad-unsupported-version.hl7", "AR"),
    ("bad-pid-no-identifiers-no-name.hl7", "AE"), ("bad-pv1-45-date.hl7", "AE"),
    ("bad-truncated.hl7", None),
])
def test_malformed_messages_are_nakked_never_a_500(client, auth, any_facility,
                                                   hospital_headers, name, code):
    ack = post(client, hospital_headers, sample(name))

    msa = fields(ack, "MSA")
    assert msa[1] in (("AE", "AR") if code is None else (code,))
    assert fields(ack, "ERR")
    assert referral_tasks(client, auth) == []
    refused = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/ontology/"
                                   "DCM|110107&outcome=4")
    assert len(refused) == 1


def test_the_same_message_twice_gets_the_same_ack_and_one_referral(
        client, auth, any_facility, hospital_headers):
    message = sample("adt-a03-v2.5.1-utf8-profile.hl7")

    first = post(client, hospital_headers, message)
    second = post(client, hospital_headers, message)

    assert first == second
    assert len(referral_tasks(client, auth)) == 1


def test_a_content_error_gets_the_same_ae_again(client, any_facility, hospital_headers):
    message = sample("bad-pv1-45-date.hl7")
    assert post(client, hospital_headers, message) == post(client, hospital_headers, message)


def test_an_admission_of_someone_unknown_is_acknowledged_and_recorded(
        client, auth, any_facility, hospital_headers):
    ack = post(client, hospital_headers, sample("adt-a01-v2.5.1-admit.hl7"))

    assert fields(ack, "MSA")[1] == "AA"
    assert referral_tasks(client, auth) == []


def test_a_facility_that_is_not_the_senders_is_rejected(client, auth, demo_agency,
                                                        hospital_headers):
    ack = post(client, hospital_headers, sample("adt-a03-v2.3.1-newlines.hl7"))  # MERCYGEN

    assert fields(ack, "MSA")[1] == "AR"
    assert "MERCYGEN" in fields(ack, "ERR")[-1] or "MERCYGEN" in b"".join(
        ack.split(b"\r")).decode("latin-1")
    assert referral_tasks(client, auth) == []


def test_only_partners_may_post_hl7(client, auth, demo_agency):
    message = sample("adt-a03-v2.5.1-utf8-profile.hl7")
    assert client.post("/hl7v2", data=message, headers={"Content-Type": ER7}).status_code == 401
    as_operator = client.post("/hl7v2", data=message,
                              headers={"Authorization": auth["Authorization"],
                                       "Content-Type": ER7})
    assert as_operator.status_code == 403
    assert as_operator.get_json()["resourceType"] == "OperationOutcome"


# -- MLLP ------------------------------------------------------------------------------------

def test_over_mllp_the_hospital_is_known_by_its_address_and_facility(app, client, auth,
                                                                    demo_agency):
    state = app.extensions["gateway"]
    handler = lambda raw, peer: receive_hl7(state, raw, peer=peer)  # noqa: E731
    with mllp.MllpServer("127.0.0.1", 0, handler, ["127.0.0.1/32"]) as server:
        server.start()
        host, port = server.server_address[:2]
        st_brigid = sample("adt-a03-v2.5.1-utf8-profile.hl7")  # MSH-4 STBRIGID
        mercy = sample("adt-a03-v2.3.1-newlines.hl7")  # MSH-4 MERCYGEN: not registered
        with mllp.MllpClient(host, port, timeout=10) as connection:
            accepted = connection.send(st_brigid)
            rejected = connection.send(mercy)

    assert fields(accepted, "MSA")[1:3] == ["AA", control_id(st_brigid)]
    assert fields(rejected, "MSA")[1] == "AR"
    assert len(referral_tasks(client, auth)) == 1
    [refused] = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/"
                                     "ontology/DCM|110107&outcome=4")
    assert refused["agent"][0]["who"]["display"] == "MERCYGEN (127.0.0.1)"


@pytest.fixture
def mllp_process(config, demo_agency) -> Iterator[tuple[str, int, subprocess.Popen]]:
    port = _free_port()
    env = {**os.environ, "GATEWAY_DATABASE_URL": config.database_url,
           "GATEWAY_BASE_URL": config.base_url, "GATEWAY_VAR_DIR": str(config.var_dir)}
    process = subprocess.Popen([GATEWAY, "mllp", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        yield "127.0.0.1", port, process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_a_real_mllp_listener_takes_messages_and_stops_on_sigterm(client, auth, mllp_process):
    host, port, process = mllp_process
    messages = [sample("adt-a03-v2.5.1-utf8-profile.hl7"),
                sample("adt-a03-v2.5.1-no-discharge-time.hl7")]
    with mllp.MllpClient(host, port, timeout=20) as connection:
        acks = [connection.send(message) for message in messages]

    assert [fields(ack, "MSA")[1] for ack in acks] == ["AA", "AA"]
    assert len(referral_tasks(client, auth)) == 2
    process.terminate()
    assert process.wait(15) == 0
    log = process.stderr.read().decode()
    assert "Traceback" not in log
    # One process accepted and handed the connections to two listener processes (the default
    # --workers 2), each with its own pid.
    assert len(re.findall(r"MLLP listening on \S+ \(pid \d+\), handing connections", log)) == 1
    assert len(set(re.findall(r"MLLP listener process \(pid (\d+)\) ready", log))) == 2, log


def test_the_cli_refuses_to_listen_with_no_allowed_source(config, app):
    env = {**os.environ, "GATEWAY_DATABASE_URL": config.database_url}
    env.pop("GATEWAY_MLLP_ALLOWED_SOURCES", None)
    result = subprocess.run([GATEWAY, "mllp", "--port", str(_free_port())], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no source may send" in result.stderr and "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway mllp exited: {process.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gateway mllp did not start listening")


def test_a_message_sent_again_is_audited_as_a_repeat(client, auth, any_facility,
                                                     hospital_headers):
    message = sample("adt-a03-v2.5.1-utf8-profile.hl7")
    post(client, hospital_headers, message)
    post(client, hospital_headers, message)

    events = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/"
                                  "ontology/DCM|110107&_count=10")
    assert len(events) == 2
    assert sum("received again" in e.get("outcomeDesc", "") for e in events) == 1


def test_an_http_message_over_the_mllp_limit_is_413_before_anything_reads_it(
        client, hospital_headers):
    body = b"MSH|^~\\&|" + b"x" * (1 << 20)
    response = client.post("/hl7v2", data=body,
                           headers={**hospital_headers, "Content-Type": ER7})
    assert response.status_code == 413
    assert "at most 1,048,576 bytes" in response.get_json()["issue"][0]["diagnostics"]


def test_control_characters_in_a_refused_message_do_not_lose_its_audit_event(
        client, auth, any_facility, hospital_headers):
    """Found by the MLLP fuzz tests: a refusal quoting an MSH-9 with a control character made
    an AuditEvent the validator refused, so the refused message went unaudited."""
    message = sample("adt-a03-v2.5.1-discharge-consumer.hl7").replace(b"ADT^A03", b"\x0c\x01",
                                                                         1)
    ack = post(client, hospital_headers, message)
    assert fields(ack, "MSA")[1] == "AR"
    [refused] = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/"
                                     "ontology/DCM|110107&outcome=4")
    assert "\ufffd" in refused["outcomeDesc"]


def test_a_nul_in_a_message_is_refused_and_audited(client, auth, any_facility,
                                                   hospital_headers):
    """Found by the MLLP fuzz tests on PostgreSQL: a NUL in a field reached a text column
    (PostgreSQL refuses it), so the message was answered 'send it again' for ever."""
    message = sample("adt-a03-v2.5.1-discharge-consumer.hl7").replace(b"PID|", b"PID|\x00", 1)
    ack = post(client, hospital_headers, message)
    assert fields(ack, "MSA")[1] == "AR"
    assert b"NUL" in ack
    assert referral_tasks(client, auth) == []
    [refused] = search(client, auth, "AuditEvent?type=http://dicom.nema.org/resources/"
                                     "ontology/DCM|110107&outcome=4")
    assert "NUL" in refused["outcomeDesc"]

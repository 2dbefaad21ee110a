"""``gateway demo`` end to end: the gateway, its delivery worker and the demo partners' endpoints
as real processes on loopback. An operator's edit of a consented consumer's plan reaches the
demo primary-care endpoint within seconds, with an AuditEvent; the same edit for a consumer
who did not consent reaches no one. Ctrl-C (SIGINT) stops every process the demo started."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.mappings.intake import intake_id

GATEWAY = str(Path(sys.executable).parent / "gateway")
KEY = "demo-test-key-of-thirty-two-chars"
OPERATOR = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up after {seconds:g}s waiting for {what}")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    output = tmp_path / "demo.out"
    env = {**os.environ, "GATEWAY_OPERATOR_KEYS": KEY, "GATEWAY_VAR_DIR": str(tmp_path / "var")}
    with open(output, "wb") as out:
        process = subprocess.Popen([GATEWAY, "demo", "--port", str(port), "--db",
                                    str(tmp_path / "demo.db")], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/readyz", timeout=1).ok, 90, "the demo to start")
        banner = output.read_text()
        pcp = re.search(r"pcp-cedar\s+(http://\S+)", banner)
        assert pcp, banner
        yield {"base": base, "pcp": pcp.group(1), "banner": banner}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    # Everything it started is gone: the partner endpoint refuses connections, and no process
    # is left with this demo's environment (its endpoints and worker inherit it).
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{pcp.group(1)}/metadata", timeout=2)
    assert processes_with(str(tmp_path)) == []


def processes_with(text: str) -> list[int]:
    """Our processes whose environment mentions ``text``."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if text.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def queue(demo: dict[str, str], status: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{demo['base']}/admin/deliveries?status={status}"
                          f"&partner=pcp-cedar&_count=1000", headers=OPERATOR, timeout=5)
    return answer.json()["deliveries"]


def plan_of(demo: dict[str, str], patient: str) -> dict[str, Any] | None:
    bundle = requests.get(f"{demo['base']}/fhir/CarePlan?patient=Patient/{patient}",
                          headers=OPERATOR, timeout=5).json()
    return bundle["entry"][0]["resource"] if bundle.get("entry") else None


def deliveries_audited(demo: dict[str, str], patient: str) -> int:
    return requests.get(f"{demo['base']}/fhir/AuditEvent?type=110106&patient=Patient/{patient}",
                        headers=OPERATOR, timeout=5).json()["total"]


def test_an_edit_reaches_the_consented_partner_within_seconds_and_no_one_else(demo):
    # The demo's own import queued deliveries; the worker decides them all first.
    wait_for(lambda: queue(demo, "sent") and not queue(demo, "pending"), 60,
             "the demo import's deliveries")
    consented = next(d["patient"] for d in queue(demo, "sent") if plan_of(demo, d["patient"]))
    unconsented = next(d["patient"] for d in queue(demo, "withheld")
                       if plan_of(demo, d["patient"]))
    audited_before = deliveries_audited(demo, consented)
    withheld_before = [d["id"] for d in queue(demo, "withheld") if d["patient"] == unconsented]
    began = time.monotonic()
    for patient in (consented, unconsented):
        plan = plan_of(demo, patient)
        assert plan is not None
        plan["title"] = f"Plan revised for {patient}"
        answer = requests.put(f"{demo['base']}/fhir/CarePlan/{plan['id']}", json=plan,
                              headers={**OPERATOR, "Content-Type": "application/fhir+json"},
                              timeout=10)
        assert answer.status_code == 200, answer.text
    consented_plan = plan_of(demo, consented)
    wait_for(lambda: requests.get(
        f"{demo['pcp']}/CarePlan/{consented_plan['id']}", timeout=2).json().get("title")
        == f"Plan revised for {consented}", 10, "the edit at the primary-care endpoint")
    assert time.monotonic() - began < 10  # from the edit's PUT to its arrival
    assert wait_for(lambda: deliveries_audited(demo, consented) > audited_before, 10,
                    "the delivery's AuditEvent")
    # The unconsented consumer's edit was decided (withheld) and sent to no one.
    wait_for(lambda: [d["id"] for d in queue(demo, "withheld")
                      if d["patient"] == unconsented] != withheld_before, 10,
             "the unconsented edit's delivery to be decided")
    unconsented_plan = plan_of(demo, unconsented)
    assert requests.get(f"{demo['pcp']}/CarePlan/{unconsented_plan['id']}",
                        timeout=2).status_code == 404
    assert deliveries_audited(demo, unconsented) == 0


def test_the_demo_shows_a_consent_written_the_r4_way_that_works(demo):
    found = re.search(r"an R4-style consent: Consent/demo-r4-optin .*?: pcp-cedar sees (\d+) of "
                      r"C-1026's records \(([^)]*)\); gateway consents explain (\S+)",
                      demo["banner"], re.S)
    assert found, demo["banner"]
    assert int(found.group(1)) > 0 and "CarePlan" in found.group(2)
    assert "ServiceRequest" not in found.group(2)  # its nested deny
    preview = requests.get(f"{demo['base']}/admin/consumers/{found.group(3)}/disclosure-preview"
                           f"?partner=pcp-cedar", headers=OPERATOR, timeout=5).json()
    sees = preview["partners"][0]["sees"]
    assert sees and all(item["consents"] == ["Consent/demo-r4-optin"] for item in sees
                        if not item["resource"].startswith(("Organization/", "Practitioner")))


DAVINCI_EXAMPLE = (Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
                   / "davinci-discharge-notification-message-bundle-01.json")


def test_the_public_discharge_example_becomes_a_referral_reported_back_to_the_hospital(
        demo, tmp_path):
    base = demo["base"]
    hospital = re.search(r"hospital-stbrigid\s+(http://\S+)",
                         (tmp_path / "demo.out").read_text()).group(1)
    token = subprocess.run([GATEWAY, "partners", "token", "hospital-stbrigid", "--url", base,
                            "--scope", "system/Task.read", "--token-only"],
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    # The demo's console examples are referrals already (gateway/demo/console_examples.py).
    before = {r["task"] for r in requests.get(f"{base}/admin/referrals", headers=OPERATOR,
                                              timeout=5).json()["referrals"]}
    answer = requests.post(f"{base}/fhir/$process-message", data=DAVINCI_EXAMPLE.read_bytes(),
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/fhir+json"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"][0]["resource"]["response"]["code"] == "ok"

    # An operator finds it on the worklist, receives and accepts it ...
    worklist = requests.get(f"{base}/admin/referrals", headers=OPERATOR, timeout=5).json()
    [referral] = [r for r in worklist["referrals"] if r["task"] not in before]
    task_id = referral["task"].rpartition("/")[2]
    for status in ("received", "accepted"):
        task = requests.get(f"{base}/fhir/Task/{task_id}", headers=OPERATOR, timeout=5).json()
        task["status"] = status
        moved = requests.put(f"{base}/fhir/Task/{task_id}", json=task, timeout=10,
                             headers={**OPERATOR, "Content-Type": "application/fhir+json"})
        assert moved.status_code == 200, moved.text

    # ... and the demo hospital hears of it, and the local system got the intake.
    reported = wait_for(lambda: (lambda r: r.ok and r.json().get("status") == "accepted")(
        requests.get(f"{hospital}/Task/{task_id}", timeout=2)), 15,
        "the acceptance at the demo hospital")
    assert reported
    intake = tmp_path / "var" / "local-outbox" / "intake"
    assert wait_for(lambda: list(intake.glob(f"{intake_id(task_id)}.intake.json")), 15,
                    "the intake record")

    # The rest of the loop from the command line, on the demo's database, as the banner says.
    env = {**os.environ, "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
           "GATEWAY_VAR_DIR": str(tmp_path / "var")}
    for step in (["start", task_id],
                 ["complete", task_id, "--encounter-date", time.strftime("%Y-%m-%d")]):
        done = subprocess.run([GATEWAY, "referrals", *step], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    completed = wait_for(lambda: (lambda r: r.ok and r.json().get("status") == "completed"
                                  and r.json())(requests.get(f"{hospital}/Task/{task_id}",
                                                             timeout=2)), 15,
                         "the completion at the demo hospital")
    assert completed.get("output"), completed

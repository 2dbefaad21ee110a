"""After a discharge: the operator's match decisions, the intake handed to the local system,
and each status change reported back to the hospital (through the delivery engine)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.demo.partner_server import ReceivingFhirServer
from gateway.partners.registry import Partner, PartnerRegistry
from tests.inbound.conftest import HOSPITAL, davinci_example, variant
from tests.inbound.test_process_message import (
    consumer_patient_id,
    process,
    referral_tasks,
    search,
)

UNCERTAIN_ELENA = {"name": [{"family": "Martinez", "given": ["Elena"]}],
                   "birthDate": "1988-04-12", "identifier": []}


def uncertain_message(message_id: str) -> dict[str, Any]:
    bundle = variant(message_id, patient=UNCERTAIN_ELENA)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            for name in ("address", "telecom", "gender"):
                entry["resource"].pop(name, None)
    return bundle


@pytest.fixture
def hospital_endpoint(app, demo_agency) -> Iterator[ReceivingFhirServer]:
    """The demo hospital, receiving at a loopback FHIR server."""
    with ReceivingFhirServer("hospital-test") as server:
        state = app.extensions["gateway"]
        with state.session_factory() as session, session.begin():
            registry = PartnerRegistry(session)
            hospital = registry.get(HOSPITAL)
            data = hospital.to_json() | {"endpoints": {**hospital.endpoints,
                                                       "fhir_base": server.base_url}}
            registry.put(Partner.from_json(data))
        yield server


def move(client, auth, task: dict[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    current = client.get(f"/fhir/Task/{task['id']}", headers=auth).get_json()
    current = {**current, "status": status, **changes}
    response = client.put(f"/fhir/Task/{task['id']}", data=json.dumps(current),
                          headers={**auth, "Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- the match review queue -----------------------------------------------------------------

def test_linking_a_review_makes_the_referral_for_that_consumer(
        client, auth, demo_agency, hospital_headers):
    process(client, uncertain_message("u-1"), hospital_headers)
    [review] = client.get("/admin/matches", headers=auth).get_json()["reviews"]

    decided = client.post(f"/admin/matches/{review['id']}/link", headers=auth,
                          json={"patient": consumer_patient_id("C-1001")})

    assert decided.status_code == 200, decided.get_json()
    [task] = referral_tasks(client, auth)
    assert decided.get_json()["task_id"] == task["id"]
    assert task["for"] == {"reference": f"Patient/{consumer_patient_id('C-1001')}"}
    assert client.get("/admin/matches", headers=auth).get_json()["reviews"] == []
    [done] = client.get("/admin/matches?status=linked", headers=auth).get_json()["reviews"]
    assert done["resolved_by"] and done["task_id"] == task["id"]
    again = client.post(f"/admin/matches/{review['id']}/new", headers=auth)
    assert again.status_code == 409
    assert again.get_json()["resourceType"] == "OperationOutcome"
    assert len(referral_tasks(client, auth)) == 1


def test_someone_new_becomes_a_prospective_consumer_with_the_referral(
        client, auth, demo_agency, hospital_headers):
    process(client, uncertain_message("u-2"), hospital_headers)
    [review] = client.get("/admin/matches", headers=auth).get_json()["reviews"]

    decided = client.post(f"/admin/matches/{review['id']}/new", headers=auth)

    assert decided.status_code == 200
    [task] = referral_tasks(client, auth)
    [patient] = search(client, auth, "Patient?_tag=prospective")
    assert task["for"] == {"reference": f"Patient/{patient['id']}"}
    assert patient["id"] != consumer_patient_id("C-1001")


def test_the_review_api_is_for_operators_only(client, demo_agency, hospital_headers,
                                              auth):
    process(client, uncertain_message("u-3"), hospital_headers)
    [review] = client.get("/admin/matches", headers=auth).get_json()["reviews"]

    assert client.get("/admin/matches", headers=hospital_headers).status_code == 403
    assert client.get("/admin/matches").status_code == 401
    linked = client.post(f"/admin/matches/{review['id']}/link", headers=hospital_headers,
                         json={"patient": consumer_patient_id("C-1001")})
    assert linked.status_code == 403
    assert client.post(f"/admin/matches/{review['id']}/link", headers=auth,
                       json={}).status_code == 400
    assert client.post(f"/admin/matches/{review['id']}/link", headers=auth,
                       json={"patient": "no-such-patient"}).status_code == 404
    assert referral_tasks(client, auth) == []


# -- the intake handed to the local case-management system ----------------------------------

def test_the_referral_is_handed_to_the_local_system_as_an_intake_record(
        app, config, client, auth, demo_agency, hospital_headers, make_worker):
    process(client, davinci_example(), hospital_headers)
    [task] = referral_tasks(client, auth)

    make_worker().run(once=True)

    folder = config.var_dir / "local-outbox" / "intake"
    [written] = sorted(folder.glob("*.intake.json"))
    intake = json.loads(written.read_text())
    assert intake["type"] == "intake" and intake["referral_task"] == f"Task/{task['id']}"
    assert intake["consumer"] is None  # not yet a consumer: the person is all there is
    assert intake["person"]["name"] == {"family": "Halvorson124", "given": ["Elden718"]}
    assert intake["person"]["birth_date"] == "2000-10-15"
    assert intake["discharge"]["date"] == "2018-10-23T22:22:15-07:00"
    assert intake["diagnoses"] == [{"system": "http://example.org/fhir/conditions",
                                    "code": "1234", "display": "Examplitis"}]
    assert intake["follow_up_due"] == {"within_7_days": "2018-10-30",
                                       "within_30_days": "2018-11-22"}
    assert intake["status"] == "requested"


def test_a_known_consumer_intake_names_the_consumer(
        config, client, auth, demo_agency, hospital_headers, make_worker):
    elena = {"name": [{"family": "Martinez", "given": ["Elena"]}], "birthDate": "1988-04-12",
             "identifier": [{"system": "https://fhir-care-gateway.example/medicaid-id",
                             "value": "0014382291"}]}
    process(client, variant("elena-intake", patient=elena), hospital_headers)

    make_worker().run(once=True)

    [written] = (config.var_dir / "local-outbox" / "intake").glob("*.intake.json")
    assert json.loads(written.read_text())["consumer"] == "C-1001"


def test_the_intake_is_retried_while_the_folder_cannot_be_written(
        config, client, auth, demo_agency, hospital_headers, make_worker, clock):
    folder = config.var_dir / "local-outbox" / "intake"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the folder should be")
    process(client, davinci_example(), hospital_headers)

    make_worker().run(once=True)
    assert client.get("/admin/deliveries?status=pending&partner=local-case-management",
                      headers=auth).get_json()["deliveries"][0]["attempts"] == 1

    folder.unlink()
    clock.advance(600)
    make_worker().run(once=True)
    assert len(list(folder.glob("*.intake.json"))) == 1


# -- the closed loop: status changes go back to the hospital --------------------------------

def test_each_status_change_is_reported_back_to_the_hospital(
        client, auth, demo_agency, hospital_headers, hospital_endpoint, make_worker):
    process(client, davinci_example(), hospital_headers)
    [task] = referral_tasks(client, auth)
    make_worker().run(once=True)
    assert hospital_endpoint.resources[("Task", task["id"])]["status"] == "requested"

    move(client, auth, task, "received")
    move(client, auth, task, "accepted")
    make_worker().run(once=True)

    reported = hospital_endpoint.resources[("Task", task["id"])]
    assert reported["status"] == "accepted"
    # Only the status of its own referral: no clinical inputs, no consumer, no description.
    assert not {"input", "for", "description", "focus", "encounter", "extension"} & set(reported)
    assert any(s["code"] == "REDACTED" for s in reported["meta"]["security"])
    assert {i["value"] for i in reported["identifier"]} >= {
        "Elden718Halvorson12420181021T2122150700"}


def test_a_rejection_reaches_the_hospital_with_its_reason(
        client, auth, demo_agency, hospital_headers, hospital_endpoint, make_worker):
    process(client, davinci_example(), hospital_headers)
    [task] = referral_tasks(client, auth)
    move(client, auth, task, "received")
    move(client, auth, task, "rejected",
         statusReason={"text": "Lives outside the service area; referred to Ingham CMH"})

    make_worker().run(once=True)

    reported = hospital_endpoint.resources[("Task", task["id"])]
    assert reported["status"] == "rejected"
    assert reported["statusReason"]["text"].startswith("Lives outside")


def test_another_hospital_hears_nothing_of_the_referral(
        app, client, auth, demo_agency, hospital_headers, hospital_endpoint, make_worker):
    with ReceivingFhirServer("other-hospital") as other:
        state = app.extensions["gateway"]
        with state.session_factory() as session, session.begin():
            PartnerRegistry(session).put(Partner.from_json({
                "id": "hospital-other", "type": "hospital", "name": "Other Hospital",
                "organization": "org-other-hospital", "endpoints": {"fhir_base": other.base_url},
                "purposes": ["TREAT"], "resource_types": ["Task", "Patient"]}))
        process(client, davinci_example(), hospital_headers)

        make_worker().run(once=True)

        assert other.resources == {}
        assert hospital_endpoint.resources
        # Not even a delivery was queued for it (the outbox's filter), not just withheld.
        for status in ("pending", "sent", "withheld", "dead"):
            queued = client.get(f"/admin/deliveries?status={status}&partner=hospital-other",
                                headers=auth).get_json()["deliveries"]
            assert queued == [], (status, queued)


def test_operators_decide_reviews_from_the_command_line(config, client, auth, demo_agency,
                                                        hospital_headers):
    from click.testing import CliRunner

    from gateway.cli import cli

    process(client, uncertain_message("u-cli"), hospital_headers)
    env = {"GATEWAY_DATABASE_URL": config.database_url, "GATEWAY_VAR_DIR": str(config.var_dir)}

    listed = CliRunner().invoke(cli, ["matches", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [review] = [json.loads(line) for line in listed.output.splitlines()]
    assert review["candidates"][0]["patient_id"] == consumer_patient_id("C-1001")

    linked = CliRunner().invoke(cli, ["matches", "link", str(review["id"]),
                                      consumer_patient_id("C-1001")], env=env)
    assert linked.exit_code == 0, linked.output
    [task] = referral_tasks(client, auth)
    assert task["for"] == {"reference": f"Patient/{consumer_patient_id('C-1001')}"}

    again = CliRunner().invoke(cli, ["matches", "new", str(review["id"])], env=env)
    assert again.exit_code == 1
    assert "already decided" in again.output and "Traceback" not in again.output

"""Operating deliveries: registering a partner from the command line, the operators' API, and
the queue's figures at /metrics."""
from __future__ import annotations

import json

from click.testing import CliRunner

from gateway.cli import cli
from tests.conftest import OPERATOR_KEY

from .conftest import consent, consumer_records, put

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def test_a_partner_added_from_options_receives_deliveries(app, config, monkeypatch, receiver,
                                                          make_worker):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", config.database_url)
    runner = CliRunner()
    added = runner.invoke(cli, ["partners", "add", "--id", "clinic-x", "--type",
                                "physical-health", "--name", "Clinic X", "--fhir-base",
                                receiver.base_url, "--auth", "none"])
    assert added.exit_code == 0, added.output
    shown = json.loads(runner.invoke(cli, ["partners", "show", "clinic-x"]).output)
    organization = shown["organization"]
    assert shown["endpoints"] == {"fhir_base": receiver.base_url}
    assert shown["purposes"] == ["TREAT", "COC"] and "CarePlan" in shown["resource_types"]
    # Its Organization exists, so consents can name it.
    org = app.test_client().get(f"/fhir/Organization/{organization}", headers=OPERATOR)
    assert org.status_code == 200 and org.get_json()["name"] == "Clinic X"

    for resource in consumer_records("p-x"):
        put(app, resource)
    put(app, consent("p-x", organization))
    assert make_worker().run(once=True).counts == {"sent": 1}
    assert ("CarePlan", "plan-p-x") in receiver.resources


def test_partners_add_explains_bad_options(config, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", config.database_url)
    runner = CliRunner()
    missing = runner.invoke(cli, ["partners", "add", "--id", "x", "--type", "school"])
    assert missing.exit_code == 2 and "--name" in missing.output
    insecure = runner.invoke(cli, ["partners", "add", "--id", "x", "--type", "school",
                                   "--name", "X", "--fhir-base", "http://example.org/fhir"])
    assert insecure.exit_code == 1
    assert insecure.output.strip().startswith("gateway: error: fhir_base: must be an https://")
    bearer = runner.invoke(cli, ["partners", "add", "--id", "x", "--type", "school",
                                 "--name", "X", "--auth", "bearer"])
    assert bearer.exit_code == 1 and "--token" in bearer.output


def test_operators_list_and_replay_dead_letters_over_http(app, client, world, receiver,
                                                          make_worker):
    receiver.fail_always(400)
    make_worker().run(once=True)
    dead = client.get("/admin/deliveries?status=dead", headers=OPERATOR).get_json()
    assert [(d["partner"], d["patient"], d["last_status"]) for d in dead["deliveries"]] == [
        ("pcp-test", "p-yes", 400)]
    assert client.get("/admin/deliveries").status_code == 401
    assert client.get("/admin/deliveries?status=bogus", headers=OPERATOR).status_code == 400
    receiver.fail_always(None)
    seq = dead["deliveries"][0]["id"]
    assert client.post(f"/admin/deliveries/{seq}/replay", headers=OPERATOR).get_json() == {
        "replayed": [seq]}
    assert client.post(f"/admin/deliveries/{seq}/replay", headers=OPERATOR).status_code == 404
    make_worker().run(once=True)
    sent = client.get("/admin/deliveries?status=sent", headers=OPERATOR).get_json()
    assert [d["id"] for d in sent["deliveries"]] == [seq]


def test_metrics_show_the_queue(client, world, make_worker):
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_delivery_queue_depth{partner="pcp-test"} 2.0' in text
    assert 'gateway_deliveries{partner="pcp-test",state="pending"} 2.0' in text
    oldest = [line for line in text.splitlines()
              if line.startswith('gateway_delivery_oldest_pending_seconds{partner="pcp-test"}')]
    assert oldest and float(oldest[0].split()[-1]) >= 0
    make_worker().run(once=True)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_delivery_queue_depth{partner="pcp-test"} 0.0' in text
    assert 'gateway_deliveries{partner="pcp-test",state="sent"} 1.0' in text
    assert 'gateway_deliveries{partner="pcp-test",state="withheld"} 1.0' in text

"""The delivery engine end to end, in process: outbox, worker, partner FHIR server on loopback."""
from __future__ import annotations

import json

from sqlalchemy import select

from gateway.db.models import DeliveryRow
from tests.conftest import OPERATOR_KEY

from .conftest import PCP_ORG, consent, put

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def deliveries(app) -> list[DeliveryRow]:
    with app.extensions["gateway"].session_factory() as session:
        return list(session.scalars(select(DeliveryRow).order_by(DeliveryRow.seq)))


def received_patients(receiver) -> set[str]:
    return {id_ for (type_, id_) in receiver.resources if type_ == "Patient"}


def test_changes_queue_one_delivery_per_partner_and_consumer(app, world):
    rows = deliveries(app)
    assert sorted((r.partner_id, r.patient_id, r.status) for r in rows) == [
        ("pcp-test", "p-no", "pending"), ("pcp-test", "p-yes", "pending")]
    # Three changes each (team, goal, plan) and the consent for p-yes folded in.
    by_patient = {r.patient_id: r for r in rows}
    assert by_patient["p-no"].generation == 3
    assert by_patient["p-yes"].generation == 4
    assert by_patient["p-yes"].cause == f"Consent/consent-p-yes-{PCP_ORG}"


def test_only_the_consented_consumer_is_delivered(app, world, receiver, make_worker, client):
    summary = make_worker().run(once=True)
    assert summary.counts == {"sent": 1, "withheld": 1}
    assert received_patients(receiver) == {"p-yes"}
    assert {("CarePlan", "plan-p-yes"), ("CareTeam", "team-p-yes"), ("Goal", "goal-p-yes"),
            ("Practitioner", "csm-1")} <= set(receiver.resources)
    assert not any(id_.endswith("p-no") for (_, id_) in receiver.resources)
    # The partner's own identifier for the consumer travels; another partner's does not.
    patient = receiver.resources[("Patient", "p-yes")]
    assert patient["identifier"] == [{"system": "https://clinic.example/mrn",
                                      "value": "MRN-p-yes"}]
    statuses = {r.patient_id: (r.status, r.last_error) for r in deliveries(app)}
    assert statuses["p-yes"] == ("sent", None)
    assert statuses["p-no"][0] == "withheld"
    # The disclosure is accounted for: an AuditEvent (DICOM Export) naming partner and consumer.
    events = client.get("/fhir/AuditEvent?patient=Patient/p-yes&type=110106",
                        headers=OPERATOR).get_json()
    assert events["total"] == 1
    event = events["entry"][0]["resource"]
    assert event["agent"][0]["who"]["reference"] == f"Organization/{PCP_ORG}"
    assert "CarePlan/plan-p-yes" in {e["what"]["reference"] for e in event["entity"]}
    # ... and the Consent the disclosure relied on (IHE BALP AuthZconsent).
    consents = [e["what"]["reference"] for e in event["entity"]
                if e.get("type", {}).get("code") == "Consent"]
    assert consents == [f"Consent/consent-p-yes-{PCP_ORG}"]
    assert client.get("/fhir/AuditEvent?patient=Patient/p-no&type=110106",
                      headers=OPERATOR).get_json()["total"] == 0


def test_an_edit_through_the_api_reaches_the_partner_and_an_unconsented_one_no_one(
        app, world, receiver, make_worker, client):
    worker = make_worker()
    worker.run(once=True)
    receiver.reset()
    for patient_id in ("p-yes", "p-no"):
        plan = client.get(f"/fhir/CarePlan/plan-{patient_id}", headers=OPERATOR).get_json()
        plan["title"] = "Reviewed plan"
        assert client.put(f"/fhir/CarePlan/plan-{patient_id}", json=plan,
                          headers=OPERATOR).status_code == 200
    assert make_worker().run(once=True).counts == {"sent": 1, "withheld": 1}
    assert receiver.resources[("CarePlan", "plan-p-yes")]["title"] == "Reviewed plan"
    assert received_patients(receiver) == {"p-yes"}


def test_a_revocation_while_queued_sends_nothing(app, world, receiver, make_worker):
    put(app, consent("p-yes", PCP_ORG, status="inactive"))
    assert make_worker().run(once=True).counts == {"withheld": 2}
    assert receiver.requests == []


def test_sending_again_changes_nothing_at_the_partner(app, world, receiver, make_worker):
    make_worker().run(once=True)
    versions = dict(receiver.versions)
    with app.extensions["gateway"].session_factory() as session, session.begin():
        session.execute(DeliveryRow.__table__.update().values(status="pending"))
    make_worker().run(once=True)
    assert receiver.versions == versions
    assert receiver.duplicates > 0


def test_a_delivered_decimal_keeps_its_digits(app, world, receiver, make_worker, client):
    make_worker().run(once=True)
    receiver.reset()
    goal = client.get("/fhir/Goal/goal-p-yes", headers=OPERATOR).get_json()
    goal["target"] = [{"measure": {"text": "distance"},
                       "detailQuantity": {"value": "__DECIMAL__", "unit": "km"}}]
    text = json.dumps(goal).replace('"__DECIMAL__"', "1.0000000000000000000000001")
    assert client.put("/fhir/Goal/goal-p-yes", data=text, headers={
        **OPERATOR, "Content-Type": "application/fhir+json"}).status_code == 200
    assert make_worker().run(once=True).counts == {"sent": 1}
    # The partner reads the body with the same JSON helper: a float on the wire would be 1.0.
    delivered = receiver.resources[("Goal", "goal-p-yes")]
    assert str(delivered["target"][0]["detailQuantity"]["value"]) == "1.0000000000000000000000001"

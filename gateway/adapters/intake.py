"""The agency's own case-management system (partner kind ``local``): referral intake.

Every referral that came from outside (a hospital's discharge notification or referral) is
handed to the local system as an intake record (gateway/mappings/intake.py), into its outbox
folder and/or posted to its webhook, through the delivery engine: queued in the transaction
that made or changed the referral, retried with backoff, dead-lettered if it keeps failing.
This is the agency talking to itself, not a disclosure, so it reads the agency's own view of
the consumer's records (``context.agency``).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.adapters.outbound import is_inbound_referral
from gateway.adapters.payload import DeliveryContext, Payload
from gateway.adapters.records import names
from gateway.config import Config
from gateway.db.models import PartnerRow
from gateway.fhir import json_text
from gateway.mappings.ids import identifier_system
from gateway.mappings.intake import intake_id, intake_record


def build(context: DeliveryContext) -> Payload | None:
    records = context.agency
    referrals = [task for task in records.of_type("Task") if is_inbound_referral(task)]
    if not referrals:
        return None
    patient = records.patient()
    consumer = next((i.get("value") for i in (patient or {}).get("identifier", [])
                     if i.get("system") == identifier_system("consumer")), None)
    files: dict[str, bytes] = {}
    disclosed = [f"Patient/{records.patient_id}"]
    for task in referrals:
        encounter_ref = (task.get("encounter") or {}).get("reference", "")
        encounter = records.read("Encounter", encounter_ref.partition("/")[2]) \
            if encounter_ref.startswith("Encounter/") else None
        conditions = [c for c in (records.read("Condition", ref.partition("/")[2])
                                  for ref in _input_references(task, "Condition/")) if c]
        requester = (task.get("requester") or {})
        source = {"name": requester.get("display"),
                  "organization": requester.get("reference")}
        record = intake_record(task, patient, encounter, conditions,
                               consumer_id=consumer, source=source)
        files[f"{intake_id(task['id'])}.intake.json"] = json_text.dumps(
            record, indent=1).encode()
        disclosed += names([task] + ([encounter] if encounter else []) + conditions)
    return Payload(records.patient_id, tuple(dict.fromkeys(disclosed)),
                   {"resourceType": "Bundle", "type": "collection", "entry": []}, files=files)


def _input_references(task: dict, prefix: str) -> list[str]:
    return [ref for ref in ((i.get("valueReference") or {}).get("reference", "")
                            for i in task.get("input", [])) if ref.startswith(prefix)]


LOCAL_PARTNER_ID = "local-case-management"


def ensure_registered(session: Session, config: Config) -> None:
    """Register the local system as the intake partner (once; its endpoints follow the
    configuration). In the caller's transaction, before the referral is written, so the
    outbox queues its intake with it; concurrent callers insert at most one row."""
    folder = config.intake_folder or config.var_dir / "local-outbox" / "intake"
    endpoints = {"drop_folder": str(folder)}
    if config.intake_webhook:
        endpoints["webhook"] = config.intake_webhook
    details = json.dumps({"endpoints": endpoints, "outbound_auth": {"method": "none"}},
                         sort_keys=True)
    partners = PartnerRow.__table__
    registered = session.execute(select(partners.c.details).where(
        partners.c.id == LOCAL_PARTNER_ID)).one_or_none()
    if registered is not None:
        if registered.details != details:
            session.execute(update(partners).where(partners.c.id == LOCAL_PARTNER_ID)
                            .values(details=details, updated_at=datetime.now(UTC)))
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(PartnerRow).values(
        id=LOCAL_PARTNER_ID, kind="local", name="Local case-management system (intake)",
        organization=LOCAL_PARTNER_ID, client_id=f"internal:{LOCAL_PARTNER_ID}", enabled=True,
        details=details, updated_at=datetime.now(UTC)).on_conflict_do_nothing())

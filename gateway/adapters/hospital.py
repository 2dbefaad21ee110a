"""Hospitals (partner kind ``hospital``): what became of the referrals they made.

Closing the loop: each change to a referral a hospital made (its discharge notification or its
referral Task) is sent back to the hospital's FHIR base as a ``transaction`` of ``PUT Task/id``,
in the form the decision point lets it see: the status, its reason, the owner and when it
changed (rule 6 of gateway/privacy/decision.py), or more where the consumer consented. The
Task keeps the identifier the hospital's own encounter gave it, so the hospital can tell which
of its discharges it is about.
"""
from __future__ import annotations

from gateway.adapters.payload import DeliveryContext, Payload, transaction
from gateway.adapters.records import names


def build(context: DeliveryContext) -> Payload | None:
    requester = f"Organization/{context.partner.organization}"
    referrals = [task for task in context.records.of_type("Task")
                 if (task.get("requester") or {}).get("reference") == requester]
    if not referrals:
        return None
    return Payload(context.records.patient_id, names(referrals),
                   transaction(context.base_url, referrals))

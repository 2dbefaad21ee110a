"""Primary care (partner kind ``physical-health``): the consumer's plan, as a FHIR transaction.

On a change to a consented consumer's CarePlan, CareTeam, Goals or ServiceRequests the partner
receives a ``transaction`` Bundle with the consumer's current plan and what it references: the
Patient (with the partner's own identifier for the consumer, which the decision point keeps
for it), the plans, care
teams, goals and services, and the practitioners, roles, organizations and related persons the
plan and teams name, each as ``PUT Type/id`` so that a repeated send changes nothing there.
"""
from __future__ import annotations

from gateway.adapters.payload import DeliveryContext, Payload, transaction
from gateway.adapters.records import names

PLAN_TYPES = ("CarePlan", "CareTeam", "Goal", "ServiceRequest")
REFERENCED_TYPES = {"Practitioner", "PractitionerRole", "Organization", "RelatedPerson"}


def build(context: DeliveryContext) -> Payload | None:
    """The delivery for the partner, or None when it may receive none of the plan."""
    records = context.records
    found = records.of_types(PLAN_TYPES)
    plan = [resource for resource_type in PLAN_TYPES for resource in found[resource_type]]
    if not plan:
        return None
    patient = records.patient()
    resources = ([patient] if patient is not None else []) + plan
    resources += records.referenced(plan, REFERENCED_TYPES)
    return Payload(records.patient_id, names(resources),
                   transaction(context.base_url, resources))

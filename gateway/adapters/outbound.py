"""Which changes each kind of partner hears about: the adapters' triggers, in one table.

The outbox (gateway/delivery/outbox.py) marks a delivery pending for a partner when one of its
kind's trigger types changes for a consumer and ``concerns`` says the change is about something
the partner deals with; a Consent naming the partner always counts (a new consent should bring
the consumer's current records, a revocation is decided at send time).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The tag the referral workflow puts on referrals made from hospital messages and orders.
GATEWAY_TAGS = "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-tag"
INBOUND_REFERRAL_TAGS = frozenset({"hospital-discharge", "hospital-referral"})

TRIGGERS: dict[str, frozenset[str]] = {
    # Primary care hears about the plan: CarePlan, CareTeam, Goals, ServiceRequests.
    "physical-health": frozenset({"CarePlan", "CareTeam", "Goal", "ServiceRequest"}),
    # A school: who is on the care team and the school-relevant goals.
    "school": frozenset({"CareTeam", "Goal"}),
    # A court: plan status, team, next review (and attendance when it is recorded).
    "court": frozenset({"CarePlan", "CareTeam", "Encounter"}),
    # A hospital: what became of the referrals it made (the closed loop).
    "hospital": frozenset({"Task"}),
    # The agency's own case-management system: new and changed inbound referrals (intake).
    "local": frozenset({"Task"}),
}

# Every type some adapter listens to, and Consent: the outbox's fast exit for everything else.
WATCHED_TYPES = frozenset().union(*TRIGGERS.values()) | {"Consent"}


def concerns(partner_kind: str, partner_organization: str, resource_type: str,
             content: Mapping[str, Any]) -> bool:
    """Whether a change to ``content`` (a trigger type of the kind) is the partner's business:
    a hospital hears only of the referrals it made, the local system only of inbound
    referrals; the other kinds of every change to their trigger types."""
    if resource_type != "Task":
        return True
    if partner_kind == "hospital":
        requester = (content.get("requester") or {}).get("reference")
        return requester == f"Organization/{partner_organization}"
    if partner_kind == "local":
        return is_inbound_referral(content)
    return True


def is_inbound_referral(task: Mapping[str, Any]) -> bool:
    return any(tag.get("system") == GATEWAY_TAGS and tag.get("code") in INBOUND_REFERRAL_TAGS
               for tag in (task.get("meta") or {}).get("tag", []) if isinstance(tag, dict))

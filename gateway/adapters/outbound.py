"""Which changes each kind of partner hears about: the adapters' triggers, in one table.

The outbox (gateway/delivery/outbox.py) marks a delivery pending for a partner when one of its
kind's trigger types changes for a consumer; a Consent naming the partner always counts (a new
consent should bring the consumer's current records, a revocation is decided at send time).
"""
from __future__ import annotations

TRIGGERS: dict[str, frozenset[str]] = {
    # Primary care hears about the plan: CarePlan, CareTeam, Goals, ServiceRequests.
    "physical-health": frozenset({"CarePlan", "CareTeam", "Goal", "ServiceRequest"}),
    # A school: who is on the care team and the school-relevant goals.
    "school": frozenset({"CareTeam", "Goal"}),
    # A court: plan status, team, next review (and attendance when it is recorded).
    "court": frozenset({"CarePlan", "CareTeam", "Encounter"}),
}

# Every type some adapter listens to, and Consent: the outbox's fast exit for everything else.
WATCHED_TYPES = frozenset().union(*TRIGGERS.values()) | {"Consent"}

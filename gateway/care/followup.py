"""Follow-up after hospitalization for mental illness (HEDIS FUH): the 7- and 30-day deadlines.

The measure counts a follow-up visit with a mental-health provider within 7 days and within 30
days after discharge; a visit on the day of discharge does not count. So a discharge on day D
sets two deadlines, D + 7 and D + 30, which every referral Task made from a discharge carries
as extensions (``FUH_7_DAY`` and ``FUH_30_DAY``, valueDate), with ``restriction.period`` from
D to D + 30. An open referral past a deadline is overdue on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

FHIR_BASE = "http://fhir-care-gateway.example/fhir"
FUH_7_DAY = f"{FHIR_BASE}/StructureDefinition/fuh-7-day-due"
FUH_30_DAY = f"{FHIR_BASE}/StructureDefinition/fuh-30-day-due"
# Open referral Task states: the loop is not closed yet.
OPEN_STATES = frozenset({"draft", "requested", "received", "accepted", "ready", "in-progress",
                         "on-hold"})


@dataclass(frozen=True)
class FollowUpDue:
    discharged_on: date
    within_7_days: date
    within_30_days: date

    def overdue(self, today: date) -> tuple[str, ...]:
        """Which deadlines have passed on ``today`` (``"7-day"``, ``"30-day"``)."""
        return tuple(name for name, due in (("7-day", self.within_7_days),
                                            ("30-day", self.within_30_days)) if today > due)

    def next_deadline(self, today: date) -> date:
        """The deadline still ahead (or the last one, once both have passed)."""
        return self.within_7_days if today <= self.within_7_days else self.within_30_days


def due_after(discharged_on: date) -> FollowUpDue:
    return FollowUpDue(discharged_on, discharged_on + timedelta(days=7),
                       discharged_on + timedelta(days=30))


def extensions(due: FollowUpDue) -> list[dict[str, Any]]:
    return [{"url": FUH_7_DAY, "valueDate": due.within_7_days.isoformat()},
            {"url": FUH_30_DAY, "valueDate": due.within_30_days.isoformat()}]


def due_of(task: dict[str, Any]) -> FollowUpDue | None:
    """The deadlines a referral Task carries, or None (not a discharge referral)."""
    found = {e.get("url"): e.get("valueDate") for e in task.get("extension", [])
             if isinstance(e, dict)}
    if not found.get(FUH_7_DAY) or not found.get(FUH_30_DAY):
        return None
    seven, thirty = date.fromisoformat(found[FUH_7_DAY]), date.fromisoformat(found[FUH_30_DAY])
    start = (task.get("restriction") or {}).get("period", {}).get("start")
    discharged = date.fromisoformat(start[:10]) if start else seven - timedelta(days=7)
    return FollowUpDue(discharged, seven, thirty)

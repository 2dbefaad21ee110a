"""Open discharge referrals and their HEDIS FUH deadlines: listed for operators, and flagged
on the Task when overdue.

    open_referrals(state, today)        the open referral Tasks with FUH deadlines, most
                                        urgent first
    flag_overdue(state, today)          businessStatus "7-day follow-up overdue" /
                                        "30-day follow-up overdue" on those past a deadline

Both read the Tasks through the search index (``Task?code=<cmh-task-type>|referral&status=
<open states>``) as the gateway itself (SYSTEM): this is the agency's own worklist. Referrals
without FUH extensions (those imported from the case-management system) are not listed.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from gateway.auth import SYSTEM
from gateway.care import followup
from gateway.fhir import search
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.fhir.versions import StoredResource, format_instant
from gateway.mappings.codes import TASK_REFERRAL

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)

BUSINESS_STATUS_SYSTEM = f"{followup.FHIR_BASE}/CodeSystem/referral-business-status"
# What an overdue referral's businessStatus says, by the last deadline it missed.
OVERDUE_FLAGS: dict[str, dict[str, Any]] = {
    "7-day": {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": "fuh-7-day-overdue",
                          "display": "7-day follow-up overdue"}],
              "text": "7-day follow-up overdue"},
    "30-day": {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": "fuh-30-day-overdue",
                           "display": "30-day follow-up overdue"}],
               "text": "30-day follow-up overdue"},
}
_PAGE = 500


@dataclass(frozen=True)
class ReferralDeadline:
    """One open referral Task and where it stands against its FUH deadlines on a day."""

    task_id: str
    patient: str | None  # the Task's ``for`` reference (Patient/...)
    status: str
    business_status: str | None  # businessStatus.text
    discharged_on: date
    due_7_day: date
    due_30_day: date
    next_deadline: date  # the deadline still ahead, or the 30-day one once both have passed
    days_left: int  # to next_deadline; negative once it has passed
    overdue: tuple[str, ...]  # the deadlines passed: "7-day", "30-day"

    def to_json(self) -> dict[str, Any]:
        return {"task": f"Task/{self.task_id}", "patient": self.patient,
                "status": self.status, "businessStatus": self.business_status,
                "dischargedOn": self.discharged_on.isoformat(),
                "due7Day": self.due_7_day.isoformat(), "due30Day": self.due_30_day.isoformat(),
                "nextDeadline": self.next_deadline.isoformat(), "daysLeft": self.days_left,
                "overdue": list(self.overdue)}


def deadline_of(task: dict[str, Any], today: date) -> ReferralDeadline | None:
    """Where ``task`` stands on ``today``; None when it carries no FUH deadlines."""
    try:
        due = followup.due_of(task)
    except ValueError:  # a partial date (valid FHIR, "2026-12") is no deadline to count from
        log.warning("Task/%s: its FUH deadlines are not full dates; not listed", task.get("id"))
        return None
    if due is None:
        return None
    following = due.next_deadline(today)
    business = task.get("businessStatus") or {}
    return ReferralDeadline(
        task_id=task["id"], patient=(task.get("for") or {}).get("reference"),
        status=task["status"], business_status=business.get("text"),
        discharged_on=due.discharged_on, due_7_day=due.within_7_days,
        due_30_day=due.within_30_days, next_deadline=following,
        days_left=(following - today).days, overdue=due.overdue(today))


def most_urgent_first(deadlines: list[ReferralDeadline]) -> list[ReferralDeadline]:
    """Those past both deadlines first, then those past the 7-day one, then the rest; within
    each, the fewest days left (the most days past) first."""
    return sorted(deadlines, key=lambda d: (-len(d.overdue), d.days_left, d.task_id))


def open_referrals(state: GatewayState, today: date, *, overdue_only: bool = False
                   ) -> list[ReferralDeadline]:
    """The open referral Tasks that carry FUH deadlines, most urgent first."""
    with state.reading(SYSTEM) as repository:
        tasks = [stored.json() for stored in open_referral_tasks(repository)]
    deadlines = [d for task in tasks if (d := deadline_of(task, today)) is not None]
    if overdue_only:
        deadlines = [d for d in deadlines if d.overdue]
    return most_urgent_first(deadlines)


def flag_overdue(state: GatewayState, today: date) -> int:
    """Set businessStatus on every open referral Task past an FUH deadline; how many Tasks
    changed. A Task already flagged as it should be is not written again, and one that cannot
    be written (changed by someone else since it was read) is left for the next run."""
    flagged = 0
    with state.writing(SYSTEM) as repository:
        # Every page is read before the first write (which moves a Task in the search's order).
        for stored in open_referral_tasks(repository):
            task = stored.json()
            deadline = deadline_of(task, today)
            if deadline is None or not deadline.overdue:
                continue
            flag = OVERDUE_FLAGS[deadline.overdue[-1]]
            if task.get("businessStatus") == flag:
                continue
            flagged_task = {**task, "businessStatus": flag,
                            "lastModified": format_instant(repository.clock())}
            try:
                repository.update("Task", stored.id, flagged_task, if_match=stored.etag)
            except FhirError as error:
                # Nothing was written for it (a 412: changed by someone since it was read); the
                # others are still flagged, and the next run tries it again.
                log.warning("Task/%s was not flagged: %s", stored.id, error)
                continue
            flagged += 1
    return flagged


def open_referral_tasks(repository: Repository, statuses: Iterable[str] | None = None
                        ) -> list[StoredResource]:
    """Every current referral Task in ``statuses`` (default: the open ones; empty: any), page
    by page through the search index."""
    wanted = sorted(followup.OPEN_STATES if statuses is None else statuses)
    params = [("code", f"{TASK_REFERRAL['system']}|{TASK_REFERRAL['code']}")]
    if wanted:
        params.append(("status", ",".join(wanted)))
    request = search.parse_search("Task", params, repository.registry, lenient=False,
                                  default_count=_PAGE, max_count=_PAGE,
                                  base_url=repository.base_url)
    request.total_mode = "none"
    found: list[StoredResource] = []
    while True:
        result = repository.search(request)
        found += result.rows
        if not result.has_next:
            return found
        request.offset += request.count

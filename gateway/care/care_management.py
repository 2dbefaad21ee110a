"""Due assessments and plan reviews: the agency's case-management standards as pure functions.

Everything here works on local records (``profiles/local/*.schema.json``) as parsed JSON and on
an explicit ``today``; nothing reads a clock, a database or the network.

The rules (a "cycle" is one occurrence of an obligation; every cycle is one DueItem):

Comprehensive assessment (``comprehensive-assessment``)
    One cycle, starting on the consumer's ``application_date`` and due 30 days later (the 30th
    day is on time). It is closed by the earliest *counting* ``initial-comprehensive``
    assessment completed on or after the application date. No ``application_date``: no cycle.

Annual reassessment (``annual-reassessment``)
    A chain of cycles. The first starts on the completion date of the assessment that closed
    the comprehensive-assessment cycle (or, for a consumer without ``application_date``, of
    the earliest counting ``initial-comprehensive`` or ``annual-reassessment``). Each cycle is
    due 12 calendar months after its start (see ``add_months``: 2024-02-29 -> 2025-02-28) and
    is closed by the next counting ``annual-reassessment`` *or* ``initial-comprehensive``
    completed strictly after the cycle's start, early or late; that completion starts the next
    cycle. While the comprehensive-assessment cycle is open there is no annual cycle.

Plan review (``plan-review``)
    For the consumer's current plan: the ``active`` plan with the latest ``period.start`` (ties:
    the greatest id); draft, completed and revoked plans have no reviews, and an active plan
    without ``review_frequency_months`` has none either (see ``tracking_gaps``). The first cycle
    starts on ``period.start``; each cycle is due ``review_frequency_months`` calendar months
    after its start and is closed by the next *review date* strictly after its start, which
    starts the next cycle. Review dates are the plan's ``last_review`` and the completion dates
    of counting ``periodic-review`` assessments for this plan (``plan`` equal to its id, or no
    ``plan`` at all), each only when after ``period.start``. So the next due date runs from
    whichever is later, ``last_review`` or the latest periodic review; ``satisfied_by`` names
    the periodic-review assessment of that date, or is None when only ``last_review`` says so.

Counting assessments
    ``status`` ``completed`` with a ``completed_on`` no later than ``today``, for this consumer.
    Scheduled and cancelled assessments, completed ones without ``completed_on`` and future
    completion dates close nothing.

Consumers with ``active: false`` get no items at all; a missing ``active`` means active.
A cycle is *overdue* when it is open and ``today`` is after its due date; a closed cycle was
*late* when it was completed after its due date.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .dates import add_months, parse_date

COMPREHENSIVE_ASSESSMENT = "comprehensive-assessment"
ANNUAL_REASSESSMENT = "annual-reassessment"
PLAN_REVIEW = "plan-review"
KINDS = (COMPREHENSIVE_ASSESSMENT, ANNUAL_REASSESSMENT, PLAN_REVIEW)

INITIAL_ASSESSMENT_DAYS = 30
REASSESSMENT_MONTHS = 12
# Assignment roles whose holder owns a consumer's due items (the team-role ConceptMap codes).
RESPONSIBLE_ROLES = frozenset({"case-manager", "supports-coordinator"})

Record = Mapping[str, Any]


@dataclass(frozen=True)
class DueItem:
    """One cycle of an obligation for one consumer, as of ``as_of``."""

    consumer_id: str
    kind: str  # one of KINDS
    cycle_start: date  # when the cycle began: application, previous completion, plan start
    due_on: date
    as_of: date  # the ``today`` it was computed for
    completed_on: date | None = None  # when the cycle was closed; None while open
    satisfied_by: str | None = None  # the local id of the assessment that closed it, if any
    completed_by: str | None = None  # that assessment's completed_by (a staff id), if any
    plan_id: str | None = None  # plan reviews: the plan under review

    @property
    def satisfied(self) -> bool:
        return self.completed_on is not None

    @property
    def overdue(self) -> bool:
        """Open and past its due date (the due date itself is not overdue)."""
        return self.completed_on is None and self.as_of > self.due_on

    @property
    def late(self) -> bool:
        """Closed, but after its due date."""
        return self.completed_on is not None and self.completed_on > self.due_on

    @property
    def days_overdue(self) -> int:
        """Days past due while open and overdue; 0 otherwise."""
        return (self.as_of - self.due_on).days if self.overdue else 0

    @property
    def business_status(self) -> str:
        """``due`` | ``overdue`` (open) or ``on-time`` | ``late`` (closed)."""
        if self.satisfied:
            return "late" if self.late else "on-time"
        return "overdue" if self.overdue else "due"

    @property
    def cycle_id(self) -> str:
        """Stable name of the cycle: consumer, kind, plan (reviews) and cycle start.

        Local ids cannot contain ``:``, so the parts are unambiguous. The cycle is named by its
        start, not its due date, so a changed review frequency updates the same cycle.
        """
        parts = [self.consumer_id, self.kind]
        if self.plan_id is not None:
            parts.append(self.plan_id)
        parts.append(self.cycle_start.isoformat())
        return ":".join(parts)


@dataclass(frozen=True)
class _Done:
    """A counting (completed, dated) assessment."""

    completed_on: date
    id: str
    kind: str
    plan: str | None
    completed_by: str | None


def due_items(consumer: Record, assessments: Iterable[Record], plans: Iterable[Record],
              today: date) -> list[DueItem]:
    """Every cycle, closed and open, of the consumer's assessments and plan reviews.

    Records of other consumers are ignored, so whole extracts may be passed. Closed cycles are
    kept so that their Tasks can be completed; each chain ends in exactly one open cycle.
    Order: comprehensive assessment, annual reassessments, plan reviews, each by cycle start.
    """
    if consumer.get("active") is False:
        return []
    consumer_id = consumer["id"]
    done = _counting(assessments, consumer_id, today)
    items = _assessment_items(consumer_id, parse_date(consumer.get("application_date")), done,
                              today)
    plan = current_plan(plans, consumer_id)
    if plan is not None:
        items.extend(_review_items(consumer_id, plan, done, today))
    return items


def current_plan(plans: Iterable[Record], consumer_id: str) -> Record | None:
    """The consumer's active plan with the latest ``period.start`` (ties: greatest id)."""
    active = [plan for plan in plans
              if plan.get("consumer") == consumer_id and plan.get("status") == "active"]
    if not active:
        return None
    return max(active, key=lambda plan: (parse_date(plan["period"]["start"]), plan["id"]))


def _counting(assessments: Iterable[Record], consumer_id: str, today: date) -> list[_Done]:
    done = []
    for assessment in assessments:
        if assessment.get("consumer") != consumer_id or assessment.get("status") != "completed":
            continue
        completed_on = parse_date(assessment.get("completed_on"))
        if completed_on is None or completed_on > today:
            continue
        done.append(_Done(completed_on, assessment["id"], assessment["kind"],
                          assessment.get("plan"), assessment.get("completed_by")))
    return sorted(done, key=lambda a: (a.completed_on, a.id))


def _assessment_items(consumer_id: str, application_date: date | None, done: list[_Done],
                      today: date) -> list[DueItem]:
    items: list[DueItem] = []
    assessments = [a for a in done if a.kind in ("initial-comprehensive", "annual-reassessment")]
    if application_date is not None:
        closer = next((a for a in assessments if a.kind == "initial-comprehensive"
                       and a.completed_on >= application_date), None)
        items.append(_item(consumer_id, COMPREHENSIVE_ASSESSMENT, application_date,
                           application_date + timedelta(days=INITIAL_ASSESSMENT_DAYS),
                           today, closer))
        if closer is None:
            return items
        anchor = closer
    elif assessments:
        anchor = assessments[0]
    else:
        return items
    while True:
        closer = next((a for a in assessments if a.completed_on > anchor.completed_on), None)
        items.append(_item(consumer_id, ANNUAL_REASSESSMENT, anchor.completed_on,
                           add_months(anchor.completed_on, REASSESSMENT_MONTHS), today, closer))
        if closer is None:
            return items
        anchor = closer


def _review_items(consumer_id: str, plan: Record, done: list[_Done],
                  today: date) -> list[DueItem]:
    months = plan.get("review_frequency_months")
    if not months:
        return []
    start = parse_date(plan["period"]["start"])
    assert start is not None  # required by the plan schema
    reviews: dict[date, _Done | None] = {}  # review date -> assessment (None: last_review)
    # One assessment per day: one linked to this plan before an unlinked one, then lowest id.
    for assessment in sorted(done, key=lambda a: (a.completed_on, a.plan is None, a.id)):
        if (assessment.kind == "periodic-review" and assessment.plan in (None, plan["id"])
                and assessment.completed_on > start):
            reviews.setdefault(assessment.completed_on, assessment)
    last_review = parse_date(plan.get("last_review"))
    if last_review is not None and start < last_review <= today:
        reviews.setdefault(last_review, None)
    items = []
    anchor = start
    for review_date in [*sorted(reviews), None]:
        closer = reviews.get(review_date) if review_date is not None else None
        items.append(DueItem(
            consumer_id=consumer_id, kind=PLAN_REVIEW, cycle_start=anchor,
            due_on=add_months(anchor, months), as_of=today, completed_on=review_date,
            satisfied_by=closer.id if closer else None,
            completed_by=closer.completed_by if closer else None, plan_id=plan["id"]))
        if review_date is not None:
            anchor = review_date
    return items


def _item(consumer_id: str, kind: str, start: date, due_on: date, today: date,
          closer: _Done | None) -> DueItem:
    return DueItem(consumer_id=consumer_id, kind=kind, cycle_start=start, due_on=due_on,
                   as_of=today, completed_on=closer.completed_on if closer else None,
                   satisfied_by=closer.id if closer else None,
                   completed_by=closer.completed_by if closer else None)


def tracking_gaps(consumer: Record, assessments: Iterable[Record], plans: Iterable[Record],
                  today: date) -> list[str]:
    """Why an active consumer's due dates cannot all be computed; empty when nothing is missing.

    ``due_items`` skips what it cannot date; this says what was skipped, for data clean-up.
    """
    if consumer.get("active") is False:
        return []
    consumer_id = consumer["id"]
    gaps = []
    assessments = list(assessments)
    done = _counting(assessments, consumer_id, today)
    if consumer.get("application_date") is None and not any(
            a.kind in ("initial-comprehensive", "annual-reassessment") for a in done):
        gaps.append("no application_date and no completed comprehensive assessment or annual "
                    "reassessment: the assessment clock cannot start")
    for assessment in assessments:
        if (assessment.get("consumer") == consumer_id and assessment.get("status") == "completed"
                and assessment.get("completed_on") is None):
            gaps.append(f"assessment {assessment['id']} is completed but has no completed_on, "
                        f"so it closes nothing")
    plan = current_plan(plans, consumer_id)
    if plan is None:
        gaps.append("no active plan: no plan reviews are tracked")
    elif not plan.get("review_frequency_months"):
        gaps.append(f"active plan {plan['id']} has no review_frequency_months: no plan reviews "
                    f"are tracked")
    return gaps


def responsible_staff(consumer_id: str, assignments: Iterable[Record], today: date) -> str | None:
    """The staff id of the consumer's current case manager / supports coordinator, or None.

    Current: ``start`` <= today <= ``end`` (an absent end is open). Several at once: the latest
    start wins (ties: greatest assignment id). Outside persons and organizations never own.
    """
    current = []
    for assignment in assignments:
        if (assignment.get("consumer") != consumer_id
                or assignment.get("role") not in RESPONSIBLE_ROLES
                or "staff" not in assignment.get("member", {})):
            continue
        start, end = parse_date(assignment["start"]), parse_date(assignment.get("end"))
        if start is not None and start <= today and (end is None or today <= end):
            current.append((start, assignment["id"], assignment["member"]["staff"]))
    return max(current)[2] if current else None


@dataclass(frozen=True)
class OverdueSummary:
    """Open and overdue counts over many consumers' items, for operators."""

    as_of: date | None
    open: int
    overdue: int
    overdue_by_kind: Mapping[str, int]  # every kind, zero when none
    oldest_first: tuple[DueItem, ...]  # the overdue items, longest overdue first

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "open": self.open,
            "overdue": self.overdue,
            "overdue_by_kind": dict(self.overdue_by_kind),
            "overdue_items": [
                {"consumer": item.consumer_id, "kind": item.kind, "plan": item.plan_id,
                 "due_on": item.due_on.isoformat(), "days_overdue": item.days_overdue}
                for item in self.oldest_first],
        }


def overdue_summary(items: Sequence[DueItem]) -> OverdueSummary:
    """Counts of open and overdue items and the overdue ones, longest overdue first."""
    open_items = [item for item in items if not item.satisfied]
    overdue = sorted((item for item in open_items if item.overdue),
                     key=lambda item: (item.due_on, item.consumer_id, item.kind, item.cycle_id))
    by_kind = Counter(item.kind for item in overdue)
    return OverdueSummary(
        as_of=max((item.as_of for item in items), default=None),
        open=len(open_items), overdue=len(overdue),
        overdue_by_kind={kind: by_kind.get(kind, 0) for kind in KINDS},
        oldest_first=tuple(overdue))

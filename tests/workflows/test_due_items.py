"""The due-date rules: comprehensive assessment, annual reassessment, plan reviews."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.care import (
    ANNUAL_REASSESSMENT,
    COMPREHENSIVE_ASSESSMENT,
    PLAN_REVIEW,
    DueItem,
    add_months,
    due_items,
    overdue_summary,
    responsible_staff,
    tracking_gaps,
)

from .records import annual, assessment, assignment, consumer, initial, plan, review

D = date.fromisoformat


def of_kind(items: list[DueItem], kind: str) -> list[DueItem]:
    return [item for item in items if item.kind == kind]


def only(items: list[DueItem], kind: str) -> DueItem:
    matching = of_kind(items, kind)
    assert len(matching) == 1, matching
    return matching[0]


def open_item(items: list[DueItem], kind: str) -> DueItem:
    """The one open cycle of a chain, which is always the last one."""
    matching = of_kind(items, kind)
    assert [item.satisfied for item in matching][-1] is False
    assert all(item.satisfied for item in matching[:-1])
    return matching[-1]


# Calendar arithmetic


@pytest.mark.parametrize(("start", "months", "expected"), [
    ("2024-01-15", 1, "2024-02-15"),
    ("2024-01-31", 1, "2024-02-29"),
    ("2023-01-31", 1, "2023-02-28"),
    ("2024-02-29", 12, "2025-02-28"),
    ("2023-02-28", 12, "2024-02-28"),
    ("2024-02-29", 48, "2028-02-29"),
    ("2024-11-30", 3, "2025-02-28"),
    ("2024-12-15", 1, "2025-01-15"),
    ("2024-05-31", 6, "2024-11-30"),
])
def test_add_months_clamps_to_month_end(start: str, months: int, expected: str) -> None:
    assert add_months(D(start), months) == D(expected)


# Comprehensive (initial) assessment


@pytest.mark.parametrize(("completed_on", "late", "status"), [
    ("2024-01-02", False, "on-time"),
    ("2024-01-31", False, "on-time"),  # day 30: the last day on time
    ("2024-02-01", True, "late"),  # day 31
])
def test_initial_assessment_on_time_or_late(completed_on: str, late: bool, status: str) -> None:
    items = due_items(consumer(application_date="2024-01-01"), [initial("A-1", completed_on)],
                      [], today=D("2024-06-01"))
    item = only(items, COMPREHENSIVE_ASSESSMENT)
    assert (item.cycle_start, item.due_on) == (D("2024-01-01"), D("2024-01-31"))
    assert (item.satisfied, item.satisfied_by, item.completed_on) == (True, "A-1", D(completed_on))
    assert (item.late, item.overdue, item.business_status) == (late, False, status)


@pytest.mark.parametrize(("today", "overdue", "days"), [
    ("2024-01-15", False, 0),
    ("2024-01-31", False, 0),  # due today is not overdue
    ("2024-02-01", True, 1),
    ("2024-03-01", True, 30),
])
def test_open_initial_assessment_overdue_relative_to_today(today: str, overdue: bool,
                                                          days: int) -> None:
    items = due_items(consumer(application_date="2024-01-01"), [], [], today=D(today))
    assert len(items) == 1
    item = items[0]
    assert (item.kind, item.due_on, item.satisfied) == (COMPREHENSIVE_ASSESSMENT,
                                                        D("2024-01-31"), False)
    assert (item.overdue, item.days_overdue, item.as_of) == (overdue, days, D(today))
    assert item.business_status == ("overdue" if overdue else "due")


def test_initial_closed_by_earliest_initial_comprehensive_on_or_after_application() -> None:
    assessments = [initial("A-old", "2023-12-31"),  # before the application: another episode
                   annual("A-ann", "2024-01-10"),  # not an initial assessment
                   initial("A-2", "2024-01-25"), initial("A-1", "2024-01-20")]
    item = only(due_items(consumer(application_date="2024-01-01"), assessments, [],
                          today=D("2024-02-01")), COMPREHENSIVE_ASSESSMENT)
    assert (item.satisfied_by, item.completed_on) == ("A-1", D("2024-01-20"))


def test_initial_closed_on_the_application_day() -> None:
    item = only(due_items(consumer(application_date="2024-01-01"),
                          [initial("A-1", "2024-01-01")], [], today=D("2024-01-02")),
                COMPREHENSIVE_ASSESSMENT)
    assert item.satisfied_by == "A-1"


@pytest.mark.parametrize("kind", ["annual-reassessment", "periodic-review"])
def test_only_an_initial_comprehensive_closes_the_initial_item(kind: str) -> None:
    items = due_items(consumer(), [assessment("A-1", kind, "2024-01-10")], [],
                      today=D("2024-02-15"))
    item = only(items, COMPREHENSIVE_ASSESSMENT)
    assert (item.satisfied, item.overdue) == (False, True)
    assert of_kind(items, ANNUAL_REASSESSMENT) == []  # no annual clock while the initial is open


def test_missing_application_date_means_no_initial_item() -> None:
    person = consumer(application_date=None)
    assert due_items(person, [], [], today=D("2024-06-01")) == []
    assert tracking_gaps(person, [], [], today=D("2024-06-01"))[0].startswith(
        "no application_date and no completed comprehensive assessment")


# Annual reassessment


def test_annual_due_twelve_months_after_initial_with_leap_day() -> None:
    person = consumer(application_date="2024-02-01")
    assessments = [initial("A-1", "2024-02-29")]
    items = due_items(person, assessments, [], today=D("2025-02-28"))
    item = only(items, ANNUAL_REASSESSMENT)
    assert (item.cycle_start, item.due_on) == (D("2024-02-29"), D("2025-02-28"))
    assert (item.satisfied, item.overdue) == (False, False)
    item = only(due_items(person, assessments, [], today=D("2025-03-01")), ANNUAL_REASSESSMENT)
    assert (item.overdue, item.days_overdue) == (True, 1)


def test_annual_chain_runs_from_each_completion_early_or_late() -> None:
    person = consumer(application_date="2022-01-01")
    assessments = [initial("A-1", "2022-01-20"),
                   annual("A-2", "2022-12-01"),  # early
                   annual("A-3", "2024-01-15")]  # late: due 2023-12-01
    items = of_kind(due_items(person, assessments, [], today=D("2024-06-01")),
                    ANNUAL_REASSESSMENT)
    assert [(i.cycle_start, i.due_on, i.satisfied_by, i.business_status) for i in items] == [
        (D("2022-01-20"), D("2023-01-20"), "A-2", "on-time"),
        (D("2022-12-01"), D("2023-12-01"), "A-3", "late"),
        (D("2024-01-15"), D("2025-01-15"), None, "due"),
    ]


def test_a_comprehensive_assessment_also_closes_an_annual_cycle() -> None:
    items = due_items(consumer(application_date="2023-01-01"),
                      [initial("A-1", "2023-01-10"), initial("A-2", "2024-01-05")], [],
                      today=D("2024-02-01"))
    first, second = of_kind(items, ANNUAL_REASSESSMENT)
    assert (first.satisfied_by, first.completed_on) == ("A-2", D("2024-01-05"))
    assert (second.cycle_start, second.due_on) == (D("2024-01-05"), D("2025-01-05"))


def test_same_day_assessments_close_one_cycle() -> None:
    items = due_items(consumer(application_date="2024-01-01"),
                      [initial("A-1", "2024-01-10"), annual("A-2", "2024-01-10")], [],
                      today=D("2024-02-01"))
    assert only(items, ANNUAL_REASSESSMENT).cycle_start == D("2024-01-10")


def test_annual_chain_without_application_date_starts_at_earliest_assessment() -> None:
    person = consumer(application_date=None)
    assessments = [annual("A-2", "2023-03-01"), annual("A-1", "2022-03-10")]
    items = due_items(person, assessments, [], today=D("2024-04-01"))
    assert of_kind(items, COMPREHENSIVE_ASSESSMENT) == []
    assert [(i.cycle_start, i.satisfied_by) for i in items] == [
        (D("2022-03-10"), "A-2"), (D("2023-03-01"), None)]
    assert items[-1].overdue and items[-1].due_on == D("2024-03-01")
    assert tracking_gaps(person, assessments, [plan()], today=D("2024-04-01")) == []


def test_closure_completes_the_cycle_and_opens_the_next() -> None:
    person = consumer(application_date="2024-01-01")
    history = [initial("A-1", "2024-01-20")]
    before = due_items(person, history, [], today=D("2025-01-25"))
    assert [(i.kind, i.satisfied, i.overdue) for i in before] == [
        (COMPREHENSIVE_ASSESSMENT, True, False), (ANNUAL_REASSESSMENT, False, True)]
    after = due_items(person, [*history, annual("A-2", "2025-01-24")], [],
                      today=D("2025-01-25"))
    assert [(i.kind, i.satisfied, i.overdue) for i in after] == [
        (COMPREHENSIVE_ASSESSMENT, True, False), (ANNUAL_REASSESSMENT, True, False),
        (ANNUAL_REASSESSMENT, False, False)]
    assert after[1].cycle_id == before[1].cycle_id  # the same cycle, now closed (late)
    assert (after[1].satisfied_by, after[1].business_status) == ("A-2", "late")
    assert (after[2].cycle_start, after[2].due_on) == (D("2025-01-24"), D("2026-01-24"))


# Assessments that close nothing


@pytest.mark.parametrize("record", [
    initial("A-x", "2024-01-10", status="cancelled"),
    initial("A-x", None, status="scheduled", scheduled_on="2024-01-10"),
    initial("A-x", None),  # completed, but when?
    initial("A-x", "2024-02-10"),  # completed after "today"
    initial("A-x", "2024-01-10", consumer="C-other"),
], ids=["cancelled", "scheduled", "undated", "future", "other-consumer"])
def test_assessments_that_do_not_close(record: dict) -> None:
    item = only(due_items(consumer(), [record], [], today=D("2024-02-05")),
                COMPREHENSIVE_ASSESSMENT)
    assert (item.satisfied, item.satisfied_by, item.overdue) == (False, None, True)


def test_cancelled_review_does_not_move_the_review_date() -> None:
    items = due_items(consumer(), [initial("A-1", "2024-01-10"),
                                   review("R-1", "2024-05-01", status="cancelled")],
                      [plan(start="2024-03-01", months=3)], today=D("2024-06-02"))
    item = only(items, PLAN_REVIEW)
    assert (item.cycle_start, item.due_on, item.overdue) == (D("2024-03-01"), D("2024-06-01"),
                                                             True)


def test_undated_completed_assessment_is_a_tracking_gap() -> None:
    gaps = tracking_gaps(consumer(), [initial("A-1", None)], [plan()], today=D("2024-02-01"))
    assert gaps == ["assessment A-1 is completed but has no completed_on, so it closes nothing"]


# Inactive consumers


def test_inactive_consumer_has_no_items() -> None:
    person = consumer(active=False)
    records = [initial("A-1", "2024-01-10")], [plan()]
    assert due_items(person, *records, today=D("2025-06-01")) == []
    assert tracking_gaps(person, *records, today=D("2025-06-01")) == []
    assert due_items(consumer(active=True), *records, today=D("2025-06-01")) == \
        due_items(consumer(), *records, today=D("2025-06-01"))


# Plan reviews


@pytest.mark.parametrize(("months", "due"), [
    (1, "2024-02-29"), (3, "2024-04-30"), (6, "2024-07-31"), (12, "2025-01-31")])
def test_first_review_due_from_plan_start(months: int, due: str) -> None:
    items = due_items(consumer(), [], [plan("P-1", start="2024-01-31", months=months)],
                      today=D("2024-02-01"))
    item = only(items, PLAN_REVIEW)
    assert (item.plan_id, item.cycle_start, item.due_on) == ("P-1", D("2024-01-31"), D(due))
    assert (item.satisfied, item.overdue) == (False, False)


@pytest.mark.parametrize(("months", "due"), [
    (1, "2024-09-30"), (3, "2024-11-30"), (6, "2025-02-28"), (12, "2025-08-31")])
def test_review_due_from_last_review(months: int, due: str) -> None:
    items = of_kind(due_items(consumer(), [], [plan(start="2024-01-15", months=months,
                                                    last_review="2024-08-31")],
                              today=D("2024-09-01")), PLAN_REVIEW)
    closed, current = items
    assert (closed.cycle_start, closed.completed_on, closed.satisfied_by) == (
        D("2024-01-15"), D("2024-08-31"), None)
    assert (current.cycle_start, current.due_on, current.satisfied) == (
        D("2024-08-31"), D(due), False)


@pytest.mark.parametrize(("months", "today", "overdue"), [
    (1, "2024-04-01", False), (1, "2024-04-02", True),
    (3, "2024-06-01", False), (3, "2024-06-02", True),
    (6, "2024-09-01", False), (6, "2024-09-02", True),
    (12, "2025-03-01", False), (12, "2025-03-02", True),
])
def test_review_overdue_relative_to_today(months: int, today: str, overdue: bool) -> None:
    item = open_item(due_items(consumer(), [], [plan(start="2024-03-01", months=months)],
                               today=D(today)), PLAN_REVIEW)
    assert item.overdue is overdue


def test_review_runs_from_the_later_of_last_review_and_periodic_review() -> None:
    later_assessment = due_items(consumer(), [review("R-1", "2024-07-01", plan="P-1")],
                                 [plan(start="2024-03-01", last_review="2024-06-01")],
                                 today=D("2024-08-01"))
    assert [(i.cycle_start, i.completed_on, i.satisfied_by)
            for i in of_kind(later_assessment, PLAN_REVIEW)] == [
        (D("2024-03-01"), D("2024-06-01"), None),
        (D("2024-06-01"), D("2024-07-01"), "R-1"),
        (D("2024-07-01"), None, None)]
    assert open_item(later_assessment, PLAN_REVIEW).due_on == D("2024-10-01")

    later_field = due_items(consumer(), [review("R-1", "2024-06-01", plan="P-1")],
                            [plan(start="2024-03-01", last_review="2024-07-01")],
                            today=D("2024-08-01"))
    assert open_item(later_field, PLAN_REVIEW).due_on == D("2024-10-01")
    assert of_kind(later_field, PLAN_REVIEW)[0].satisfied_by == "R-1"


def test_last_review_matching_a_review_assessment_names_the_assessment() -> None:
    items = due_items(consumer(), [review("R-1", "2024-06-01", completed_by="S-9")],
                      [plan(start="2024-03-01", last_review="2024-06-01")],
                      today=D("2024-07-01"))
    closed, _ = of_kind(items, PLAN_REVIEW)
    assert (closed.satisfied_by, closed.completed_by) == ("R-1", "S-9")


def test_which_review_assessments_count_for_a_plan() -> None:
    assessments = [review("R-other", "2024-04-01", plan="P-old"),  # another plan's review
                   review("R-before", "2024-02-15"),  # before this plan started
                   review("R-start", "2024-03-01"),  # on its start day: nothing to review yet
                   review("R-unlinked", "2024-05-01"),
                   review("R-linked", "2024-05-01", plan="P-1"),  # linked wins the day
                   review("R-z", "2024-06-01"), review("R-a", "2024-06-01")]  # lowest id
    items = of_kind(due_items(consumer(), assessments, [plan("P-1", start="2024-03-01")],
                              today=D("2024-07-01")), PLAN_REVIEW)
    assert [(i.cycle_start, i.satisfied_by) for i in items] == [
        (D("2024-03-01"), "R-linked"), (D("2024-05-01"), "R-a"), (D("2024-06-01"), None)]


def test_future_last_review_is_ignored() -> None:
    item = only(due_items(consumer(), [], [plan(start="2024-03-01", last_review="2024-07-01")],
                          today=D("2024-06-15")), PLAN_REVIEW)
    assert (item.cycle_start, item.due_on, item.overdue) == (D("2024-03-01"), D("2024-06-01"),
                                                             True)


@pytest.mark.parametrize("plans", [
    [],
    [plan(status="draft")],
    [plan(status="completed")],
    [plan(status="revoked")],
    [plan(consumer="C-other")],
], ids=["none", "draft", "completed", "revoked", "other-consumer"])
def test_no_reviews_without_an_active_plan(plans: list[dict]) -> None:
    items = due_items(consumer(), [initial("A-1", "2024-01-10")], plans, today=D("2024-06-01"))
    assert of_kind(items, PLAN_REVIEW) == []
    assert [i.kind for i in items] == [COMPREHENSIVE_ASSESSMENT, ANNUAL_REASSESSMENT]
    assert tracking_gaps(consumer(), [initial("A-1", "2024-01-10")], plans,
                         today=D("2024-06-01")) == ["no active plan: no plan reviews are tracked"]


def test_active_plan_without_frequency_has_no_reviews_and_is_a_gap() -> None:
    plans = [plan("P-1", months=None)]
    assert of_kind(due_items(consumer(), [], plans, today=D("2024-06-01")), PLAN_REVIEW) == []
    assert tracking_gaps(consumer(), [], plans, today=D("2024-06-01"))[-1] == (
        "active plan P-1 has no review_frequency_months: no plan reviews are tracked")


def test_latest_active_plan_is_reviewed() -> None:
    plans = [plan("P-new", start="2024-05-01", months=6), plan("P-old", start="2023-05-01"),
             plan("P-done", start="2024-06-01", status="completed")]
    item = only(due_items(consumer(), [], plans, today=D("2024-06-01")), PLAN_REVIEW)
    assert (item.plan_id, item.due_on) == ("P-new", D("2024-11-01"))


def test_full_history_order_and_unique_cycles() -> None:
    items = due_items(consumer(application_date="2023-01-01"),
                      [initial("A-1", "2023-01-20"), annual("A-2", "2024-01-10"),
                       review("R-1", "2023-06-01"), review("R-2", "2023-12-01")],
                      [plan("P-1", start="2023-02-01", months=6)], today=D("2024-03-01"))
    assert [i.kind for i in items] == [COMPREHENSIVE_ASSESSMENT, ANNUAL_REASSESSMENT,
                                       ANNUAL_REASSESSMENT, PLAN_REVIEW, PLAN_REVIEW,
                                       PLAN_REVIEW]
    assert len({i.cycle_id for i in items}) == len(items)
    assert items[-1].cycle_id == "C-1:plan-review:P-1:2023-12-01"


# Operators' summary


def test_overdue_summary() -> None:
    today = D("2024-06-01")
    items = [*due_items(consumer("C-1", application_date="2024-04-01"), [], [], today),
             *due_items(consumer("C-2", application_date="2024-01-01"),
                        [initial("A-1", "2024-01-10", consumer="C-2")],
                        [plan(consumer="C-2", start="2024-01-01", months=3)], today),
             *due_items(consumer("C-3", application_date="2024-05-20"), [], [], today)]
    summary = overdue_summary(items)
    assert (summary.as_of, summary.open, summary.overdue) == (today, 4, 2)
    assert dict(summary.overdue_by_kind) == {COMPREHENSIVE_ASSESSMENT: 1,
                                             ANNUAL_REASSESSMENT: 0, PLAN_REVIEW: 1}
    assert summary.as_dict()["overdue_items"] == [
        {"consumer": "C-2", "kind": PLAN_REVIEW, "plan": "P-1", "due_on": "2024-04-01",
         "days_overdue": 61},
        {"consumer": "C-1", "kind": COMPREHENSIVE_ASSESSMENT, "plan": None,
         "due_on": "2024-05-01", "days_overdue": 31},
    ]
    empty = overdue_summary([])
    assert (empty.as_of, empty.open, empty.overdue, empty.oldest_first) == (None, 0, 0, ())


# Who owns the items


def test_responsible_staff() -> None:
    today = D("2024-06-01")
    assignments = [
        assignment("G-1", "S-old", start="2023-01-01", end="2024-05-31"),
        assignment("G-2", "S-cm", start="2024-06-01"),
        assignment("G-3", "S-ther", role="therapist", start="2024-06-01"),
        assignment("G-4", "S-future", start="2024-07-01"),
        assignment("G-5", "S-x", consumer="C-other", start="2024-06-01"),
    ]
    assert responsible_staff("C-1", assignments, today) == "S-cm"
    assert responsible_staff("C-1", assignments, D("2024-05-31")) == "S-old"  # end inclusive
    assert responsible_staff("C-1", [assignment("G-6", "S-sc", role="supports-coordinator")],
                             today) == "S-sc"
    assert responsible_staff("C-1", assignments[2:4], today) is None

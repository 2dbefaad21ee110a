"""The care-management rules, as pure functions: due assessments and plan reviews and their FHIR
Tasks (care_management.py, tasks.py), the HEDIS FUH follow-up deadlines of a discharge
(followup.py), calendar arithmetic (dates.py).

    items = due_items(consumer, assessments, plans, today)
    tasks = [due_task(item, patient_reference=..., owner_reference=..., task_id=due_task_id(item),
                      identifier_system=..., today=today) for item in items]

Pure functions: no I/O and no clock (``today`` is always a parameter). The rules are spelled out
in ``care_management``.
"""
from .care_management import (
    ANNUAL_REASSESSMENT,
    COMPREHENSIVE_ASSESSMENT,
    KINDS,
    PLAN_REVIEW,
    DueItem,
    OverdueSummary,
    current_plan,
    due_items,
    overdue_summary,
    responsible_staff,
    tracking_gaps,
)
from .dates import add_months
from .tasks import (
    CMH_TASK_PROFILE,
    TASK_TYPE_SYSTEM,
    cancel_task,
    due_task,
    due_task_id,
    due_tasks,
)

__all__ = [
    "ANNUAL_REASSESSMENT",
    "CMH_TASK_PROFILE",
    "COMPREHENSIVE_ASSESSMENT",
    "KINDS",
    "PLAN_REVIEW",
    "TASK_TYPE_SYSTEM",
    "DueItem",
    "OverdueSummary",
    "add_months",
    "cancel_task",
    "current_plan",
    "due_items",
    "due_task",
    "due_task_id",
    "due_tasks",
    "overdue_summary",
    "responsible_staff",
    "tracking_gaps",
]

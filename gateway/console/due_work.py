"""Overdue work: the open due Tasks (30-day comprehensive assessment, annual reassessment,
plan review) whose date the care rules set has passed, by kind, each with its consumer; what
the home page counts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import render_template, request

from gateway.care.care_management import KINDS
from gateway.care.tasks import DISPLAY, TASK_TYPE_SYSTEM
from gateway.console import roles
from gateway.console.fhir_pages import search_all
from gateway.console.paging import paged
from gateway.console.referral_data import person_name
from gateway.console.web import audited, bp, principal, require, state, today
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository


@dataclass(frozen=True)
class OverdueTask:
    kind: str
    due_on: date
    patient_id: str | None
    person: str
    description: str


def overdue_due_tasks(repository: Repository, day: date) -> dict[str, list[dict[str, Any]]]:
    """Open (requested) due Tasks past their due date, by kind, earliest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        tasks = [t for t in search_all(repository, "Task", [
            ("code", f"{TASK_TYPE_SYSTEM}|{kind}"), ("status", "requested")])
            if (_due_on(t) or date.max) < day]
        found[kind] = sorted(tasks, key=lambda t: _due_on(t) or date.max)
    return found


@bp.get("/due")
@require(roles.CONSUMERS_VIEW)
def overdue_work() -> str:
    day = today()
    kind = request.args.get("kind", "")
    notice = None
    if kind and kind not in KINDS:
        notice = "There is no such kind of due work; showing all of it."
        kind = ""
    with state().reading(principal()) as repository:
        by_kind = overdue_due_tasks(repository, day)
        tasks = [t for k in KINDS if not kind or k == kind for t in by_kind[k]]
        shown = paged(tasks, request.args.get("page"))
        rows = _rows(repository, shown.items)
    audited("search-type", note=f"console overdue due work ({len(tasks)})")
    return render_template("due.html", rows=rows, kind=kind, kinds={k: DISPLAY[k] for k in KINDS},
                           counts={k: len(v) for k, v in by_kind.items()}, page=shown.page,
                           pages=shown.pages, total=shown.total, notice=notice, today=day)


def _rows(repository: Repository, tasks: list[dict[str, Any]]) -> list[OverdueTask]:
    names: dict[str, str] = {}
    rows = []
    for task in tasks:
        reference = (task.get("for") or {}).get("reference", "")
        patient_id = reference.partition("/")[2] if reference.startswith("Patient/") else None
        if patient_id and patient_id not in names:
            try:
                names[patient_id] = person_name(repository.read("Patient", patient_id).json())
            except FhirError:
                names[patient_id] = reference
        code = next((c.get("code") for c in (task.get("code") or {}).get("coding", [])
                     if c.get("system") == TASK_TYPE_SYSTEM), "")
        rows.append(OverdueTask(DISPLAY.get(code, code), _due_on(task) or date.max, patient_id,
                                names.get(patient_id or "", "") or "(unknown person)",
                                str(task.get("description", ""))))
    return rows


def _due_on(task: dict[str, Any]) -> date | None:
    end = ((task.get("restriction") or {}).get("period") or {}).get("end")
    try:
        return date.fromisoformat(end[:10]) if isinstance(end, str) else None
    except ValueError:
        return None

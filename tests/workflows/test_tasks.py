"""Due items as cmh-task Tasks, and the task-type code system they use."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from gateway.care import (
    ANNUAL_REASSESSMENT,
    CMH_TASK_PROFILE,
    COMPREHENSIVE_ASSESSMENT,
    KINDS,
    PLAN_REVIEW,
    TASK_TYPE_SYSTEM,
    cancel_task,
    due_items,
    due_task,
    due_task_id,
    due_tasks,
)
from gateway.fhir.validation import Validator

from .records import annual, assignment, consumer, initial, plan, review

D = date.fromisoformat
PROFILES = Path(__file__).resolve().parents[2] / "profiles"
IDENTIFIER_SYSTEM = "https://fhir-care-gateway.example/agency-id/due-task"
AGENCY = "Organization/agency"
FHIR_TYPES = {"consumer": "Patient", "staff": "Practitioner", "plan": "CarePlan"}


def reference_for(kind: str, local_id: str) -> str:
    return f"{FHIR_TYPES[kind]}/{local_id.lower()}"


def history() -> tuple[dict, list[dict], list[dict], list[dict]]:
    """A consumer with closed and open cycles of every kind."""
    return (consumer(application_date="2023-01-01"),
            [initial("A-1", "2023-02-15", completed_by="S-intake"),  # late
             annual("A-2", "2024-01-10"),
             review("R-1", "2023-06-01", plan="P-1", completed_by="S-cm"),
             review("R-2", "2023-12-01", status="cancelled")],
            [plan("P-1", start="2023-03-01", months=6, last_review="2023-11-20")],
            [assignment("G-1", "S-cm", start="2023-01-01")])


def tasks_on(today: str) -> list[dict]:
    person, assessments, plans, assignments = history()
    return due_tasks(person, assessments, plans, assignments, D(today),
                     reference_for=reference_for, agency_reference=AGENCY,
                     identifier_system=IDENTIFIER_SYSTEM)


def errors(validator: Validator, resource: dict) -> list:
    return [issue for issue in validator.validate(resource)
            if issue.severity in ("error", "fatal")]


@pytest.mark.parametrize("today", ["2023-01-15", "2023-03-01", "2024-03-01", "2025-06-01"])
def test_every_task_is_a_valid_cmh_task(validator: Validator, today: str) -> None:
    tasks = tasks_on(today)
    assert tasks
    for task in tasks:
        assert task["meta"]["profile"] == [CMH_TASK_PROFILE]
        assert validator.validate(task) == [], task
        assert validator.validate(task, profiles=[CMH_TASK_PROFILE]) == []


def test_tasks_for_the_history() -> None:
    tasks = tasks_on("2024-06-01")
    summary = [(t["code"]["coding"][0]["code"], t["status"], t["businessStatus"]["text"],
                t["restriction"]["period"]["end"], t.get("executionPeriod", {}).get("end"),
                t["owner"]["reference"]) for t in tasks]
    assert summary == [
        (COMPREHENSIVE_ASSESSMENT, "completed", "late", "2023-01-31", "2023-02-15",
         "Practitioner/s-intake"),
        (ANNUAL_REASSESSMENT, "completed", "on-time", "2024-02-15", "2024-01-10",
         "Practitioner/s-cm"),  # no completed_by: the current case manager
        (ANNUAL_REASSESSMENT, "requested", "due", "2025-01-10", None, "Practitioner/s-cm"),
        (PLAN_REVIEW, "completed", "on-time", "2023-09-01", "2023-06-01", "Practitioner/s-cm"),
        (PLAN_REVIEW, "completed", "on-time", "2023-12-01", "2023-11-20", "Practitioner/s-cm"),
        (PLAN_REVIEW, "requested", "overdue", "2024-05-20", None, "Practitioner/s-cm"),
    ]
    for task in tasks:
        assert task["intent"] == "plan"
        assert task["for"] == {"reference": "Patient/c-1"}
        assert task["code"]["coding"][0]["system"] == TASK_TYPE_SYSTEM
        assert task["identifier"][0]["system"] == IDENTIFIER_SYSTEM
        assert "statusReason" not in task
    assert [t.get("focus") for t in tasks] == [None] * 3 + [{"reference": "CarePlan/p-1"}] * 3
    assert tasks[0]["description"] == (
        "Comprehensive assessment, due within 30 days of the application for services on "
        "2023-01-01; completed on 2023-02-15 (assessment A-1)")
    assert tasks[-1]["description"] == (
        "Review of person-centered plan P-1, due 6 months after 2023-11-20")


def test_task_fields_for_one_item() -> None:
    item = due_items(consumer(application_date="2024-01-01"), [], [], D("2024-02-03"))[0]
    task = due_task(item, patient_reference="Patient/p1", owner_reference=AGENCY,
                    task_id="t-1", identifier_system=IDENTIFIER_SYSTEM, today=D("2024-02-03"))
    assert task == {
        "resourceType": "Task", "id": "t-1", "meta": {"profile": [CMH_TASK_PROFILE]},
        "identifier": [{"system": IDENTIFIER_SYSTEM,
                        "value": "C-1:comprehensive-assessment:2024-01-01"}],
        "status": "requested", "businessStatus": {"text": "overdue"}, "intent": "plan",
        "code": {"coding": [{"system": TASK_TYPE_SYSTEM, "code": COMPREHENSIVE_ASSESSMENT,
                             "display": "Comprehensive assessment due"}]},
        "description": "Comprehensive assessment, due within 30 days of the application for "
                       "services on 2024-01-01",
        "for": {"reference": "Patient/p1"}, "authoredOn": "2024-01-01",
        "owner": {"reference": AGENCY},
        "restriction": {"period": {"start": "2024-01-01", "end": "2024-01-31"}},
    }


def test_task_overdue_is_judged_on_its_today() -> None:
    item = due_items(consumer(application_date="2024-01-01"), [], [], D("2024-01-10"))[0]
    render = {"patient_reference": "Patient/p1", "owner_reference": AGENCY, "task_id": "t-1",
              "identifier_system": IDENTIFIER_SYSTEM}
    assert due_task(item, **render, today=D("2024-01-31"))["businessStatus"] == {"text": "due"}
    assert due_task(item, **render, today=D("2024-02-01"))["businessStatus"] == {
        "text": "overdue"}
    # an application dated in the future: authored no later than today
    assert due_task(item, **render, today=D("2023-12-30"))["authoredOn"] == "2023-12-30"


def test_tasks_are_deterministic_and_change_only_with_their_state() -> None:
    assert tasks_on("2024-06-01") == tasks_on("2024-06-01")
    assert tasks_on("2024-06-01") == tasks_on("2024-07-15")  # nothing changed state
    earlier, later = tasks_on("2024-05-20"), tasks_on("2024-05-21")
    assert [t["id"] for t in earlier] == [t["id"] for t in later]
    changed = [(a["businessStatus"], b["businessStatus"]) for a, b in zip(earlier, later,
                                                                          strict=True) if a != b]
    assert changed == [({"text": "due"}, {"text": "overdue"})]


def test_closing_a_cycle_completes_its_task_and_adds_the_next() -> None:
    person, plans = consumer(application_date="2024-01-01"), []
    before = due_tasks(person, [], plans, [], D("2024-01-20"), reference_for=reference_for,
                       agency_reference=AGENCY, identifier_system=IDENTIFIER_SYSTEM)
    after = due_tasks(person, [initial("A-1", "2024-01-20")], plans, [], D("2024-01-20"),
                      reference_for=reference_for, agency_reference=AGENCY,
                      identifier_system=IDENTIFIER_SYSTEM)
    assert [t["status"] for t in before] == ["requested"]
    assert [t["status"] for t in after] == ["completed", "requested"]
    assert after[0]["id"] == before[0]["id"]
    assert after[0]["identifier"] == before[0]["identifier"]
    assert after[0]["executionPeriod"] == {"end": "2024-01-20"}
    assert after[0]["owner"] == {"reference": AGENCY}  # no case manager assigned
    assert after[1]["code"]["coding"][0]["code"] == ANNUAL_REASSESSMENT
    assert after[1]["restriction"]["period"] == {"start": "2024-01-20", "end": "2025-01-20"}


def test_task_ids_are_valid_unique_and_stable() -> None:
    person, assessments, plans, _ = history()
    items = due_items(person, assessments, plans, D("2024-06-01"))
    ids = [due_task_id(item) for item in items]
    assert len(set(ids)) == len(ids)
    assert all(len(id_) <= 64 for id_ in ids)
    # years later, nothing closed: the open cycles, and so their Tasks, are the same
    assert ids == [due_task_id(item) for item in due_items(person, assessments, plans,
                                                           D("2030-01-01"))]


def test_inactive_consumer_has_no_tasks() -> None:
    person, assessments, plans, assignments = history()
    person["active"] = False
    assert due_tasks(person, assessments, plans, assignments, D("2024-06-01"),
                     reference_for=reference_for, agency_reference=AGENCY,
                     identifier_system=IDENTIFIER_SYSTEM) == []


def test_cancelled_task_is_valid(validator: Validator) -> None:
    open_task = tasks_on("2024-06-01")[-1]
    cancelled = cancel_task(open_task, reason="Plan P-1 was replaced", today=D("2024-06-02"))
    assert open_task["status"] == "requested"  # not mutated
    assert (cancelled["status"], cancelled["statusReason"], cancelled["lastModified"]) == (
        "cancelled", {"text": "Plan P-1 was replaced"}, "2024-06-02")
    assert validator.validate(cancelled) == []
    without_reason = {**cancelled}
    del without_reason["statusReason"]
    assert [issue.code for issue in errors(validator, without_reason)] == ["invariant"]
    with pytest.raises(ValueError, match="already completed"):
        cancel_task(tasks_on("2024-06-01")[0], reason="x", today=D("2024-06-02"))


# The task-type code system


def test_code_system_has_the_due_item_codes() -> None:
    code_system = json.loads((PROFILES / "CodeSystem-cmh-task-type.json").read_text())
    value_set = json.loads((PROFILES / "ValueSet-cmh-task-type.json").read_text())
    codes = [concept["code"] for concept in code_system["concept"]]
    assert codes == ["referral", "case-manager-change", *KINDS]
    assert code_system["count"] == len(codes)
    assert code_system["url"] == TASK_TYPE_SYSTEM
    assert value_set["compose"]["include"] == [{"system": TASK_TYPE_SYSTEM}]  # every code
    assert code_system["version"] == value_set["version"]


@pytest.mark.parametrize("code", ["referral", "case-manager-change", *KINDS])
def test_every_task_type_code_is_in_the_bound_value_set(validator: Validator, code: str) -> None:
    task = tasks_on("2024-06-01")[0]
    task["code"] = {"coding": [{"system": TASK_TYPE_SYSTEM, "code": code}]}
    assert validator.validate(task) == []


def test_codes_outside_the_code_system_are_still_refused(validator: Validator) -> None:
    task = tasks_on("2024-06-01")[0]
    task["code"] = {"coding": [{"system": TASK_TYPE_SYSTEM, "code": "reassessment"}]}
    assert [(issue.code, issue.expression) for issue in errors(validator, task)] == [
        ("code-invalid", "Task.code")]

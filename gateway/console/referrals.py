"""The referral inbox, a referral's page, and its status changes."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.care.followup import OPEN_STATES
from gateway.console import roles
from gateway.console.referral_actions import DONE, Refused, actions_for, change_status
from gateway.console.referral_assignment import assign, case_managers
from gateway.console.referral_data import (
    URGENCY,
    InboxRow,
    concept_text,
    inbox,
    person_name,
    referral_page,
)
from gateway.console.web import (
    audited,
    bp,
    not_found,
    principal,
    require,
    state,
    today,
)
from gateway.workflows import referral_states

PAGE_SIZE = 25
ASSIGNED = "The referral is assigned."
AGES = {"1": "received in the last day", "7": "in the last 7 days",
        "30": "in the last 30 days", "older": "more than 30 days ago"}


def status_choices() -> list[str]:
    """Every status the state machine knows, in its own order of keys."""
    seen = list(referral_states.ALLOWED)
    for following in referral_states.ALLOWED.values():
        seen += [s for s in sorted(following) if s not in seen]
    return seen


@bp.get("/referrals")
@require(roles.REFERRALS_VIEW)
def referral_inbox() -> str:
    args = request.args
    choices = status_choices()
    notices = []
    status = args.get("status", "open")
    if status not in ("open", "all", *choices):
        notices.append(f"There is no status {status!r}; showing open referrals.")
        status = "open"
    urgency = args.get("urgency", "")
    if urgency not in ("", *URGENCY):
        notices.append("Unknown urgency filter; showing all.")
        urgency = ""
    age = args.get("age", "")
    if age not in ("", *AGES):
        notices.append("Unknown age filter; showing all.")
        age = ""
    statuses = None if status == "all" else (sorted(OPEN_STATES) if status == "open"
                                             else [status])
    day = today()
    with state().reading(principal()) as repository:
        rows = inbox(repository, day, statuses=statuses)
    hospitals = sorted({row.hospital for row in rows})
    hospital = args.get("hospital", "")
    shown = [row for row in rows if (not hospital or row.hospital == hospital)
             and (not urgency or row.urgency == urgency) and _age_matches(row, age)]
    page = _page_number(args.get("page"))
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = min(page, pages)
    audited("search-type", note=f"console referral inbox ({len(shown)} shown)")
    return render_template(
        "referrals.html", rows=shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE],
        total=len(shown), page=page, pages=pages, today=day, notices=notices,
        filters={"status": status, "hospital": hospital, "age": age, "urgency": urgency},
        statuses=choices, hospitals=hospitals, ages=AGES, urgencies=URGENCY,
        filtered=any((hospital, age, urgency, status != "open")))


@bp.get("/referrals/<task_id>")
@require(roles.REFERRALS_VIEW)
def referral(task_id: str) -> str:
    done = request.args.get("done", "")
    return _referral_page(task_id, message=ASSIGNED if done == "assigned" else DONE.get(done))


@bp.post("/referrals/<task_id>/owner")
@require(roles.REFERRALS_ACT)
def referral_owner(task_id: str) -> Response | tuple[str, int]:
    chosen = request.form.get("owner", "")
    try:
        name = assign(state(), principal(), task_id, version=request.form.get("version", ""),
                      practitioner_id=chosen)
    except Refused as refused:
        audited("update", note=f"console: assignment of referral Task/{task_id} refused: "
                               f"{refused.message}"[:900])
        errors = {"owner": refused.message} if refused.field else {}
        page = _referral_page(task_id, error=None if refused.field else refused.message,
                              errors=errors, form={"owner": {"owner": chosen}})
        return page, refused.status
    audited("update", note=f"console: referral Task/{task_id} assigned to {name}",
            written=[f"Task/{task_id}"])
    return redirect(url_for("console.referral", task_id=task_id, done="assigned"), 303)


@bp.post("/referrals/<task_id>/status")
@require(roles.REFERRALS_ACT)
def referral_status(task_id: str) -> Response | tuple[str, int]:
    to = request.form.get("to", "")
    form = {"reason": request.form.get("reason", ""),
            "visit_date": request.form.get("visit_date", "")}
    try:
        now_status = change_status(state(), principal(), task_id,
                                   version=request.form.get("version", ""), to=to, form=form,
                                   today=today())
    except Refused as refused:
        audited("update", note=f"console: change of referral Task/{task_id} to {to!r} refused: "
                               f"{refused.message}"[:900])
        errors = {f"{to}:{refused.field}": refused.message} if refused.field else {}
        page = _referral_page(task_id, error=None if refused.field else refused.message,
                              errors=errors, form={to: form})
        return page, refused.status
    audited("update", note=f"console: referral Task/{task_id} set to {now_status}",
            written=[f"Task/{task_id}"])
    return redirect(url_for("console.referral", task_id=task_id, done=now_status), 303)


def _referral_page(task_id: str, *, message: str | None = None, error: str | None = None,
                   errors: dict[str, str] | None = None,
                   form: dict[str, dict[str, str]] | None = None) -> str:
    day = today()
    with state().reading(principal()) as repository:
        found = referral_page(repository, task_id, day)
        managers = case_managers(repository) if found is not None else []
    if found is None:
        raise not_found("referral")
    if g.get("console_interaction") is None:  # not already an action's refusal
        audited("read", note=f"console referral Task/{task_id}")
    return render_template("referral.html", r=found, today=day, case_managers=managers,
                           open_states=OPEN_STATES,
                           actions=actions_for(found.status), message=message, error=error,
                           errors=errors or {}, form=form or {})


def _age_matches(row: InboxRow, age: str) -> bool:
    if not age:
        return True
    if row.age_days is None:
        return False
    if age == "older":
        return row.age_days > 30
    return row.age_days <= int(age)


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1


def days_text(days: int) -> str:
    if days == 0:
        return "due today"
    if days > 0:
        return f"{days} day{'s' if days != 1 else ''} left"
    return f"{-days} day{'s' if days != -1 else ''} overdue"


bp.add_app_template_filter(days_text, "days_text")
bp.add_app_template_global(person_name, "person_name")
bp.add_app_template_global(concept_text, "concept_text")

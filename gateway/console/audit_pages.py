"""The audit trail: searching AuditEvents (the parameters the FHIR API offers operators) and
running the chain verification of ``gateway audit verify``, both through audit_trail.py."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime

from flask import render_template, request

from gateway.console import roles
from gateway.console.audit_trail import OUTCOMES, search_events, verify
from gateway.console.paging import PAGE_SIZE, page_number
from gateway.console.web import audited, bp, principal, require, state
from gateway.fhir.errors import FhirError

TEXT = re.compile(r"^[^\x00-\x1f]{0,200}$")
FORM = ("patient", "agent", "entity", "since", "until", "outcome")
# The search parameter a refusal names -> the form field it came from.
FIELD_OF = {"patient": "patient", "agent": "agent", "agent-name": "agent", "entity": "entity",
            "date": "since", "outcome": "outcome"}


@bp.get("/audit")
@require(roles.AUDIT_VIEW)
def audit_search() -> tuple[str, int]:
    values = {name: request.args.get(name, "").strip() for name in FORM}
    errors = _check(values)
    rows, total, has_next, page = [], None, False, page_number(request.args.get("page"))
    searched = any(values.values())
    if not errors:
        try:
            with state().reading(principal()) as repository:
                rows, total, has_next = search_events(
                    repository, _params(values), count=PAGE_SIZE,
                    offset=(page - 1) * PAGE_SIZE)
        except FhirError as error:
            if error.status != 400:
                raise
            parameter = str(error).partition(":")[0].strip()
            errors[FIELD_OF.get(parameter, "patient")] = f"The search could not be run: {error}"
    audited("search-type", note=f"console audit search ({total if total is not None else 0} "
                                f"found)" if not errors else "console audit search refused")
    pages = max(1, -(-(total or 0) // PAGE_SIZE))
    return render_template("audit.html", values=values, errors=errors, rows=rows,
                           total=total or 0, page=page, pages=pages, has_next=has_next,
                           outcomes=OUTCOMES, searched=searched,
                           query={k: v for k, v in values.items() if v}), \
        400 if errors else 200


@bp.post("/audit/verify")
@require(roles.AUDIT_VIEW)
def audit_verify() -> str:
    result = verify(state(), datetime.now(UTC))
    audited("operation", note=f"console audit verify: {result.entries} entries, "
                              f"{'intact' if result.intact else 'problems'}")
    return render_template("audit_verify.html", result=result)


def _check(values: dict[str, str]) -> dict[str, str]:
    errors = {}
    for name in ("patient", "agent", "entity"):
        if not TEXT.match(values[name]):
            errors[name] = "Enter at most 200 characters, without control characters."
    for name in ("since", "until"):
        if values[name]:
            try:
                date.fromisoformat(values[name])
            except ValueError:
                errors[name] = "Enter the date as YYYY-MM-DD."
    if not errors and values["since"] and values["until"] and values["since"] > values["until"]:
        errors["until"] = "This date is before the first one."
    if values["outcome"] and values["outcome"] not in OUTCOMES:
        errors["outcome"] = "Choose one of the outcomes listed."
    return errors


def _params(values: dict[str, str]) -> list[tuple[str, str]]:
    params = []
    if values["patient"]:
        params.append(("patient", values["patient"]))
    if values["agent"]:  # a partner's Organization/id, or an operator's or sender's name
        params.append(("agent" if "/" in values["agent"] else "agent-name", values["agent"]))
    if values["entity"]:
        params.append(("entity", values["entity"]))
    if values["since"]:
        params.append(("date", f"ge{values['since']}"))
    if values["until"]:
        params.append(("date", f"le{values['until']}"))
    if values["outcome"]:
        params.append(("outcome", values["outcome"]))
    return params

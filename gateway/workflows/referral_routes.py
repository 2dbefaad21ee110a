"""The operators' API for the referral worklist (what ``gateway referrals list`` shows, over HTTP).

    GET /admin/referrals?overdue=true&_count=N   open discharge referrals and their FUH
                                                 deadlines, most urgent first (JSON)
    POST /admin/referrals/{id}/{action}          accept, reject, start, hold, resume,
                                                 complete, cancel, fail or entered-in-error
                                                 a referral; JSON body: ``reason``,
                                                 and to complete ``encounter`` (an Encounter
                                                 id) or ``encounterDate`` (YYYY-MM-DD); the
                                                 answer is the Task (gateway/workflows/
                                                 referral_actions.py)
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, g, request

from gateway.fhir import json_text
from gateway.fhir.errors import FhirError
from gateway.state import gateway_state, require_operator
from gateway.workflows.referral_actions import ACTIONS, act
from gateway.workflows.referral_deadlines import open_referrals

bp = Blueprint("referrals", __name__, url_prefix="/admin")
_FLAGS = {"true": True, "false": False}


@bp.before_request
def operators_only() -> None:
    g.principal = require_operator(request.headers.get("Authorization"), "see referrals")


@bp.get("/referrals")
def list_referrals() -> Response:
    overdue = request.args.get("overdue", "false")
    if overdue not in _FLAGS:
        raise FhirError(400, "invalid", "overdue must be true or false")
    try:
        limit = int(request.args.get("_count", "100"))
    except ValueError:
        raise FhirError(400, "invalid", "_count must be a number") from None
    if limit < 0:
        raise FhirError(400, "invalid", "_count must not be negative")
    today = datetime.now(UTC).date()  # as the workflows count days (translate.py)
    found = open_referrals(gateway_state(), today, overdue_only=_FLAGS[overdue])
    return _json({"today": today.isoformat(), "total": len(found),
                  "referrals": [item.to_json() for item in found[:min(limit, 1000)]]})


@bp.post("/referrals/<task_id>/<action>")
def referral_action(task_id: str, action: str) -> Response:
    if action not in ACTIONS:
        raise FhirError(404, "not-found", f"no such action {action!r}; one of "
                                          f"{', '.join(ACTIONS)}")
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise FhirError(400, "invalid", "the body must be a JSON object")
    for name in ("reason", "encounter", "encounterDate"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise FhirError(400, "invalid", f"{name} must be a string")
    when = None
    if body.get("encounterDate"):
        try:
            when = date.fromisoformat(body["encounterDate"])
        except ValueError:
            raise FhirError(400, "invalid", "encounterDate must be a date (YYYY-MM-DD)") \
                from None
    task = act(gateway_state(), task_id, action, g.principal, reason=body.get("reason"),
               encounter=body.get("encounter"), encounter_date=when)
    return Response(json.dumps(task), content_type="application/fhir+json")


def _json(body: Any) -> Response:
    return Response(json_text.dumps(body), content_type="application/json")

"""The operators' API for the referral worklist (what ``gateway referrals list`` shows, over HTTP).

    GET /admin/referrals?overdue=true&_count=N   open discharge referrals and their FUH
                                                 deadlines, most urgent first (JSON)
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, request

from gateway.fhir import json_text
from gateway.fhir.errors import FhirError
from gateway.state import gateway_state, require_operator
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


def _json(body: Any) -> Response:
    return Response(json_text.dumps(body), content_type="application/json")

"""The operators' API for consents (what ``gateway consents`` does, over HTTP).

    GET /admin/consents/problems                         Consents the gateway cannot read, why
    GET /admin/consumers/{id}/disclosure-preview?partner=ID
                                                         what each partner would see now, why
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from gateway.fhir import json_text
from gateway.state import gateway_state, require_operator
from gateway.workflows.consent_review import consent_problems, disclosure_preview

bp = Blueprint("consents", __name__, url_prefix="/admin")


@bp.before_request
def operators_only() -> None:
    g.principal = require_operator(request.headers.get("Authorization"), "review consents")


@bp.get("/consents/problems")
def problems() -> Response:
    found = consent_problems(gateway_state())
    return _json({"total": len(found), "problems": [p.to_json() for p in found]})


@bp.get("/consumers/<patient_id>/disclosure-preview")
def preview(patient_id: str) -> Response:
    views = disclosure_preview(gateway_state(), patient_id, request.args.get("partner"))
    return _json({"patient": patient_id, "partners": [view.to_json() for view in views]})


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json_text.dumps(body), status=status,
                    content_type="application/json")

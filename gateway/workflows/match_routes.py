"""The operators' API for the match review queue (what ``gateway matches`` does, over HTTP).

    GET  /admin/matches?status=open|linked|created|cancelled  reviews (default: the open ones), JSON
    POST /admin/matches/{id}/link   {"patient": "<Patient id>"}   the person is that consumer
    POST /admin/matches/{id}/new                                  the person is someone new
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from gateway.fhir import json_text
from gateway.fhir.errors import FhirError
from gateway.state import gateway_state, require_operator
from gateway.workflows import match_review
from gateway.workflows.referrals import Taken

bp = Blueprint("matches", __name__, url_prefix="/admin")
STATUSES = (match_review.OPEN, match_review.LINKED, match_review.CREATED,
            match_review.CANCELLED)


@bp.before_request
def operators_only() -> None:
    g.principal = require_operator(request.headers.get("Authorization"), "review matches")


@bp.get("/matches")
def list_reviews() -> Response:
    status = request.args.get("status", match_review.OPEN)
    if status not in STATUSES:
        raise FhirError(400, "invalid", f"status must be one of {', '.join(STATUSES)}")
    found = match_review.reviews(gateway_state(), status)
    return _json({"status": status, "reviews": [review.to_json() for review in found]})


@bp.post("/matches/<int:review_id>/link")
def link(review_id: int) -> Response:
    body = request.get_json(silent=True)
    patient = body.get("patient") if isinstance(body, dict) else None
    if not isinstance(patient, str) or not patient:
        raise FhirError(400, "required", 'the body must be {"patient": "<Patient id>"}',
                        "patient")
    return _decided(match_review.link(gateway_state(), review_id, patient, g.principal))


@bp.post("/matches/<int:review_id>/new")
def take_in_as_new(review_id: int) -> Response:
    return _decided(match_review.take_in_as_new(gateway_state(), review_id, g.principal))


def _decided(taken: Taken) -> Response:
    return _json({"outcome": taken.outcome, "detail": taken.detail,
                  "patient_id": taken.patient_id, "task_id": taken.task_id})


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json_text.dumps(body), status=status,
                    content_type="application/json")

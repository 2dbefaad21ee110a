"""The operators' API for the delivery queue (what ``gateway deadletters`` does, over HTTP).

    GET  /admin/deliveries?status=dead&partner=ID   deliveries in one state (default: dead)
    POST /admin/deliveries/{id}/replay              queue one dead letter again
    POST /admin/deadletters/replay?partner=ID       queue every dead letter (of a partner) again
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, request

from gateway.db.engine import begin_write
from gateway.delivery import queue
from gateway.fhir.errors import FhirError
from gateway.state import gateway_state, require_operator

bp = Blueprint("deliveries", __name__, url_prefix="/admin")


@bp.before_request
def operators_only() -> None:
    g.principal = require_operator(request.headers.get("Authorization"), "manage deliveries")


@bp.get("/deliveries")
def list_deliveries() -> Response:
    status = request.args.get("status", queue.DEAD)
    if status not in queue.STATUSES:
        raise FhirError(400, "invalid", f"status must be one of {', '.join(queue.STATUSES)}")
    try:
        limit = min(int(request.args.get("_count", "100")), 1000)
    except ValueError:
        raise FhirError(400, "invalid", "_count must be a number") from None
    with gateway_state().session_factory() as session:
        items = queue.deliveries(session, status, request.args.get("partner"), limit)
    return _json({"status": status, "deliveries": [item.to_json() for item in items]})


@bp.post("/deliveries/<int:seq>/replay")
def replay_one(seq: int) -> Response:
    replayed = _replay([seq], None)
    if not replayed:
        raise FhirError(404, "not-found", f"delivery {seq} is not a dead letter")
    return _json({"replayed": replayed})


@bp.post("/deadletters/replay")
def replay_all() -> Response:
    return _json({"replayed": _replay(None, request.args.get("partner"))})


def _replay(seqs: list[int] | None, partner_id: str | None) -> list[int]:
    with gateway_state().session_factory() as session, session.begin():
        begin_write(session)
        return queue.replay(session, datetime.now(UTC), seqs, partner_id)


def _json(body: Any) -> Response:
    return Response(json.dumps(body), content_type="application/json")

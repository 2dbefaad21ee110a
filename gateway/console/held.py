"""HL7 v2 messages held because the facility that sent them is not registered (yet): the list,
and "Replay" once the facility is (``hl7_messages.replay_held``, as ``gateway inbound replay``
does). A replay that is still refused leaves the message held and says why."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.console import roles
from gateway.console.paging import paged
from gateway.console.web import audited, bp, require, signed_in, state
from gateway.workflows import held_messages
from gateway.workflows.hl7_messages import replay_held

OUTCOMES = {"taken": "was taken in", "still-held": "is still held",
            "replayed-before": "had been replayed already", "not-held": "is not held"}


@bp.get("/held")
@require(roles.HELD_VIEW)
def held_page() -> tuple[str, int]:
    every = request.args.get("show") == "all"
    found = held_messages.held(state(), status=None if every else held_messages.HELD)
    shown = paged(list(reversed(found)), request.args.get("page"))
    replayed, outcome = request.args.get("replayed", ""), request.args.get("outcome", "")
    message = None
    if replayed.isdigit() and outcome in OUTCOMES:
        message = f"Held message {replayed} {OUTCOMES[outcome]}."
        if outcome == "still-held":
            message += (" Register the sending facility (Partners, with its HL7 facility) "
                        "and replay it again.")
    audited("search-type", note=f"console held messages ({len(found)})")
    return render_template("held.html", rows=shown.items, page=shown.page, pages=shown.pages,
                           total=shown.total, every=every, message=message), 200


@bp.post("/held/<int:held_id>/replay")
@require(roles.HELD_REPLAY)
def replay_held_message(held_id: int) -> Response:
    operator = signed_in().operator.name
    result = replay_held(state(), [held_id], by=f"console:{operator}")[0]
    audited("operation", note=f"console: held message {held_id} replayed: {result.outcome} "
                              f"({result.text[:200]})")
    return redirect(url_for("console.held_page", replayed=held_id, outcome=result.outcome),
                    303)

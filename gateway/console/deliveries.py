"""Deliveries to partners: per partner the queue's depth, its oldest pending delivery and
how many were sent, withheld or dead; the deliveries in one state with their reasons; a chart
per hour; and "Replay" on a dead letter (``delivery.queue.replay``, as the admin API and
``gateway deadletters replay`` do)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.console import roles
from gateway.console.delivery_chart import hourly_chart
from gateway.console.paging import paged
from gateway.console.referral_data import person_name
from gateway.console.web import PageError, audited, bp, principal, require, state, zone
from gateway.db.engine import begin_write
from gateway.delivery import queue
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.partners.registry import PartnerRegistry

CHART_DAYS = 3
LISTED = 1000  # deliveries of one state read for the list (newest are paged in the page)
SHOWN_STATUSES = (queue.DEAD, queue.PENDING, queue.WITHHELD, queue.SENT)


@bp.get("/deliveries")
@require(roles.DELIVERIES_VIEW)
def deliveries() -> tuple[str, int]:
    now = datetime.now(UTC)
    status = request.args.get("status", queue.DEAD)
    partner = request.args.get("partner", "")
    notices = []
    if status not in SHOWN_STATUSES:
        notices.append(f"There is no delivery status {status[:40]!r}; showing dead letters.")
        status = queue.DEAD
    with state().session_factory() as session:
        partners = {p.id: p for p in PartnerRegistry(session).all()}
        if partner and partner not in partners:
            notices.append(f"There is no partner {partner[:64]!r}; showing every partner.")
            partner = ""
        figures = queue.figures(session, now)
        listed = queue.deliveries(session, status, partner or None, LISTED,
                                  newest_first=True)
        finished = queue.finished_since(session, now - timedelta(days=CHART_DAYS))
    shown = paged(listed, request.args.get("page"))
    with state().reading(principal()) as repository:
        people = consumer_names(repository, {d.patient_id for d in shown.items})
    done = request.args.get("replayed", "")
    message = (f"Delivery {done} is queued again; the worker sends it shortly."
               if done.isdigit() else None)
    audited("search-type", note=f"console deliveries ({status}, {len(listed)})")
    return render_template(
        "deliveries.html", figures=figures, partners=partners, status=status,
        partner=partner, rows=shown.items, page=shown.page, pages=shown.pages,
        total=shown.total, statuses=SHOWN_STATUSES, notices=notices, message=message,
        chart=hourly_chart(finished, now, zone(), CHART_DAYS), chart_days=CHART_DAYS,
        now=now, capped=len(listed) >= LISTED, people=people), 200


@bp.post("/deliveries/<int:seq>/replay")
@require(roles.DELIVERIES_REPLAY)
def replay_delivery(seq: int) -> Response:
    with state().session_factory() as session, session.begin():
        begin_write(session)
        replayed = queue.replay(session, datetime.now(UTC), [seq])
    if not replayed:
        audited("operation", note=f"console: replay of delivery {seq} refused: not a dead "
                                  f"letter")
        raise PageError(409, f"Delivery {seq} is not a dead letter (any more): someone may "
                             f"have replayed it already. Nothing was changed.")
    audited("operation", note=f"console: dead letter {seq} replayed")
    partner = request.form.get("partner", "")
    return redirect(url_for("console.deliveries", status=queue.DEAD, replayed=seq,
                            **({"partner": partner} if partner else {})), 303)


def consumer_names(repository: Repository, patient_ids: set[str]) -> dict[str, str]:
    """The names of the consumers a page of deliveries is about (read as the operator)."""
    names = {}
    for patient_id in patient_ids:
        try:
            names[patient_id] = person_name(repository.read("Patient", patient_id).json())
        except FhirError:
            continue
    return names


def age_text(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


bp.add_app_template_filter(age_text, "age_text")

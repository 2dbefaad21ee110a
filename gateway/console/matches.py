"""The match review queue: a hospital's person beside each candidate consumer; "Link" to one
of them, or "New consumer" (gateway/workflows/match_review.py decides and audits it, in one
transaction with the referral it then makes)."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from gateway.console import roles
from gateway.console.match_data import review_page
from gateway.console.web import (
    PageError,
    audited,
    bp,
    not_found,
    principal,
    require,
    state,
)
from gateway.fhir.errors import FhirError
from gateway.workflows import match_review

DONE = {"linked": "Linked: the referral was made for the consumer you chose.",
        "created": "Taken in as a new (prospective) consumer; the referral was made."}


@bp.get("/matches")
@require(roles.MATCHES_VIEW)
def match_reviews() -> str:
    waiting = match_review.reviews(state(), match_review.OPEN)
    audited("search-type", note=f"console match reviews ({len(waiting)} waiting)")
    return render_template("matches.html", reviews=waiting)


@bp.get("/matches/<int:review_id>")
@require(roles.MATCHES_VIEW)
def match_review_page(review_id: int, error: str | None = None, status: int = 200
                      ) -> tuple[str, int]:
    found = match_review.review_with_person(state(), review_id)
    if found is None:
        raise not_found("match review")
    review, person = found
    with state().reading(principal()) as repository:
        page = review_page(repository, review, person)
    if error is None:
        audited("read", note=f"console match review {review_id}")
    return render_template("match.html", page=page, error=error,
                           message=DONE.get(request.args.get("done", ""))), status


@bp.post("/matches/<int:review_id>/link")
@require(roles.MATCHES_DECIDE)
def match_link(review_id: int) -> Response | tuple[str, int]:
    patient_id = request.form.get("patient_id", "")
    if not patient_id:
        raise PageError(400, "Choose the consumer to link.")
    return _decide(review_id, patient_id)


@bp.post("/matches/<int:review_id>/new")
@require(roles.MATCHES_DECIDE)
def match_new(review_id: int) -> Response | tuple[str, int]:
    return _decide(review_id, None)


def _decide(review_id: int, patient_id: str | None) -> Response | tuple[str, int]:
    what = f"link to Patient/{patient_id}" if patient_id else "new consumer"
    try:
        if patient_id:
            taken = match_review.link(state(), review_id, patient_id, principal())
        else:
            taken = match_review.take_in_as_new(state(), review_id, principal())
    except FhirError as error:
        audited("operation", note=f"console match review {review_id}: {what} refused: "
                                  f"{error}"[:900])
        message = (f"Nothing was changed: {error}." if error.status != 404 else
                   "Nothing was changed: that consumer or review is not known.")
        return match_review_page(review_id, error=message, status=error.status)
    audited("operation", note=f"console match review {review_id}: {what}",
            written=list(taken.written))
    done = "linked" if patient_id else "created"
    return redirect(url_for("console.match_review_page", review_id=review_id, done=done), 303)

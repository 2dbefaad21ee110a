"""The home page: what needs attention now, each figure a link where a page for it exists."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, render_template, url_for
from sqlalchemy import func, select

from gateway.auth import SYSTEM
from gateway.care.tasks import DISPLAY
from gateway.console import roles
from gateway.console.due_work import overdue_due_tasks
from gateway.console.referral_data import URGENCY, urgency_of
from gateway.console.web import audited, bp, require, signed_in, state, today
from gateway.db.models import DeliveryRow, HeldMessageRow, MatchReviewRow
from gateway.delivery.queue import DEAD
from gateway.workflows.consent_review import consent_problems
from gateway.workflows.held_messages import HELD
from gateway.workflows.match_review import OPEN
from gateway.workflows.referral_deadlines import open_referrals


@dataclass(frozen=True)
class Figure:
    label: str
    count: int
    link: str | None  # None: no console page for it (yet), or the role may not open it
    where: str | None = None  # where else to see it, when there is no link


@bp.get("/home")
@require(roles.HOME)
def home() -> str:
    day = today()
    role = signed_in().operator.role
    referrals = open_referrals(state(), day)
    by_urgency = {key: 0 for key in URGENCY}
    for deadline in referrals:
        key = urgency_of(deadline)
        if key is not None:
            by_urgency[key] += 1
    may_see_referrals = roles.allows(role, roles.REFERRALS_VIEW)
    referral_figures = [
        Figure(f"Referrals {label}", by_urgency[key],
               url_for("console.referral_inbox", urgency=key) if may_see_referrals else None)
        for key, label in URGENCY.items()]
    with state().reading(SYSTEM) as repository:
        due = {kind: len(tasks) for kind, tasks in overdue_due_tasks(repository, day).items()}
    with state().session_factory() as session:
        matches = session.scalar(select(func.count()).select_from(MatchReviewRow)
                                 .where(MatchReviewRow.status == OPEN)) or 0
        dead = session.scalar(select(func.count()).select_from(DeliveryRow)
                              .where(DeliveryRow.status == DEAD)) or 0
        held = session.scalar(select(func.count()).select_from(HeldMessageRow)
                              .where(HeldMessageRow.status == HELD)) or 0
    problems = len(consent_problems(state()))
    others = [
        *[Figure(f"Overdue: {DISPLAY[kind].removesuffix(' due').lower()}", count,
                 _page("console.overdue_work", roles.CONSUMERS_VIEW, role, kind=kind),
                 "gateway workflows run")
          for kind, count in due.items()],
        Figure("Match reviews waiting", matches,
               _page("console.match_reviews", roles.MATCHES_VIEW, role), "gateway matches list"),
        Figure("Dead letters", dead, _page("console.deliveries", roles.DELIVERIES_VIEW, role),
               "gateway deadletters list"),
        Figure("Held HL7 messages", held, _page("console.held_page", roles.HELD_VIEW, role),
               "gateway inbound held"),
        Figure("Consent problems", problems,
               _page("console.consent_problems_page", roles.CONSENTS_VIEW, role),
               "gateway consents problems"),
    ]
    audited("search-type", note="console home")
    return render_template("home.html", referral_figures=referral_figures, others=others,
                           open_total=len(referrals), today=day)


def _page(endpoint: str, permission: str, role: str, **args: str) -> str | None:
    """A link to the console page ``endpoint`` if it exists and ``role`` may open it."""
    if endpoint in current_app.view_functions and roles.allows(role, permission):
        return url_for(endpoint, **args)
    return None

"""The privacy officer's pages: consents the gateway cannot read or act on."""
from __future__ import annotations

from flask import render_template

from gateway.console import roles
from gateway.console.web import audited, bp, require, state
from gateway.workflows.consent_review import consent_problems


@bp.get("/consents/problems")
@require(roles.CONSENTS_VIEW)
def consent_problems_page() -> str:
    problems = consent_problems(state())
    audited("search-type", note=f"console consent problems ({len(problems)})")
    return render_template("consent_problems.html", problems=problems)

"""Signing in and out of the console."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, g, redirect, render_template, request, url_for

from gateway.audit.events import disclosure_event
from gateway.console.operators import OperatorStore
from gateway.console.sessions import ConsoleSessions, SignedIn, new_token, same_token
from gateway.console.web import (
    COOKIE,
    SIGNIN_COOKIE,
    audited,
    bp,
    operator_principal,
    safe_next,
    set_cookie,
    state,
)
from gateway.db.engine import begin_write

NOTICES = {
    "expired": "You were signed out after 15 minutes without activity. Sign in again to "
               "continue; nothing you had not saved was changed.",
    "signin": "Please sign in to continue.",
    "signed-out": "You are signed out.",
}


@bp.route("/", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int] | str:
    if request.method == "GET":
        if _current_session_valid():
            return redirect(safe_next(request.args.get("next")), 303)
        return _form(notice=NOTICES.get(request.args.get("reason", "")))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    target = request.form.get("next")
    if not same_token(request.form.get("csrf_token"), request.cookies.get(SIGNIN_COOKIE)):
        return _form(username=username, status=400, next_page=target,
                     error="The sign-in form had expired or did not come from this page. "
                           "Please try again.")
    errors = {}
    if not username:
        errors["username"] = "Enter your username."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return _form(username=username, errors=errors, status=400, next_page=target)
    address = request.remote_addr or "unknown"
    with state().session_factory() as session, session.begin():
        begin_write(session)  # SQLite: take the write lock at BEGIN (it may write)
        sessions = ConsoleSessions(session)
        wait = sessions.throttled(username, address)
        operator = None if wait else OperatorStore(session).authenticate(username, password)
        if operator is None and not wait:
            sessions.note_failure(username, address)
        token = sessions.start(operator) if operator is not None else None
        if operator is not None:
            sessions.clear_failures(username)
    if wait:
        minutes = max(1, round(wait.total_seconds() / 60))
        _audit_failure(username, address, "throttled")
        return _form(username=username, status=429, next_page=target,
                     error=f"Too many failed sign-ins. Try again in {minutes} minute"
                           f"{'s' if minutes != 1 else ''}.")
    if operator is None or token is None:
        _audit_failure(username, address, "wrong username or password, or disabled")
        return _form(username=username, status=401, next_page=target,
                     error="That username and password do not match an active operator.")
    g.console_principal = operator_principal(operator.name)
    audited("operation", note=f"console sign-in ({operator.role}) from {address}")
    response = redirect(safe_next(target), 303)
    set_cookie(response, COOKIE, token)
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


@bp.post("/sign-out")
def sign_out() -> Response:
    with state().session_factory() as session, session.begin():
        begin_write(session)  # SQLite: take the write lock at BEGIN (it may write)
        ConsoleSessions(session).end(request.cookies.get(COOKIE))
    audited("operation", note="console sign-out")
    response = redirect(url_for("console.sign_in", reason="signed-out"), 303)
    response.delete_cookie(COOKIE, path="/console")
    return response


def _current_session_valid() -> bool:
    token = request.cookies.get(COOKIE)
    if not token:
        return False
    with state().session_factory() as session, session.begin():
        begin_write(session)  # SQLite: take the write lock at BEGIN (it may write)
        return isinstance(ConsoleSessions(session).resume(token), SignedIn)


def _form(*, username: str = "", error: str | None = None, notice: str | None = None,
          errors: dict[str, str] | None = None, status: int = 200,
          next_page: str | None = None) -> tuple[str, int] | Response:
    token = request.cookies.get(SIGNIN_COOKIE) or new_token()
    page = render_template("sign_in.html", username=username, error=error, notice=notice,
                           errors=errors or {}, signin_token=token,
                           next_page=next_page or request.args.get("next") or "")
    response = Response(page, status=status, content_type="text/html; charset=utf-8")
    set_cookie(response, SIGNIN_COOKIE, token)
    return response


def _audit_failure(username: str, address: str, why: str) -> None:
    """A refused sign-in is on the audit trail too (who tried, from where)."""
    state().audit_writer.write(disclosure_event(
        requester_kind="sender", requester_name=f"console sign-in as {username[:64]!r}",
        requester_organization=None, purpose=None, interaction="operation", action="E",
        outcome="deny", patients=[], resources=[], recorded=datetime.now(UTC),
        description=f"console sign-in refused from {address}: {why}"))

"""The console's blueprint and what every console request goes through.

    before the view   the signed-in operator from the session cookie (or a redirect to the
                      sign-in form, saying so when the idle limit ended the session); the CSRF
                      token of every POST checked; the page's permission checked (``require``)
    the view          reads through ``GatewayState.reading`` and writes through
                      ``GatewayState.writing`` with the operator's Principal, so the consent
                      decision point, the state machines and their hooks apply as in the API
    after the view    one AuditEvent naming the operator (gateway/audit/access.py), written
                      before the page is sent; security headers
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from gateway.audit.access import audit_request
from gateway.auth import Disclosures, Principal
from gateway.console import roles
from gateway.console.sessions import EXPIRED, ConsoleSessions, SignedIn, same_token
from gateway.db.engine import begin_write
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import ID_PATTERN
from gateway.state import GatewayState, gateway_state

log = logging.getLogger(__name__)
bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")

COOKIE = "gateway_console"
SIGNIN_COOKIE = "gateway_console_signin"
# Endpoints open without a session.
PUBLIC = frozenset({"console.sign_in", "console.static"})
View = TypeVar("View", bound=Callable[..., Any])


class PageError(Exception):
    """A refusal shown on a page: its HTTP status and one clear sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def state() -> GatewayState:
    return gateway_state()


def principal() -> Principal:
    return g.console_principal


def signed_in() -> SignedIn:
    return g.console_signed_in


def operator_principal(name: str) -> Principal:
    """The Principal an operator's console requests run as: an operator, by name."""
    return Principal(kind="operator", name=name, scopes=frozenset({"system/*.*"}),
                     disclosures=Disclosures())


def require(permission: str) -> Callable[[View], View]:
    """The view needs ``permission`` (roles.py); others get a 403 page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not roles.allows(signed_in().operator.role, permission):
                raise PageError(403, "Your role does not allow this page. Ask an administrator "
                                     "if you need it.")
            return view(*args, **kwargs)
        return checked  # type: ignore[return-value]
    return decorate


def audited(interaction: str, note: str | None = None, written: list[str] | None = None
            ) -> None:
    """What this request's AuditEvent says it did (default: a page read)."""
    g.console_interaction = interaction
    if note is not None:
        g.console_note = note
    if written:
        g.console_written = written


@bp.before_request
def load_session() -> Response | None:
    if request.endpoint in PUBLIC:
        return None
    token = request.cookies.get(COOKIE)
    with state().session_factory() as session, session.begin():
        begin_write(session)  # SQLite: take the write lock at BEGIN (it may write)
        found = ConsoleSessions(session).resume(token)
    if not isinstance(found, SignedIn):
        reason = "expired" if found == EXPIRED else "signin"
        target = url_for("console.sign_in", reason=reason,
                         next=request.full_path if request.method == "GET" else None)
        response = redirect(target, 303)
        if found == EXPIRED:
            response.delete_cookie(COOKIE, path="/console")
        return response
    g.console_signed_in = found
    g.console_principal = operator_principal(found.operator.name)
    if request.method == "POST" and not same_token(request.form.get("csrf_token"),
                                                   found.csrf_token):
        raise PageError(403, "This form could not be verified (its security token is missing "
                             "or out of date), so nothing was changed. Reload the page and "
                             "try again.")
    # A record's id in the path is a FHIR id or names nothing (as the REST API checks); a
    # partner's id (the registry's own) at least holds no control character.
    for name, value in (request.view_args or {}).items():
        if not (name.endswith("_id") and isinstance(value, str)):
            continue
        if not (ID_PATTERN.match(value) if name != "partner_id"
                else value.isprintable() and len(value) <= 64):
            raise not_found("such record")
    return None


@bp.after_request
def audit_and_secure(response: Response) -> Response:
    who = g.get("console_principal")
    if who is not None and request.endpoint != "console.static":
        interaction = g.get("console_interaction") or (
            "read" if request.method == "GET" else "operation")
        note = g.get("console_note") or f"console {request.method} {request.path}"
        audit_request(state().audit_writer, who, interaction=interaction,
                      method=request.method, status=response.status_code,
                      written=g.get("console_written"), note=note)
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(PageError)
def page_error(error: PageError) -> tuple[str, int]:
    return render_template("error.html", message=error.message), error.status


@bp.errorhandler(FhirError)
def fhir_error(error: FhirError) -> tuple[str, int]:
    return render_template("error.html", message=str(error)), error.status


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    message = {404: "There is no such page.",
               405: "That action is not available here."}.get(status, error.description or "")
    return render_template("error.html", message=message), status


@bp.errorhandler(Exception)
def unexpected(error: Exception) -> tuple[str, int]:
    # The operator gets a page, never a traceback; the log keeps the details.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_template("error.html", message="Something went wrong on our side; nothing "
                           "was changed. The gateway's log has the details."), 500


def error_page(status: int, message: str) -> tuple[str, int]:
    """An error page for a /console/ path no console view answered (the app's 404s)."""
    return render_template("error.html", message=message), status


def not_found(what: str) -> PageError:
    return PageError(404, f"There is no {what} here (it may have been removed).")


def cookie_secure() -> bool:
    return state().config.base_url.lower().startswith("https://")


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=cookie_secure(),
                        path="/console")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith("/console/") and not target.startswith("/console//") \
            and "\\" not in target:
        return target
    return url_for("console.home")


# -- what templates see ---------------------------------------------------------------------

def zone() -> ZoneInfo:
    return ZoneInfo(state().config.agency_timezone)


def today() -> date:
    """Today in the agency's time zone."""
    return datetime.now(zone()).date()


@bp.app_template_filter("local_time")
def local_time(moment: datetime | str | None) -> str:
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        if len(moment) <= 10:  # a date (or a partial one): no time to convert
            return local_date(moment)
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return moment
    if moment.tzinfo is None:  # SQLite gives back naive datetimes; the gateway stores UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone())
    return local.strftime("%-d %b %Y, %H:%M %Z")


@bp.app_template_filter("local_date")
def local_date(day: date | str | None) -> str:
    if day is None or day == "":
        return ""
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day[:10])
        except ValueError:
            return day
    return day.strftime("%a %-d %b %Y")


@bp.context_processor
def page_context() -> dict[str, Any]:
    who = g.get("console_signed_in")
    role = who.operator.role if who is not None else None
    return {"operator": who.operator if who is not None else None,
            "csrf_token": who.csrf_token if who is not None else None,
            "can": (lambda permission: role is not None and roles.allows(role, permission)),
            "roles": roles, "time_zone": state().config.agency_timezone,
            "quote": quote}

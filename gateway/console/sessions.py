"""Console sessions: sign-in throttling, server-side sessions, CSRF tokens, the idle limit.

- A session lives in the database (``operator_session``), so every gunicorn worker knows it
  and disabling an operator ends it at once. The cookie holds a random token (HttpOnly,
  SameSite=Strict, Secure when the base URL is https); only the token's SHA-256 is stored.
- Every form carries the session's CSRF token (a second random value, compared in constant
  time); the sign-in form, before there is a session, a token doubled in a cookie.
- A session unused for ``IDLE_LIMIT`` (15 minutes) is over: the next request finds it gone
  and the operator signs in again (HIPAA's automatic logoff, 45 CFR 164.312(a)(2)(iii)).
- Failed sign-ins are counted per username and per address over ``THROTTLE_WINDOW``; past
  ``MAX_FAILURES_PER_NAME`` or ``MAX_FAILURES_PER_ADDRESS`` sign-in is refused, right password
  or not, until the oldest failure leaves the window.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.console.operators import Operator, OperatorStore
from gateway.db.models import OperatorSessionRow, SignInFailureRow

IDLE_LIMIT = timedelta(minutes=15)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20
# A page view refreshes last_seen_at at most this often (one write per page is not needed).
_TOUCH_EVERY = timedelta(seconds=15)


@dataclass(frozen=True)
class SignedIn:
    operator: Operator
    csrf_token: str


EXPIRED = "expired"  # what resume() answers for a session ended by the idle limit


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class ConsoleSessions:
    """Sessions and failed sign-ins on one database session; the caller commits."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or datetime.now(UTC)

    def start(self, operator: Operator) -> str:
        """A new session for ``operator``; the token for its cookie."""
        token = new_token()
        self.session.add(OperatorSessionRow(
            token_hash=token_hash(token), operator_id=operator.id, csrf_token=new_token(),
            created_at=self.now, last_seen_at=self.now))
        return token

    def resume(self, token: str | None) -> SignedIn | str | None:
        """The session of ``token`` (its last use now), ``EXPIRED`` if it was idle too long
        (it is ended), or None: no such session (never was, signed out, or ended by a change
        to the operator)."""
        if not token:
            return None
        row = self.session.get(OperatorSessionRow, token_hash(token))
        if row is None:
            return None
        operator = OperatorStore(self.session).by_id(row.operator_id)
        if self.now - _aware(row.last_seen_at) > IDLE_LIMIT:
            self.session.delete(row)
            return EXPIRED
        if operator is None or operator.disabled:
            self.session.delete(row)
            return None
        if self.now - _aware(row.last_seen_at) > _TOUCH_EVERY:
            row.last_seen_at = self.now
        return SignedIn(operator, row.csrf_token)

    def end(self, token: str | None) -> None:
        if token:
            self.session.execute(delete(OperatorSessionRow)
                                 .where(OperatorSessionRow.token_hash == token_hash(token)))

    def throttled(self, username: str, address: str) -> timedelta | None:
        """How long sign-in stays refused for this name or address, or None."""
        since = self.now - THROTTLE_WINDOW
        waits = []
        for column, value, limit in ((SignInFailureRow.username, username.lower(),
                                      MAX_FAILURES_PER_NAME),
                                     (SignInFailureRow.address, address,
                                      MAX_FAILURES_PER_ADDRESS)):
            count, oldest = self.session.execute(
                select(func.count(), func.min(SignInFailureRow.failed_at))
                .where(column == value, SignInFailureRow.failed_at > since)).one()
            if count >= limit and oldest is not None:
                waits.append(_aware(oldest) + THROTTLE_WINDOW - self.now)
        return max(waits) if waits else None

    def note_failure(self, username: str, address: str) -> None:
        self.session.execute(delete(SignInFailureRow).where(
            SignInFailureRow.failed_at < self.now - THROTTLE_WINDOW))
        self.session.add(SignInFailureRow(username=username.lower()[:200], address=address[:64],
                                          failed_at=self.now))

    def clear_failures(self, username: str) -> None:
        self.session.execute(delete(SignInFailureRow)
                             .where(SignInFailureRow.username == username.lower()))


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; the gateway stores UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

"""The operator console at /console/: server-rendered pages for the agency's staff.

    web.py              the blueprint; sessions, CSRF, permissions and the AuditEvent of
                        every page view and action
    roles.py            what each role may open and do
    operators.py        named operators and their argon2 password hashes
    sessions.py         server-side sessions, CSRF tokens, idle sign-out, sign-in throttling
    signin.py           the sign-in form and sign-out
    home.py             what needs attention now
    referrals.py        the referral inbox and a referral's page
    referral_data.py    what those pages read; referral_actions.py: the status changes
    consents.py         consent problems (the privacy officer)
    matches.py          the match review queue; match_data.py: the person beside each
                        candidate, the score field by field

The console reads and writes only through ``GatewayState`` (the repository with the
operator's Principal, the workflows' own functions), so the consent decision point, the state
machines and the audit trail apply exactly as for the API.
"""
from __future__ import annotations

from gateway.console import consents, home, matches, referrals, signin
from gateway.console.web import bp, error_page

__all__ = ["bp", "error_page", "consents", "home", "matches", "referrals", "signin"]

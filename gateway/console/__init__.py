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
    consumers.py        the consumer search and a consumer's page; consumer_data.py: what
                        they read
    disclosures.py      what each partner would see of a consumer now, and the accounting of
                        disclosures (page, printable page, CSV)
    deliveries.py       the delivery queue per partner, dead letters and Replay;
                        delivery_chart.py: deliveries per hour as server-drawn SVG
    partners.py         the partner list, registration (partner_form.py), disable/enable
    due_work.py         overdue assessments and plan reviews (the home page's figures)
    imports.py          recent imports and rejected records (import_data.py)
    audit_pages.py      AuditEvent search and the chain verification
    audit_trail.py      the console's only access to the audit trail (FHIR search of
                        AuditEvent, verify_chain): kept in one place
    fhir_pages.py       FHIR searches a page at a time; paging.py: page numbers

The console reads and writes only through ``GatewayState`` (the repository with the
operator's Principal, the workflows' own functions), so the consent decision point, the state
machines and the audit trail apply exactly as for the API.
"""
from __future__ import annotations

from gateway.console import (
    audit_pages,
    consents,
    consumers,
    deliveries,
    disclosures,
    due_work,
    held,
    home,
    imports,
    matches,
    partners,
    referrals,
    signin,
)
from gateway.console.web import bp, error_page

__all__ = ["bp", "error_page", "audit_pages", "consents", "consumers", "deliveries",
           "disclosures", "due_work", "held", "home", "imports", "matches", "partners",
           "referrals", "signin"]

"""What each operator role may open and do in the console.

A role is a set of permissions; every console page and action names the one it needs
(``require``), and the navigation shows only what the signed-in operator may open. The table
in README.md ("Operator roles") is this mapping in words.

    intake           the referral inbox and its actions (assignment too), the match review
                     queue (Link, New consumer), consumers, deliveries (read), imports,
                     held HL7 messages (and replaying them)
    case-manager     the referral inbox and its actions; the match review queue, read only;
                     consumers (care team, plans, due Tasks, consents) and overdue work,
                     deliveries (read)
    privacy-officer  consent problems, each consumer's disclosure preview and accounting of
                     disclosures, the audit trail and its verification (and, read-only, the
                     referral inbox, consumers and deliveries)
    admin            everything: also replaying dead letters and held messages, and
                     registering, disabling and enabling partners
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

INTAKE, CASE_MANAGER, PRIVACY_OFFICER, ADMIN = (
    "intake", "case-manager", "privacy-officer", "admin")
ROLES = (INTAKE, CASE_MANAGER, PRIVACY_OFFICER, ADMIN)

HOME = "home"
REFERRALS_VIEW = "referrals:view"
REFERRALS_ACT = "referrals:act"
MATCHES_VIEW = "matches:view"
MATCHES_DECIDE = "matches:decide"
CONSENTS_VIEW = "consents:view"
CONSUMERS_VIEW = "consumers:view"
DISCLOSURES_VIEW = "disclosures:view"  # what partners see and were sent: the privacy officer's
DELIVERIES_VIEW = "deliveries:view"
DELIVERIES_REPLAY = "deliveries:replay"
PARTNERS_VIEW = "partners:view"
PARTNERS_MANAGE = "partners:manage"
IMPORTS_VIEW = "imports:view"
AUDIT_VIEW = "audit:view"
HELD_VIEW = "held:view"  # HL7 v2 messages from senders not registered
HELD_REPLAY = "held:replay"

PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType({
    INTAKE: frozenset({HOME, REFERRALS_VIEW, REFERRALS_ACT, MATCHES_VIEW, MATCHES_DECIDE,
                       CONSUMERS_VIEW, DELIVERIES_VIEW, IMPORTS_VIEW, HELD_VIEW, HELD_REPLAY}),
    CASE_MANAGER: frozenset({HOME, REFERRALS_VIEW, REFERRALS_ACT, MATCHES_VIEW,
                             CONSUMERS_VIEW, DELIVERIES_VIEW}),
    PRIVACY_OFFICER: frozenset({HOME, REFERRALS_VIEW, CONSENTS_VIEW, CONSUMERS_VIEW,
                                DISCLOSURES_VIEW, DELIVERIES_VIEW, PARTNERS_VIEW, AUDIT_VIEW}),
    ADMIN: frozenset({HOME, REFERRALS_VIEW, REFERRALS_ACT, MATCHES_VIEW, MATCHES_DECIDE,
                      CONSENTS_VIEW, CONSUMERS_VIEW, DISCLOSURES_VIEW, DELIVERIES_VIEW,
                      DELIVERIES_REPLAY, PARTNERS_VIEW, PARTNERS_MANAGE, IMPORTS_VIEW,
                      AUDIT_VIEW, HELD_VIEW, HELD_REPLAY}),
})


def allows(role: str, permission: str) -> bool:
    """Whether ``role`` has ``permission`` (an unknown role has none)."""
    return permission in PERMISSIONS.get(role, frozenset())

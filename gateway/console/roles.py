"""What each operator role may open and do in the console.

A role is a set of permissions; every console page and action names the one it needs
(``require``), and the navigation shows only what the signed-in operator may open. The table
in README.md ("Operator roles") is this mapping in words.

    intake           the referral inbox and its actions, the match review queue (Link,
                     New consumer)
    case-manager     the referral inbox and its actions; the match review queue, read only
    privacy-officer  consent problems (and, read-only, the referral inbox)
    admin            everything
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

PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType({
    INTAKE: frozenset({HOME, REFERRALS_VIEW, REFERRALS_ACT, MATCHES_VIEW, MATCHES_DECIDE}),
    CASE_MANAGER: frozenset({HOME, REFERRALS_VIEW, REFERRALS_ACT, MATCHES_VIEW}),
    PRIVACY_OFFICER: frozenset({HOME, REFERRALS_VIEW, CONSENTS_VIEW}),
    ADMIN: frozenset({HOME, REFERRALS_VIEW, REFERRALS_ACT, MATCHES_VIEW, MATCHES_DECIDE,
                      CONSENTS_VIEW}),
})


def allows(role: str, permission: str) -> bool:
    """Whether ``role`` has ``permission`` (an unknown role has none)."""
    return permission in PERMISSIONS.get(role, frozenset())

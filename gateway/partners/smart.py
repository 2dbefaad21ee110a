"""SMART Backend Services, server side: partners trade a signed client assertion for an access
token (HL7 SMART App Launch 2.x, "Backend Services"; RFC 7523 ``private_key_jwt``).

The assertion is a JWT signed with the partner's private key (RS384 or ES384) whose public half
is in the registry. We check the signature and ``alg``, ``iss`` = ``sub`` = the partner's
client id, ``aud`` = our token endpoint, ``exp`` no more than five minutes ahead, and that its
``jti`` was never used before (kept in the database, so a replay to another worker fails too).
Errors follow OAuth 2.0 (RFC 6749 section 5.2): ``invalid_client`` (401) for a failed client
authentication, ``invalid_request``, ``unsupported_grant_type``, ``invalid_scope`` (400).
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.auth import Principal
from gateway.db.models import AccessTokenRow, ClientAssertionRow, PartnerRow
from gateway.partners.registry import Partner, PartnerRegistry
from gateway.privacy.enforcement import CONSENT_CHANGES

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
TOKEN_LIFETIME = timedelta(minutes=5)
# Partners read; they never write through the FHIR API.
READ_PERMISSIONS = {"read": "read", "r": "r", "s": "s", "rs": "rs"}
_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<access>read|write|\*|c?r?u?d?s?)"
                    r"(?P<query>\?.*)?$")


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = 401 if error == "invalid_client" else 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    scope: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "token_type": "bearer",
                "expires_in": self.expires_in, "scope": self.scope}


def smart_configuration(base_url: str) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` for a backend-services-only server."""
    return {
        "issuer": base_url,
        "token_endpoint": token_endpoint(base_url),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": ["system/*.read", "system/*.rs"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }


# The jti column's width (models.ClientAssertionRow): a longer one is refused, not truncated.
MAX_JTI = 200
# exp is seconds since the epoch; anything past the year 9999 is no time at all.
MAX_EXP = 253_402_300_799


def _check_claim_types(claims: dict[str, Any]) -> None:
    """Every claim the checks read, of the type RFC 7519 gives it (a bad one is the client's
    error, never a 500): exp a NumericDate, jti, iss and sub strings."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 < exp <= MAX_EXP:
        raise OAuthError("invalid_client", "client_assertion exp must be a NumericDate "
                                           "(seconds since 1970)")
    for name in ("jti", "iss", "sub"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise OAuthError("invalid_client", f"client_assertion {name} must be a string")
    if len(claims["jti"]) > MAX_JTI:
        raise OAuthError("invalid_client", f"client_assertion jti may be at most {MAX_JTI} "
                                           f"characters")


def token_endpoint(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/auth/token"


class TokenService:
    """Issues access tokens for client assertions and resolves tokens to partners."""

    def __init__(self, session: Session, base_url: str,
                 now: Any = lambda: datetime.now(UTC)) -> None:
        self.session = session
        self.audience = token_endpoint(base_url)
        self.now = now

    # -- issuing -------------------------------------------------------------------------------

    def issue(self, form: dict[str, str]) -> IssuedToken:
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion")
        if not assertion:
            raise OAuthError("invalid_request", "client_assertion is required")
        if not form.get("scope"):
            raise OAuthError("invalid_request", "scope is required")
        partner, claims = self._authenticate(assertion)
        scope = granted_scope(form["scope"], partner)
        purpose = purpose_of_use(claims, partner)
        self._remember_assertion(partner, claims)
        token = secrets.token_urlsafe(32)
        self.session.add(AccessTokenRow(token_hash=_digest(token), partner_id=partner.id,
                                        scopes=scope, purpose=purpose,
                                        expires_at=self.now() + TOKEN_LIFETIME))
        self.session.flush()
        return IssuedToken(token, scope, int(TOKEN_LIFETIME.total_seconds()))

    def _authenticate(self, assertion: str) -> tuple[Partner, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_client", "client_assertion is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise OAuthError("invalid_client", f"client_assertion must be signed with "
                                               f"{' or '.join(ALGORITHMS)}, not {algorithm!r}")
        client_id = unverified.get("iss")
        if not isinstance(client_id, str) or unverified.get("sub") != client_id:
            raise OAuthError("invalid_client", "iss and sub must both be the client_id")
        partner = PartnerRegistry(self.session).by_client_id(client_id)
        if partner is None:
            raise OAuthError("invalid_client", f"unknown client {client_id!r}")
        if not partner.enabled:
            raise OAuthError("invalid_client", f"client {client_id!r} is disabled")
        claims: dict[str, Any] | None = None
        for key in _candidate_keys(partner, header, algorithm):
            try:
                claims = jwt.decode(assertion, key, algorithms=[algorithm],
                                    audience=self.audience,
                                    options={"require": ["iss", "sub", "aud", "exp", "jti"]})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise OAuthError("invalid_client", "client_assertion has expired") from None
            except jwt.InvalidAudienceError:
                raise OAuthError("invalid_client", f"client_assertion aud must be "
                                                   f"{self.audience}") from None
            except jwt.MissingRequiredClaimError as error:
                raise OAuthError("invalid_client", f"client_assertion lacks the "
                                                   f"{error.claim!r} claim") from None
            except jwt.PyJWTError as error:
                raise OAuthError("invalid_client", f"client_assertion: {error}") from None
        if claims is None:
            raise OAuthError("invalid_client", "client_assertion signature does not match "
                                               "any of the client's registered keys")
        _check_claim_types(claims)
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        if expires - self.now() > MAX_ASSERTION_LIFETIME:
            raise OAuthError("invalid_client", "client_assertion exp is more than five "
                                               "minutes ahead")
        return partner, claims

    def _remember_assertion(self, partner: Partner, claims: dict[str, Any]) -> None:
        """Record the jti; a second use of it is refused (whichever worker sees it)."""
        now = self.now()
        self.session.execute(delete(ClientAssertionRow).where(
            ClientAssertionRow.expires_at < now - MAX_ASSERTION_LIFETIME))
        savepoint = self.session.begin_nested()
        try:
            self.session.add(ClientAssertionRow(
                client_id=partner.client_id, jti=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC)))
            self.session.flush()
        except IntegrityError:
            savepoint.rollback()
            raise OAuthError("invalid_client", "client_assertion jti was already used") from None
        savepoint.commit()

    # -- resolving -----------------------------------------------------------------------------

    def principal_for(self, token: str) -> Principal | None:
        """The partner behind an unexpired access token, while the partner is enabled."""
        return principal_for_token(self.session.connection(), token, self.now())


def principal_for_token(connection: Connection, token: str, now: datetime
                        ) -> Principal | None:
    """The partner behind an unexpired access token, while the partner is enabled: one query
    for the token, its partner, and the Consent change counter (see GrantsCache)."""
    row = connection.execute(_TOKEN_PRINCIPAL, {"token_hash": _digest(token),
                                                "now": now}).one_or_none()
    if row is None:
        return None
    details = json.loads(row.details)
    return Principal(kind="partner", name=row.partner_id,
                     scopes=frozenset(row.scopes.split()), organization=row.organization,
                     partner_kind=row.kind, purpose=row.purpose,
                     resource_types=frozenset(details.get("resource_types", [])),
                     identifier_systems=frozenset(details.get("patient_identifier_systems", [])),
                     consent_changes=row.consent_changes)


_tokens, _partners = AccessTokenRow.__table__, PartnerRow.__table__
_TOKEN_PRINCIPAL = (
    select(_tokens.c.partner_id, _tokens.c.scopes, _tokens.c.purpose, _partners.c.kind,
           _partners.c.organization, _partners.c.details,
           CONSENT_CHANGES.label("consent_changes"))
    .join(_partners, _partners.c.id == _tokens.c.partner_id)
    .where(_tokens.c.token_hash == bindparam("token_hash"),
           _tokens.c.expires_at > bindparam("now"), _partners.c.enabled.is_(True)))


def granted_scope(requested: str, partner: Partner) -> str:
    """The read scopes of ``requested`` that the partner may hold (narrowed to the resource
    types it may ever receive), space-separated; invalid_scope when none remain."""
    granted: list[str] = []
    for scope in requested.split():
        match = _SCOPE.match(scope)
        if match is None:
            continue
        access = match["access"]
        permission = ("read" if access in ("read", "*")
                      else "".join(p for p in "rs" if p in access) if access != "write" else "")
        types = partner.resource_types if match["type"] == "*" else (match["type"],)
        query = match["query"] or ""
        if permission:
            for resource_type in types:
                if resource_type in partner.resource_types:
                    granted.append(f"system/{resource_type}.{permission}{query}")
        # Creating is granted only for what the partner submits (a court's orders), and only
        # creating: never updating or deleting the agency's records.
        if access in ("write", "*") or "c" in access:
            submits = partner.submits if match["type"] == "*" else (match["type"],)
            for resource_type in submits:
                if resource_type in partner.submits:
                    granted.append(f"system/{resource_type}.c")
    if not granted:
        raise OAuthError("invalid_scope", f"none of the requested scopes ({requested}) is "
                                          f"allowed to this client; it may read "
                                          f"{', '.join(partner.resource_types) or 'nothing'}")
    return " ".join(dict.fromkeys(granted))


def purpose_of_use(claims: dict[str, Any], partner: Partner) -> str:
    """The purpose of use a token is issued for: the one the assertion names (the HL7 B2B
    extension of UDAP, ``extensions.hl7-b2b.purpose_of_use``, a v3 ActReason code, bare or as
    ``system#code``), else the partner's first registered purpose. It must be one the partner
    is registered for."""
    b2b = (claims.get("extensions") or {}).get("hl7-b2b") if isinstance(
        claims.get("extensions"), dict) else None
    named = (b2b or {}).get("purpose_of_use") if isinstance(b2b, dict) else None
    if isinstance(named, list):
        named = named[0] if named else None
    if isinstance(named, str) and named:
        code = named.rsplit("#", 1)[-1]
        if code not in partner.purposes:
            raise OAuthError("invalid_grant", f"purpose of use {code!r} is not one this client "
                                              f"is registered for "
                                              f"({', '.join(partner.purposes) or 'none'})")
        return code
    if not partner.purposes:
        raise OAuthError("invalid_grant", "this client is registered for no purpose of use")
    return partner.purposes[0]


def _candidate_keys(partner: Partner, header: dict[str, Any], algorithm: str) -> list[Any]:
    """The partner's registered public keys that could have signed this assertion."""
    key_set: Any = partner.jwks
    if key_set is None and partner.jwks_url is not None:
        try:
            key_set = jwt.PyJWKClient(partner.jwks_url, timeout=5).fetch_data()
        except jwt.PyJWTError as error:
            raise OAuthError("invalid_client", f"the client's jwks_url cannot be read: "
                                               f"{error}") from None
    wanted_type = "RSA" if algorithm.startswith("RS") else "EC"
    kid = header.get("kid")
    keys = []
    for data in (key_set or {}).get("keys", []):
        if not isinstance(data, dict) or data.get("kty") != wanted_type:
            continue
        if (kid is not None and data.get("kid") != kid) or data.get("alg") not in (None,
                                                                                   algorithm):
            continue
        try:
            keys.append(jwt.PyJWK(data, algorithm=algorithm).key)
        except jwt.PyJWTError:
            continue  # a malformed or unsupported key cannot have signed it
    return keys


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

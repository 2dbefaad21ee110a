"""The partner registry: who a partner is, how to reach it, what it may ever receive.

A partner file (``fixtures/partners/<id>.json``, ``gateway partners add FILE``) is JSON:

    {"id": "pcp-cedar", "type": "physical-health", "name": "Cedar Family Medicine",
     "organization": "ORG-PCP-CEDAR", "client_id": "pcp-cedar",
     "patient_identifier_systems": ["urn:oid:..."],
     "endpoints": {"fhir_base": "...", "token_url": "...", "webhook": "...", "drop_folder": "..."},
     "outbound_auth": {"method": "none" | "bearer" | "smart", ...},
     "jwks": {"keys": [...public keys...]} or "jwks_url": "https://...",
     "purposes": ["TREAT", "COC"], "resource_types": ["CareTeam", "CarePlan", ...],
     "enabled": true}

``type`` is the partner kind. Public keys only: a private key in a partner file is refused.
"""
from __future__ import annotations

import codecs
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.auth import Principal
from gateway.db.models import AccessTokenRow, PartnerRow, over_long
from gateway.fhir.resource_types import SUPPORTED_TYPES
from gateway.privacy.minimum_necessary import types_for

# ``local`` is the agency's own case-management system, registered by the gateway itself for
# referral intake (gateway/adapters/intake.py); it never holds a token.
KINDS = ("physical-health", "hospital", "school", "court", "other", "local")
# What a partner of each kind may create here unless its registration says otherwise: a court
# or probation office sends its orders (a Task with the ServiceRequest it orders).
# A hospital sends referrals the same way (Gravity / BSeR style), besides its notifications.
# What a partner may receive (the stored types) and submit (those, and a message's header).
_RECEIVABLE = frozenset(SUPPORTED_TYPES)
_SUBMITTABLE = _RECEIVABLE | {"MessageHeader"}
DEFAULT_SUBMITS = {"court": ("Task", "ServiceRequest"), "hospital": ("Task", "ServiceRequest")}
OUTBOUND_METHODS = ("none", "bearer", "smart")
# Private parts of a JWK (RFC 7517/7518): never stored in the registry.
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class PartnerError(ValueError):
    """A partner description that cannot be accepted, with the field at fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Partner:
    id: str
    kind: str
    name: str
    organization: str
    client_id: str
    enabled: bool = True
    patient_identifier_systems: tuple[str, ...] = ()
    endpoints: dict[str, str] = field(default_factory=dict)
    outbound_auth: dict[str, Any] = field(default_factory=lambda: {"method": "none"})
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    purposes: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    submits: tuple[str, ...] = ()  # resource types it may create here (court orders: Task...)

    @classmethod
    def from_json(cls, data: Any) -> Partner:
        """A partner from its JSON description; PartnerError names the first bad field."""
        if not isinstance(data, dict):
            raise PartnerError("", "a partner must be a JSON object")
        for name in ("id", "type", "name", "organization"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise PartnerError(name, "is required (a non-empty string)")
        if data["type"] not in KINDS:
            raise PartnerError("type", f"must be one of {', '.join(KINDS)}")
        too_long = over_long(PartnerRow, {name: data.get(name) for name in (
            "id", "name", "organization", "client_id")})
        if too_long is not None:
            raise PartnerError(too_long[0], f"is longer than {too_long[1]} characters")
        endpoints = _string_map(data.get("endpoints", {}), "endpoints")
        outbound = data.get("outbound_auth", {"method": "none"})
        if not isinstance(outbound, dict) or outbound.get("method") not in OUTBOUND_METHODS:
            raise PartnerError("outbound_auth.method", f"must be one of "
                                                       f"{', '.join(OUTBOUND_METHODS)}")
        jwks = data.get("jwks")
        if jwks is not None:
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise PartnerError("jwks", "must be a JWK Set: {\"keys\": [...]}")
            for index, key in enumerate(jwks["keys"]):
                if not isinstance(key, dict) or "kty" not in key:
                    raise PartnerError(f"jwks.keys[{index}]", "is not a JWK")
                if _PRIVATE_MEMBERS & set(key):
                    raise PartnerError(f"jwks.keys[{index}]",
                                       "holds private key material; register the public key")
        for field_name, allowed in (("resource_types", _RECEIVABLE), ("submits", _SUBMITTABLE)):
            unknown = sorted(set(_strings(data.get(field_name, []), field_name)) - allowed)
            if unknown:
                raise PartnerError(field_name, f"{', '.join(unknown)}: not a resource type "
                                               f"this server exchanges")
        jwks_url = data.get("jwks_url")
        if jwks_url is not None and not _trusted_url(jwks_url):
            raise PartnerError("jwks_url", "must be an https:// URL (http:// only on loopback, "
                                           "for development)")
        return cls(
            id=data["id"], kind=data["type"], name=data["name"],
            organization=data["organization"], client_id=data.get("client_id") or data["id"],
            enabled=bool(data.get("enabled", True)),
            patient_identifier_systems=_strings(data.get("patient_identifier_systems", []),
                                                "patient_identifier_systems"),
            endpoints=endpoints, outbound_auth=outbound, jwks=jwks, jwks_url=jwks_url,
            purposes=_purposes(data.get("purposes", [])),
            resource_types=_strings(data.get("resource_types", []), "resource_types"),
            submits=_strings(data.get("submits", list(DEFAULT_SUBMITS.get(data["type"], ()))),
                             "submits"))

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "type": self.kind, "name": self.name,
            "organization": self.organization, "client_id": self.client_id,
            "enabled": self.enabled,
            "patient_identifier_systems": list(self.patient_identifier_systems),
            "endpoints": self.endpoints, "outbound_auth": self.outbound_auth,
            "purposes": list(self.purposes), "resource_types": list(self.resource_types),
            "submits": list(self.submits)}
        if self.jwks is not None:
            body["jwks"] = self.jwks
        if self.jwks_url is not None:
            body["jwks_url"] = self.jwks_url
        return body


class PartnerRegistry:
    """Partners in the gateway's database; the caller owns the transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # Reads select the table's columns, not ORM objects: a partner is read for every message
    # and token, and loading an object into the session costs more than the query.
    def all(self) -> list[Partner]:
        return [_partner(row) for row in
                self.session.execute(select(_PARTNERS).order_by(_PARTNERS.c.id))]

    def get(self, partner_id: str) -> Partner | None:
        row = self.session.execute(select(_PARTNERS).where(_PARTNERS.c.id == partner_id)
                                   ).one_or_none()
        return _partner(row) if row is not None else None

    def by_client_id(self, client_id: str) -> Partner | None:
        row = self.session.scalars(
            select(PartnerRow).where(PartnerRow.client_id == client_id)).one_or_none()
        return _partner(row) if row is not None else None

    def put(self, partner: Partner) -> bool:
        """Add or replace a partner; True when it was new. A client id already used by
        another partner is refused."""
        other = self.by_client_id(partner.client_id)
        if other is not None and other.id != partner.id:
            raise PartnerError("client_id", f"{partner.client_id!r} is already partner "
                                            f"{other.id!r}'s")
        body = partner.to_json()
        details = json.dumps({k: v for k, v in body.items()
                              if k not in ("id", "type", "name", "organization", "client_id",
                                           "enabled")}, sort_keys=True)
        row = self.session.get(PartnerRow, partner.id)
        values = {"kind": partner.kind, "name": partner.name,
                  "organization": partner.organization, "client_id": partner.client_id,
                  "enabled": partner.enabled, "details": details,
                  "updated_at": datetime.now(UTC)}
        if row is None:
            self.session.add(PartnerRow(id=partner.id, **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
        self.session.flush()
        return row is None

    def set_enabled(self, partner_id: str, enabled: bool) -> Partner | None:
        row = self.session.get(PartnerRow, partner_id)
        if row is None:
            return None
        row.enabled, row.updated_at = enabled, datetime.now(UTC)
        self.session.flush()
        return _partner(row)


_PARTNERS = PartnerRow.__table__


def _partner(row: Any) -> Partner:
    details = json.loads(row.details)
    return Partner.from_json({"id": row.id, "type": row.kind, "name": row.name,
                              "organization": row.organization, "client_id": row.client_id,
                              "enabled": row.enabled, **details})


def _trusted_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname) or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"))


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PartnerError(path, "must be a list of non-empty strings")
    return tuple(value)


def _string_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PartnerError(path, "must be an object of strings")
    return dict(value)


def principal_for(partner: Partner, purpose: str | None = None) -> Principal:
    """The partner as a requester of the decision point, for what the gateway sends it on its
    own initiative (deliveries): its first registered purpose unless told otherwise."""
    return Principal(kind="partner", name=partner.id, organization=partner.organization,
                     partner_kind=partner.kind,
                     purpose=purpose or (partner.purposes[0] if partner.purposes else None),
                     resource_types=frozenset(partner.resource_types),
                     identifier_systems=frozenset(partner.patient_identifier_systems),
                     scopes=frozenset(f"system/{t}.read" for t in partner.resource_types))


# What a partner added from options may receive unless told otherwise, by kind.
DEFAULT_PURPOSES = {"physical-health": ("TREAT", "COC"), "hospital": ("TREAT", "COC"),
                    "school": ("COC",), "court": ("HLEGAL",), "other": ("COC",)}


def from_options(*, partner_id: str, kind: str, name: str, organization: str | None = None,
                 fhir_base: str | None = None, drop_folder: str | None = None,
                 auth_method: str = "none", token: str | None = None,
                 token_url: str | None = None, client_id: str | None = None,
                 purposes: tuple[str, ...] = (), resource_types: tuple[str, ...] = (),
                 hl7_facility: str | None = None, mllp_sources: tuple[str, ...] = (),
                 hl7_timezone: str | None = None, hl7_charset: str | None = None,
                 identifier_systems: tuple[str, ...] = (),
                 jwks_url: str | None = None, jwks: dict[str, Any] | None = None,
                 submits: tuple[str, ...] = ()) -> Partner:
    """A partner from command-line options (``gateway partners add --id ...``). Without an
    ``organization`` it stands for a new Organization whose id follows from its own."""
    endpoints = {k: v for k, v in (("fhir_base", fhir_base), ("drop_folder", drop_folder))
                 if v}
    endpoints.update(hl7_endpoints(hl7_facility, mllp_sources, hl7_timezone, hl7_charset))
    if fhir_base:
        check_fhir_base(fhir_base)
    outbound: dict[str, Any] = {"method": auth_method}
    if auth_method == "bearer":
        if not token:
            raise PartnerError("outbound_auth.token", "--auth bearer needs --token")
        outbound["token"] = token
    if auth_method == "smart":
        if not token_url or not client_id:
            raise PartnerError("outbound_auth", "--auth smart needs --token-url and --client-id")
        outbound.update(token_url=token_url, client_id=client_id)
    body: dict[str, Any] = {
        "id": partner_id, "type": kind, "name": name,
        "organization": organization or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                       f"partner:{partner_id}")),
        "endpoints": endpoints, "outbound_auth": outbound,
        "purposes": list(purposes or DEFAULT_PURPOSES.get(kind, ())),
        "resource_types": list(resource_types or sorted(types_for(kind))),
        "patient_identifier_systems": list(identifier_systems)}
    if submits:
        body["submits"] = list(submits)
    if jwks_url:
        body["jwks_url"] = jwks_url
    if jwks is not None:
        body["jwks"] = jwks
    return Partner.from_json(body)


def check_fhir_base(url: str) -> None:
    if not _trusted_url(url):
        raise PartnerError("fhir_base", "must be an https:// URL (http:// only on loopback, "
                                        "for development)")


def hl7_endpoints(facility: str | None, sources: tuple[str, ...], timezone: str | None,
                  charset: str | None = None) -> dict[str, str]:
    """The HL7 v2 sender settings as ``endpoints`` entries, each checked: the MLLP source
    addresses are CIDRs, the time zone an IANA name, the character set (the one the sender
    really uses, read in preference to its MSH-18) a Python codec that keeps ASCII as is."""
    endpoints: dict[str, str] = {}
    if facility:
        endpoints["hl7_facility"] = facility
    for source in sources:
        try:
            ipaddress.ip_network(source, strict=False)
        except ValueError:
            raise PartnerError("endpoints.mllp_sources",
                               f"{source!r} is not an address or CIDR (e.g. 10.2.0.0/16)") from None
    if sources:
        endpoints["mllp_sources"] = ",".join(sources)
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PartnerError("endpoints.hl7_timezone",
                               f"{timezone!r} is not an IANA time zone (e.g. America/Detroit)"
                               ) from None
        endpoints["hl7_timezone"] = timezone
    if charset:
        try:
            name = codecs.lookup(charset).name
            readable = "MSH|^~\\&".encode(name) == b"MSH|^~\\&"  # ASCII kept as it is
        except (LookupError, UnicodeError):
            readable = False
        if not readable:
            raise PartnerError("endpoints.hl7_charset",
                               f"{charset!r} is not a character set HL7 v2 can be read in "
                               f"(e.g. latin-1, windows-1252, utf-8)")
        endpoints["hl7_charset"] = name
    return endpoints


def _purposes(value: Any) -> tuple[str, ...]:
    purposes = _strings(value, "purposes")
    for index, purpose in enumerate(purposes):
        too_long = over_long(AccessTokenRow, {"purpose": purpose})
        if too_long is not None:
            raise PartnerError(f"purposes[{index}]", f"is longer than {too_long[1]} characters")
    return purposes

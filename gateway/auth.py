"""The authentication gate: who is calling, from the bearer token.

This module knows operator keys; partner access tokens (SMART Backend Services) plug into
``authenticate`` through the same gate, so every route sees one ``Principal``.
"""
from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from gateway.config import Config
from gateway.fhir.errors import FhirError


class _Decided(Protocol):
    permitted: bool
    patient_id: str | None
    reason: str
    consents: tuple[str, ...]


@dataclass
class Disclosures:
    """What the consent decision point decided for one requester during one request, kept with
    the requester (``Principal.disclosures``) for the request's AuditEvent: the accounting of
    disclosures."""

    disclosed: list[str] = field(default_factory=list)  # "Type/id"
    denied: list[str] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)  # Consent ids disclosures relied on

    def add(self, reference: str, decision: _Decided) -> None:
        (self.disclosed if decision.permitted else self.denied).append(reference)
        if decision.patient_id:
            self.patients.add(decision.patient_id)
        if decision.permitted:
            self.consents.extend(c for c in decision.consents if c not in self.consents)
        if not decision.permitted and len(self.reasons) < 20:
            self.reasons.append(f"{reference}: {decision.reason}")


@dataclass(frozen=True)
class Principal:
    kind: str  # "operator" or "partner"
    name: str  # the operator key's name, or the partner's id
    scopes: frozenset[str] = field(default_factory=frozenset)
    organization: str | None = None  # a partner's FHIR Organization id
    partner_kind: str | None = None  # physical-health, hospital, school, court, other
    purpose: str | None = None  # the purpose of use the partner's token was issued for
    resource_types: frozenset[str] = field(default_factory=frozenset)  # it may ever receive
    # The partner's own identifier systems for consumers (its MRNs), which it may see.
    identifier_systems: frozenset[str] = field(default_factory=frozenset)
    # The Consent change counter when the partner's token was checked (read in the same query;
    # see GrantsCache), or None: read it when grants are needed.
    consent_changes: int | None = field(default=None, compare=False)
    # What the decision point disclosed to (or withheld from) this requester in this request,
    # for its AuditEvent; None for the gateway's own long-lived principals.
    disclosures: Disclosures | None = field(default=None, compare=False, repr=False)

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def authorize(self, resource_type: str, permission: str) -> None:
        """A 403 FhirError unless the scopes allow ``permission`` on ``resource_type``."""
        authorize(self, resource_type, permission)


# The gateway itself (imports, workflows, deliveries): full access, like an operator.
SYSTEM = Principal(kind="operator", name="gateway", scopes=frozenset({"system/*.*"}))

# SMART v1 (read/write/*) and v2 (c r u d s) permissions (what each HTTP method needs:
# gateway/fhir/interactions.py).
V1_PERMISSIONS = {"read": set("rs"), "write": set("cud"), "*": set("cruds")}


def scope_permits(scopes: frozenset[str], resource_type: str, permission: str) -> bool:
    """Whether SMART ``system/`` scopes allow ``permission`` (one of c r u d s) on a type."""
    for scope in scopes:
        context, _, rest = scope.partition("/")
        scoped_type, _, access = rest.partition(".")
        if context != "system" or scoped_type not in ("*", resource_type):
            continue
        access = access.split("?")[0]  # v2 scopes may carry a query; the privacy layer reads it
        granted = V1_PERMISSIONS.get(access, set(access))
        if permission in granted:
            return True
    return False


def authorize(principal: Principal, resource_type: str, permission: str) -> None:
    """A 403 FhirError unless the principal's scopes allow this interaction."""
    if not scope_permits(principal.scopes, resource_type, permission):
        raise FhirError(403, "forbidden",
                        f"the token's scopes do not allow '{permission}' on {resource_type}")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(authorization: str | None, config: Config,
                 partner_token: Callable[[str], Principal | None] = lambda _token: None
                 ) -> Principal:
    """The caller behind an ``Authorization`` header, or a 401 FhirError: an operator key, or
    a partner's access token as ``partner_token`` resolves it (None: unknown, expired, or its
    partner disabled)."""
    token = bearer_token(authorization)
    if token is None:
        raise unauthorized("a bearer token is required")
    for index, key in enumerate(config.operator_keys):
        # Constant-time comparison: a token check must not leak how much of a key matched.
        if hmac.compare_digest(token.encode(), key.encode()):
            return Principal(kind="operator", name=f"operator-key-{index + 1}",
                             scopes=frozenset({"system/*.*"}), disclosures=Disclosures())
    partner = partner_token(token)
    if partner is not None:
        return replace(partner, disclosures=Disclosures())
    raise unauthorized("the bearer token is not valid")


class FailureThrottle:
    """Wrong bearer tokens counted per source address, so operator keys (and access tokens)
    cannot be guessed at the speed of the server: after ``limit`` failures within ``window``
    seconds, a source's requests are answered 429 (with ``Retry-After``) *without looking at
    the token* until its oldest failure leaves the window. A token that is checked and valid
    counts nothing; other sources are not affected.

    Per process and in memory (the app factory's GatewayState owns one): each gunicorn worker
    counts on its own, so a source may try ``limit`` times per worker per window. At most
    ``max_sources`` addresses are remembered (the least recently failing forgotten first)."""

    def __init__(self, limit: int, window: float, *, max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.max_sources, self.clock = limit, window, max_sources, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, source: str | None) -> None:
        """A 429 FhirError while ``source`` has ``limit`` failures within the window."""
        if source is None:
            return
        with self._lock:
            failures = self._recent(source)
            if failures is None or len(failures) < self.limit:
                return
            wait = max(1, math.ceil(failures[0] + self.window - self.clock()))
        raise FhirError(429, "throttled",
                        f"too many requests with a wrong bearer token from this address; try "
                        f"again in {wait} s", headers={"Retry-After": str(wait)})

    def failed(self, source: str | None) -> None:
        if source is None:
            return
        with self._lock:
            failures = self._recent(source)
            if failures is None:
                failures = self._failures[source] = deque(maxlen=self.limit)
                while len(self._failures) > self.max_sources:
                    self._failures.popitem(last=False)
            failures.append(self.clock())
            self._failures.move_to_end(source)

    def _recent(self, source: str) -> deque[float] | None:
        failures = self._failures.get(source)
        if failures is None:
            return None
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[source]
            return None
        return failures


def unauthorized(diagnostics: str) -> FhirError:
    return FhirError(401, "login", diagnostics,
                     headers={"WWW-Authenticate": 'Bearer realm="fhir"'})

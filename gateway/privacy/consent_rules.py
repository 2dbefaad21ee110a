"""A FHIR R4 Consent read as a privacy directive, and the rule it gives for one disclosure.

FHIR R4 (consent.html, "Consent Rules", and the elements ``Consent.policyRule`` and
``Consent.provision``) describes a privacy consent as:

- a **base decision** from the policy the consent is given under (``policyRule``): an opt-in
  (v3 ActCode ``OPTIN``/``OPTINR``), a HIPAA authorization (``consentpolicycodes#hipaa-auth``) or
  a 42 CFR Part 2 consent (v3 ActCode ``42CFRPart2``) permits what its provisions describe; an
  opt-out (``OPTOUT``, ``OPTOUTE``, ``NOCONSENT``, ``EMRGONLY``) or a HIPAA restriction denies it.
  The root provision has no ``type`` ("Not permitted in root rule", Consent.provision.type);
- the **root provision's attributes** (``period``, ``actor``, ``action``, ``securityLabel``,
  ``purpose``, ``class``, ``code``, ``dataPeriod``, ``data``) say where the base decision
  applies; an attribute that is absent does not restrict it;
- **nested provisions** are exceptions (``type`` deny or permit) with the same attributes, each
  within its parent's scope; the most deeply nested rule that applies decides (between
  siblings that both apply, deny wins).

Where the gateway is stricter, on purpose (the agency's rule is deny by default):

- a policy the gateway does not know grants nothing (and is reported: ``problems``);
- an attribute value the gateway cannot evaluate (an unknown actor role, a purpose, class or
  action from another code system, ``provision.code``, ``data`` meanings other than
  ``instance``/``related``) is read **cautiously**: a deny exception applies as if it matched,
  a permit does not; each such value is reported;
- a root ``type`` that contradicts the policy (``OPTIN`` with a root ``deny``) is read as deny.

This module is pure: no database, no partner registry. ``consents.py`` folds the directives of
one recipient into grants; ``decision.py`` decides with them.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
CONSENT_POLICY_CODES = "http://terminology.hl7.org/CodeSystem/consentpolicycodes"

# Security labels that mark substance-use-disorder records (42 CFR Part 2). They are one class
# here: a rule naming either covers content labelled with either.
SUD_LABELS = frozenset({(ACT_CODE, "SUD"), (ACT_CODE, "ETH")})
RECIPIENT_ROLES = frozenset({"IRCP", "PRCP"})  # information recipient, primary recipient
CUSTODIAN_ROLE = "CST"
# What a disclosure to a partner is, in consentaction terms: the partner's access, our
# disclosure. A rule limited to other actions (collect, use, correct) does not govern it.
DISCLOSURE_ACTIONS = frozenset({"access", "disclose"})

PERMITTING_POLICIES = frozenset({(ACT_CODE, "OPTIN"), (ACT_CODE, "OPTINR"),
                                 (ACT_CODE, "42CFRPart2"), (CONSENT_POLICY_CODES, "hipaa-auth")})
DENYING_POLICIES = frozenset({(ACT_CODE, "OPTOUT"), (ACT_CODE, "OPTOUTE"),
                              (ACT_CODE, "NOCONSENT"), (ACT_CODE, "EMRGONLY"),
                              (CONSENT_POLICY_CODES, "hipaa-restrictions"),
                              (CONSENT_POLICY_CODES, "hipaa-self-pay")})

# The date that places a resource in a provision's ``dataPeriod`` (the clinically relevant
# one); other types are placed by when they were last changed.
RELEVANT_DATE = {"CarePlan": ("period", "start"), "CareTeam": ("period", "start"),
                 "Encounter": ("period", "start"), "Task": ("authoredOn",),
                 "ServiceRequest": ("authoredOn",), "Goal": ("startDate",),
                 "Condition": ("recordedDate",), "DocumentReference": ("date",),
                 "Communication": ("sent",), "Consent": ("dateTime",)}

Code = tuple[str, str]  # (system, code)


@dataclass(frozen=True)
class Window:
    start: date | None = None
    end: date | None = None

    def contains(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Rule:
    """One provision. ``effect`` is None at the root (the policy gives the base decision)."""

    effect: str | None = None
    period: Window | None = None
    actors: tuple[tuple[str, str], ...] = ()  # (role code, "?" if not understood; reference)
    actions: frozenset[Code] = frozenset()
    purposes: frozenset[Code] = frozenset()
    classes: frozenset[Code] = frozenset()
    has_code: bool = False  # provision.code: not evaluated (cautious)
    labels: frozenset[Code] = frozenset()
    data: tuple[tuple[str, str], ...] = ()  # (meaning, "Type/id")
    data_period: Window | None = None
    children: tuple[Rule, ...] = ()

    def walk(self) -> Iterator[Rule]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def reads_content(self) -> bool:
        """Whether whether it applies depends on a resource's content beyond its type and
        whether it is SUD content (then searches decide it resource by resource)."""
        return bool(self.data or self.data_period or (self.labels - SUD_LABELS))


@dataclass(frozen=True)
class Ask:
    """One disclosure being decided: to whom, of what kind, for what purpose, on which day."""

    recipient: str  # "Organization/<id>"
    purpose: str | None
    today: date


@dataclass(frozen=True)
class Outcome:
    effect: str  # permit | deny
    names_sud: bool = False  # a permit on its path names SUD content (42 CFR Part 2)


@dataclass(frozen=True)
class Directive:
    """One Consent, as the decision point needs it."""

    consent_id: str
    patient_id: str | None
    status: str
    signed: str  # Consent.dateTime (orders consents for the same recipient)
    base: str  # permit | deny
    root: Rule
    custodians: frozenset[str] = frozenset()  # Consent.organization references
    readable: bool = True  # False: grants nothing at all (see problems)
    problems: tuple[str, ...] = field(default=())

    @property
    def recipients(self) -> frozenset[str]:
        """The recipients its root names (empty: it names none, so it reaches any)."""
        return frozenset(reference for role, reference in self.root.actors
                         if role in RECIPIENT_ROLES)

    @property
    def broad(self) -> bool:
        return not self.recipients

    def why_not(self, ask: Ask) -> str | None:
        """None when it may apply to ``ask`` at all; else why it does not (for the audit)."""
        if not self.readable:
            return "cannot be read: " + "; ".join(self.problems)
        if self.status != "active":
            return f"is {self.status} (revoked or withdrawn)"
        period = self.root.period
        if period is not None and period.start is not None and ask.today < period.start:
            return f"is not in force until {period.start.isoformat()}"
        if period is not None and period.end is not None and ask.today > period.end:
            return f"expired on {period.end.isoformat()}"
        if self.root.purposes and not _purpose_matches(self.root, ask, cautious=False):
            return f"does not cover the purpose {ask.purpose}"
        return None

    def evaluate(self, ask: Ask, resource: Mapping[str, Any]) -> Outcome | None:
        """What this consent says about disclosing ``resource`` for ``ask``; None when none
        of its rules applies (it is silent, and something else decides)."""
        if not self.readable or self.status != "active":
            return None
        return _decide(self.root, self.base, ask, resource, self)


def directive_from(consent: Mapping[str, Any]) -> Directive:
    """Read a Consent. Never raises: what cannot be read is named in ``problems``, and a
    consent whose policy or structure cannot be read is not ``readable`` (it grants nothing)."""
    problems: list[str] = []
    fatal: list[str] = []
    patient = _local_reference(consent.get("patient"), "Patient")
    if patient is None:
        fatal.append("patient is not a local Patient reference")
    base = _base_decision(consent, problems, fatal)
    provision = consent.get("provision")
    if provision is None:
        provision = {}
    if not isinstance(provision, dict):
        fatal.append("provision is not an object")
        provision = {}
    root_type = provision.get("type")
    if root_type is not None:
        if root_type not in ("permit", "deny"):
            fatal.append(f"provision.type {root_type!r} is neither permit nor deny")
        elif root_type != base:
            problems.append(f"provision.type {root_type!r} at the root is not allowed in R4 "
                            f"and contradicts the policy ({base}); read as deny")
            base = "deny"
    custodians = frozenset(
        text for organization in _list(consent.get("organization"))
        if (text := _reference_text(organization)))
    root = _rule(provision, "provision", None, problems, fatal)
    return Directive(
        consent_id=str(consent.get("id")), patient_id=patient,
        status=str(consent.get("status")), signed=str(consent.get("dateTime") or ""),
        base=base, root=root, custodians=custodians, readable=not fatal,
        problems=tuple(fatal + problems))


def _base_decision(consent: Mapping[str, Any], problems: list[str], fatal: list[str]) -> str:
    rule = consent.get("policyRule")
    codings = [(c.get("system"), c.get("code")) for c in _list((rule or {}).get("coding"))
               if isinstance(c, dict)] if isinstance(rule, dict) else []
    if any(code in PERMITTING_POLICIES for code in codings):
        return "permit"
    if any(code in DENYING_POLICIES for code in codings):
        return "deny"
    if codings:
        named = ", ".join(f"{system}|{code}" for system, code in codings)
        fatal.append(f"policyRule {named} is not a policy the gateway knows")
    elif consent.get("policy"):
        fatal.append("the policy is given only as Consent.policy (a URI the gateway cannot "
                     "evaluate); policyRule is required")
    else:
        fatal.append("no policyRule (R4 ppc-1)")
    return "deny"


def _rule(provision: Mapping[str, Any], path: str, effect: str | None, problems: list[str],
          fatal: list[str]) -> Rule:
    actors = []
    for index, actor in enumerate(_list(provision.get("actor"))):
        if not isinstance(actor, dict):
            fatal.append(f"{path}.actor[{index}] is not an object")
            continue
        role = _known_role(actor.get("role"))
        reference = _reference_text(actor.get("reference")) or ""
        if role is None:
            problems.append(f"{path}.actor[{index}].role is not a role the gateway knows "
                            f"(IRCP, PRCP or CST of v3 ParticipationType); read cautiously")
            role = "?"
        elif role in RECIPIENT_ROLES and not reference.startswith("Organization/"):
            problems.append(f"{path}.actor[{index}] names {reference or 'no one'}: partners "
                            f"are Organizations; read cautiously")
        actors.append((role, reference))
    children = []
    for index, nested in enumerate(_list(provision.get("provision"))):
        nested_path = f"{path}.provision[{index}]"
        if not isinstance(nested, dict):
            fatal.append(f"{nested_path} is not an object")
            continue
        nested_effect = nested.get("type")
        if nested_effect not in ("permit", "deny"):
            fatal.append(f"{nested_path}.type must be permit or deny (an exception needs one)")
            continue
        children.append(_rule(nested, nested_path, nested_effect, problems, fatal))
    purposes = _codings(provision.get("purpose"))
    classes = _codings(provision.get("class"))
    actions = frozenset(code for concept in _list(provision.get("action"))
                        for code in _concept_codes(concept))
    data = tuple((str(item.get("meaning")), _reference_text(item.get("reference")) or "")
                 for item in _list(provision.get("data")) if isinstance(item, dict))
    for label, codes, known in (("purpose", purposes, ACT_REASON),
                                ("class", classes, RESOURCE_TYPES),
                                ("action", actions, CONSENT_ACTION)):
        strange = sorted(f"{s}|{c}" for s, c in codes if s != known)
        if strange:
            problems.append(f"{path}.{label} {', '.join(strange)} is not understood; read "
                            f"cautiously")
    if provision.get("code"):
        problems.append(f"{path}.code is not evaluated by the gateway; read cautiously")
    for meaning, reference in data:
        if meaning not in ("instance", "related"):
            problems.append(f"{path}.data meaning {meaning!r} ({reference}) is not evaluated; "
                            f"read cautiously")
    return Rule(
        effect=effect, period=_window(provision.get("period")), actors=tuple(actors),
        actions=actions, purposes=purposes, classes=classes,
        has_code=bool(provision.get("code")), labels=_codings(provision.get("securityLabel")),
        data=data, data_period=_window(provision.get("dataPeriod")), children=tuple(children))


def _decide(rule: Rule, effect: str, ask: Ask, resource: Mapping[str, Any],
            directive: Directive) -> Outcome | None:
    if not applies(rule, effect, ask, resource, directive):
        return None
    names_sud = effect == "permit" and bool(rule.labels & SUD_LABELS)
    outcomes = [outcome for child in rule.children
                if (outcome := _decide(child, str(child.effect), ask, resource, directive))]
    if not outcomes:
        return Outcome(effect, names_sud)
    denied = [outcome for outcome in outcomes if outcome.effect == "deny"]
    if denied:
        return denied[0]
    return Outcome("permit", names_sud or any(outcome.names_sud for outcome in outcomes))


def applies(rule: Rule, effect: str, ask: Ask, resource: Mapping[str, Any],
            directive: Directive) -> bool:
    """Whether every attribute of ``rule`` matches; what cannot be evaluated matches a deny
    and not a permit (cautious)."""
    cautious = effect == "deny"
    if rule.period is not None and not rule.period.contains(ask.today):
        return False
    if rule.actors and not _actor_matches(rule, ask, directive, cautious):
        return False
    if rule.actions and not any(
            (system == CONSENT_ACTION and code in DISCLOSURE_ACTIONS)
            or (system != CONSENT_ACTION and cautious) for system, code in rule.actions):
        return False
    if rule.purposes and not _purpose_matches(rule, ask, cautious):
        return False
    resource_type = str(resource.get("resourceType"))
    if rule.classes and not any(
            (system == RESOURCE_TYPES and code == resource_type)
            or (system != RESOURCE_TYPES and cautious) for system, code in rule.classes):
        return False
    if rule.has_code and not cautious:
        return False
    if rule.labels and not _labels_match(rule.labels, security_labels(resource)):
        return False
    if rule.data and not any(_data_matches(meaning, reference, resource, cautious)
                             for meaning, reference in rule.data):
        return False
    if rule.data_period is not None:
        relevant = relevant_date(resource)
        if relevant is None:
            return cautious
        if not rule.data_period.contains(relevant):
            return False
    return True


def _actor_matches(rule: Rule, ask: Ask, directive: Directive, cautious: bool) -> bool:
    for role, reference in rule.actors:
        if role in RECIPIENT_ROLES:
            if reference == ask.recipient:
                return True
            if not reference.startswith("Organization/") and cautious:
                return True  # a person (or something else) who may work for the recipient
        elif role == CUSTODIAN_ROLE:
            # The custodian holds the records: the agency, which manages the consent
            # (Consent.organization). The gateway discloses only what the agency holds.
            if reference in directive.custodians:
                return True
        elif cautious:
            return True
    return False


def _purpose_matches(rule: Rule, ask: Ask, cautious: bool) -> bool:
    return any((system == ACT_REASON and code == ask.purpose)
               or (system != ACT_REASON and cautious) for system, code in rule.purposes)


def _labels_match(wanted: frozenset[Code], present: frozenset[Code]) -> bool:
    return bool(wanted & present) or bool(wanted & SUD_LABELS and present & SUD_LABELS)


def _data_matches(meaning: str, reference: str, resource: Mapping[str, Any],
                  cautious: bool) -> bool:
    own = f"{resource.get('resourceType')}/{resource.get('id')}"
    if meaning == "instance":
        return reference == own
    if meaning == "related":
        return reference == own or reference in set(_references(resource))
    return cautious


def security_labels(resource: Mapping[str, Any]) -> frozenset[Code]:
    meta = resource.get("meta")
    return _codings(meta.get("security")) if isinstance(meta, dict) else frozenset()


def is_sud_content(resource: Mapping[str, Any]) -> bool:
    """Whether ``meta.security`` labels the resource as substance-use-disorder records."""
    return bool(security_labels(resource) & SUD_LABELS)


def relevant_date(resource: Mapping[str, Any]) -> date | None:
    path = RELEVANT_DATE.get(str(resource.get("resourceType")))
    value: Any = resource
    for key in path or ():
        value = value.get(key) if isinstance(value, dict) else None
    if path is None:
        meta = resource.get("meta")
        value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return _date(value)


def _references(element: Any) -> Iterator[str]:
    if isinstance(element, dict):
        for key, value in element.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(element, list):
        for item in element:
            yield from _references(item)


def _known_role(concept: Any) -> str | None:
    for system, code in _concept_codes(concept):
        if system == PARTICIPATION_TYPE and (code in RECIPIENT_ROLES or code == CUSTODIAN_ROLE):
            return code
    return None


def _concept_codes(concept: Any) -> frozenset[Code]:
    return _codings(concept.get("coding")) if isinstance(concept, dict) else frozenset()


def _codings(codings: Any) -> frozenset[Code]:
    return frozenset((str(c.get("system")), str(c.get("code"))) for c in _list(codings)
                     if isinstance(c, dict))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _reference_text(reference: Any) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    return text if isinstance(text, str) else None


def _local_reference(reference: Any, resource_type: str) -> str | None:
    text = _reference_text(reference)
    if text is not None and text.startswith(f"{resource_type}/"):
        return text.split("/", 1)[1]
    return None


def _window(period: Any) -> Window | None:
    if not isinstance(period, dict):
        return None
    return Window(_date(period.get("start")), _date(period.get("end"), end=True))


def _date(value: Any, *, end: bool = False) -> date | None:
    """A date or dateTime as a date. FHIR allows a year or a year-month: as a start it counts
    from its first day, as an end to its last."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) >= 10:
            return date.fromisoformat(value[:10])
        parts = [int(part) for part in value.split("-")]
    except ValueError:
        return None
    year, month = parts[0], parts[1] if len(parts) > 1 else (12 if end else 1)
    try:
        if not end:
            return date(year, month, 1)
        following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return date.fromordinal(following.toordinal() - 1)
    except ValueError:
        return None

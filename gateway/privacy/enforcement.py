"""The decision point at the storage boundary: what one requester's repository may return.

Every repository is built for a requester (``GatewayState.reading``/``writing`` take one), and
every resource it hands out passes ``AccessPolicy.admit``, which runs ``decide`` and returns the
disclosed form (or nothing). Searches get ``sql_filter``, the same grants expressed in SQL, so
that matches, totals, paging, chained targets and ``_include``s count only what the requester
may see; ``admit`` then decides each returned resource again.

The policy also keeps what it decided (``disclosures``), which the audit trail records.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from gateway.auth import Disclosures, Principal
from gateway.db.models import ChangeCounterRow, ReferenceIndex, ResourceRow, TokenIndex
from gateway.fhir import json_text
from gateway.privacy.consents import SUD_LABELS, Grants, grants_for
from gateway.privacy.decision import NEVER_TO_PARTNERS, Decision, decide, disclosed
from gateway.privacy.minimum_necessary import DIRECTORY_TYPES, Shape, is_relevant, shape_for

log = logging.getLogger(__name__)

# Where each type names its consumer (the same references the ``patient`` search parameter
# indexes, so that the SQL filter and ``decide`` agree).
PATIENT_ELEMENT = {"CareTeam": "subject", "CarePlan": "subject", "Goal": "subject",
                   "ServiceRequest": "subject", "Task": "for", "Consent": "patient",
                   "RelatedPerson": "patient", "Encounter": "subject", "Condition": "subject",
                   "DocumentReference": "subject", "Communication": "subject",
                   "Coverage": "beneficiary"}


def patient_of(resource: Mapping[str, Any], base_url: str) -> str | None:
    """The id of the consumer's Patient a resource belongs to (``base_url``: our FHIR base,
    whose absolute references count as local), or None."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return str(resource.get("id"))
    element = PATIENT_ELEMENT.get(str(resource_type))
    reference = resource.get(element) if element else None
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return None
    base = base_url.rstrip("/") + "/"
    if text.startswith(base):
        text = text[len(base):]
    return text.split("/", 1)[1] if text.startswith("Patient/") else None


class GrantsCache:
    """Grants per (recipient, purpose, day), kept while no Consent changes.

    Folding every Consent that names a partner is the costly part of a partner's request; the
    result only changes when a Consent does (or the day does). A database trigger moves the
    ``Consent`` change counter with every change to any Consent, made by any worker or import
    (migration 0005): comparing it with the counter the cached grants were built at tells
    whether they still hold, so a revocation is honoured by the very next request. The
    counter is read with the partner's access token (``Principal.consent_changes``, one query
    for both) or, failing that, here. Owned by the app's state.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str | None, date], tuple[int, Grants]] = {}

    def get(self, session: Session, key: tuple[str, str | None, date],
            load: Callable[[], Grants], changes: int | None = None) -> Grants:
        """The cached grants for ``key`` if no Consent changed since, else ``load()``'s.
        ``changes``: the counter as read earlier in this request (read now when None)."""
        watermark = consent_changes(session) if changes is None else changes
        if watermark is None:  # no counter row (no Consent change since it was emptied)
            return load()
        cached = self._entries.get(key)
        if cached is not None and cached[0] == watermark:
            return cached[1]
        grants = load()
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (watermark, grants)
        return grants


_counters = ChangeCounterRow.__table__
# The Consent change counter, as a scalar subquery (also folded into the token lookup).
CONSENT_CHANGES = (select(_counters.c.value).where(_counters.c.name == "Consent")
                   .scalar_subquery())


def consent_changes(session: Session) -> int | None:
    value = session.connection().execute(select(CONSENT_CHANGES)).scalar()
    return None if value is None else int(value)


class AccessPolicy:
    """One requester's view of the store, for one request."""

    def __init__(self, requester: Principal, session: Session, base_url: str,
                 today: date | None = None, grants_cache: GrantsCache | None = None) -> None:
        self.grants_cache = grants_cache
        self.requester = requester
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self.base_url = base_url.rstrip("/")
        self.today = today or datetime.now(UTC).date()
        # What was decided, kept with the request's requester for its AuditEvent.
        self.disclosures = requester.disclosures if requester.disclosures is not None \
            else Disclosures()
        self._grants: Grants | None = None
        self._decided: dict[str, list[int]] = {}  # per type, see _decided_rows

    @property
    def grants(self) -> Grants:
        """The requester's grants, from the current Consents (read once per request, so a
        revocation takes effect with the next request)."""
        if self._grants is None:
            if self.grants_cache is not None and self.requester.organization:
                key = (self.requester.organization, self.requester.purpose, self.today)
                self._grants = self.grants_cache.get(self.session, key, self._load_grants,
                                                     self.requester.consent_changes)
            else:
                self._grants = self._load_grants()
        return self._grants

    def decision(self, resource: Mapping[str, Any]) -> Decision:
        return decide(self.requester, resource, self.patient_of(resource),
                      self.grants if not self.requester.is_operator else Grants())

    def covers(self, patient_id: str, resource_type: str) -> bool:
        """Whether the consumer's consents let the requester receive ``resource_type`` (for
        ordinary content) at all, before minimum necessary: the test for figures derived from
        records the requester is not shown (a court's count of scheduled services)."""
        if self.requester.is_operator:
            return True
        return self.grants.coverage(patient_id, resource_type, sud_content=False) == "all"

    def admit(self, resource_type: str, resource_id: str, content: str | None
              ) -> tuple[bool, str | None]:
        """(whether ``requester`` may see this stored version, the JSON it receives). A deleted
        version (no content) is shown to operators only: a partner cannot be told about a
        resource whose content it cannot be judged by."""
        if content is None:
            return self.requester.is_operator, None
        resource = json_text.loads_stored(content)
        decision = self.decision(resource)
        self.disclosures.add(f"{resource_type}/{resource_id}", decision)
        if not decision.permitted:
            return False, None
        if decision.effect == "permit" and not decision.part2:
            return True, content
        return True, json_text.dumps(disclosed(self.requester, resource, decision))

    def outbound(self, resource: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the gateway may send the requester of ``resource`` on its own initiative (a
        delivery): the disclosed form, or None. The same decision as a query answer."""
        visible, content = self.admit(str(resource.get("resourceType")),
                                      str(resource.get("id")),
                                      json_text.dumps(resource))
        return json_text.loads_stored(content) if visible and content is not None else None

    def patient_of(self, resource: Mapping[str, Any]) -> str | None:
        return patient_of(resource, self.base_url)

    def sql_filter(self, entity: Any, resource_types: Collection[str] | None = None
                   ) -> ColumnElement[bool]:
        """The grants as a condition on a resource row: exactly the rows ``decide`` permits
        (up to the elements it trims, which do not change what matches). ``resource_types``:
        the only types the rows can have, when the query holds them to those (fewer
        conditions to build, and none on the type when there is one)."""
        if self.requester.is_operator:
            return true()
        types = self.requester.resource_types - NEVER_TO_PARTNERS
        if resource_types is not None:
            types &= set(resource_types)
        # Rows that can only be of one type need no condition on their type: the query has
        # one already (or an index criterion that implies it), and a second equality on the
        # type would lead SQLite's planner to scan every row of the type through the type
        # index instead of looking up the few the search's criteria name.
        one_type = resource_types is not None and len(set(resource_types)) == 1
        # Built once per grants (which are shared by requests until a Consent changes): the
        # same expression object lets SQLAlchemy reuse its compiled statement too.
        key = (entity, frozenset(types), self.requester.partner_kind, one_type)
        built = self.grants.filters.get(key)
        if built is None:
            if len(self.grants.filters) >= 64:  # chained searches alias the entity each time
                self.grants.filters.clear()
            built = self.grants.filters[key] = self._build_filter(entity, types, one_type)
        # Consumers whose consents look at each resource's content: their rows, decided one by
        # one now (they change with the rows, so this part is never cached across requests).
        decided = self._decided_rows(types)
        if decided:
            return or_(built, entity.pk.in_(decided))
        return built

    def _decided_rows(self, types: Collection[str]) -> list[int]:
        """The row keys, among consumers whose grants cover only some of a type's resources,
        that the consents permit (``Grants.verdict``, as ``decide`` will ask again)."""
        permitted: list[int] = []
        for resource_type in sorted(types):
            shape = shape_for(self.requester.partner_kind, resource_type)
            if shape is None or resource_type in DIRECTORY_TYPES:
                continue
            patients = sorted(set(self.grants.patients_for(resource_type, False, "some"))
                              | set(self.grants.patients_for(resource_type, True, "some")))
            if not patients:
                continue
            cached = self._decided.get(resource_type)
            if cached is None:
                cached = self._decided[resource_type] = self._decide_rows(
                    resource_type, patients, shape)
            permitted += cached
        return permitted

    def _decide_rows(self, resource_type: str, patients: list[str], shape: Shape
                     ) -> list[int]:
        owner = (ResourceRow.id.in_(patients) if resource_type == "Patient" else
                 ResourceRow.pk.in_(select(ReferenceIndex.resource_pk).where(
                     ReferenceIndex.param == "patient", ReferenceIndex.target_type == "Patient",
                     ReferenceIndex.target_id.in_(patients))))
        rows = self.session.execute(select(ResourceRow.pk, ResourceRow.content).where(
            ResourceRow.resource_type == resource_type, ResourceRow.deleted.is_(False), owner))
        permitted = []
        for pk, content in rows:
            resource = json_text.loads_stored(content)
            patient_id = self.patient_of(resource)
            if (patient_id in patients and is_relevant(shape, resource)
                    and self.grants.permits(patient_id, resource)):
                permitted.append(pk)
        return permitted

    def _build_filter(self, entity: Any, types: set[str] | frozenset[str], one_type: bool
                      ) -> ColumnElement[bool]:
        """``one_type``: the rows can only be of the one type in ``types`` (or of a type not
        in it, when the requester may see none)."""
        clauses = []
        for resource_type in sorted(types):
            shape = shape_for(self.requester.partner_kind, resource_type)
            if shape is None:
                continue
            of_type: ColumnElement[bool] = (true() if one_type else
                                            entity.resource_type == resource_type)
            if resource_type in DIRECTORY_TYPES:
                condition: ColumnElement[bool] = of_type
            else:
                plain = self.grants.patients_for(resource_type, False)
                sud = self.grants.patients_for(resource_type, True)
                if not plain and not sud:
                    continue
                labelled = _has_sud_label(entity)
                condition = and_(of_type, or_(
                    and_(not_(labelled),
                         _belongs_to(entity, resource_type, plain, self.dialect, "plain")),
                    and_(labelled,
                         _belongs_to(entity, resource_type, sud, self.dialect, "sud"))))
            if shape.required_tag is not None:
                condition = and_(condition, _has_tag(entity, *shape.required_tag))
            clauses.append(condition)
        return or_(*clauses) if clauses else false()

    def _load_grants(self) -> Grants:
        """The grants from the Consents that can concern the requester: those whose actors
        name its Organization (the ``actor`` index), and those whose root provision names no
        recipient, which reach any partner (read from the stored JSON)."""
        organization = self.requester.organization
        if not organization:
            return Grants()
        consents = ResourceRow.__table__
        live = and_(consents.c.resource_type == "Consent", consents.c.deleted.is_(False))
        named = select(consents.c.content).where(live, consents.c.pk.in_(
            select(ReferenceIndex.resource_pk).where(
                ReferenceIndex.resource_type == "Consent", ReferenceIndex.param == "actor",
                ReferenceIndex.target_type == "Organization",
                ReferenceIndex.target_id == organization)))
        root_actors = _json_text(consents.c.content, ("provision", "actor"), self.dialect)
        broad = select(consents.c.content).where(live, or_(
            root_actors.is_(None),
            and_(not_(root_actors.contains('"IRCP"')), not_(root_actors.contains('"PRCP"')))))
        contents = self.session.execute(named.union(broad)).scalars()
        return grants_for((json_text.loads_stored(c) for c in contents if c),
                          f"Organization/{organization}", self.requester.purpose, self.today,
                          self.requester.partner_kind)


def _json_text(column: Any, path: tuple[str, ...], dialect: str) -> ColumnElement[str]:
    """The JSON at ``path`` inside a text column, as text (NULL where absent)."""
    if dialect == "postgresql":
        return cast(column, JSONB).op("#>>", return_type=String)(literal_column(
            "'{" + ",".join(path) + "}'"))
    return func.json_extract(column, "$." + ".".join(path))


def _belongs_to(entity: Any, resource_type: str, patients: list[str], dialect: str,
               kind: str) -> ColumnElement[bool]:
    if not patients:
        return false()
    # Named apart: one statement may hold a list per type and per kind (plain, sud).
    name = f"{kind}_patients_{resource_type}"
    if resource_type == "Patient":
        return _in_ids(entity.id, name, patients, dialect)
    return exists().where(ReferenceIndex.resource_pk == entity.pk,
                          ReferenceIndex.param == "patient",
                          ReferenceIndex.target_type == "Patient",
                          _in_ids(ReferenceIndex.target_id, name, patients, dialect))


def _in_ids(column: Any, name: str, ids: list[str], dialect: str) -> ColumnElement[bool]:
    """``column IN ids`` with the ids bound as one JSON text parameter, not one parameter per
    id: the statement's text stays the same whatever the list holds (SQLAlchemy reuses its
    compiled form, nothing is expanded per execution), and the list is a set-returning
    function of that parameter, which the planner does not estimate element by element
    (PostgreSQL spends time per element planning ``= ANY(array)``: about 1 ms per request for
    200 consented consumers)."""
    param = bindparam(name, json.dumps(list(ids)), type_=String)
    if dialect == "postgresql":
        elements = select(func.jsonb_array_elements_text(cast(param, JSONB)))
    else:
        elements = select(literal_column("value")).select_from(func.json_each(param))
    return column.in_(elements)


def _has_sud_label(entity: Any) -> ColumnElement[bool]:
    return exists().where(TokenIndex.resource_pk == entity.pk, TokenIndex.param == "_security",
                          or_(*(and_(TokenIndex.system == system, TokenIndex.code == code)
                                for system, code in sorted(SUD_LABELS))))


def _has_tag(entity: Any, system: str, code: str) -> ColumnElement[bool]:
    return exists().where(TokenIndex.resource_pk == entity.pk, TokenIndex.param == "_tag",
                          TokenIndex.system == system, TokenIndex.code == code)

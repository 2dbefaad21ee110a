"""Fast seeding that stores exactly what ``POST /fhir/{type}`` would store.

``Repository.create`` issues about a dozen statements per resource (insert, flush, version,
five index DELETEs for a row that has none, index INSERTs). The bulk path here builds the same
rows with the repository's own helpers (``with_meta``, ``to_json``, ``utc_now``) and the search
module's own ``extract``, then writes a batch per table with ``executemany``. ``check_equivalence``
proves, on every run and database, that both paths store identical rows.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import dataset
from benchmarks.storage import system_repository
from gateway.db.engine import begin_write
from gateway.db.models import (
    INDEX_TABLES,
    DateIndex,
    ReferenceIndex,
    ResourceRow,
    ResourceVersionRow,
    StringIndex,
    TokenIndex,
    UriIndex,
)
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.search.extract import Extracted, extract
from gateway.fhir.validation import Validator
from gateway.fhir.versions import to_json, utc_now, with_meta


@dataclass(frozen=True)
class Fixtures:
    """What every generated CareTeam points at, and the key that makes this run's ids."""

    run_key: str
    organization_id: str
    practitioner_ids: list[str]


@dataclass(frozen=True)
class Prepared:
    resource_type: str
    id: str
    last_updated: datetime
    content: str
    found: Extracted


@dataclass
class SeedStats:
    resources: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


class Seeder:
    """Writes generated Patients and CareTeams to one database."""

    def __init__(self, session_factory: sessionmaker[Session], validator: Validator,
                 registry: SearchParameterRegistry, fhir_base_url: str, batch: int) -> None:
        self.session_factory = session_factory
        self.validator = validator
        self.registry = registry
        self.fhir_base_url = fhir_base_url  # the server's, as the API's Repository gets it
        self.batch = batch
        self.stats = SeedStats()

    def create_fixtures(self) -> Fixtures:
        """The Organization and Practitioners, through ``Repository.create`` (the API's path)."""
        with self._writing() as session:
            repository = system_repository(session, self.validator, self.registry,
                                           self.fhir_base_url)
            org = repository.create("Organization", dataset.organization()).stored.id
            practitioners = [repository.create("Practitioner", dataset.practitioner(i)).stored.id
                             for i in range(20)]
        return Fixtures(uuid.uuid4().hex, org, practitioners)

    def seed(self, fixtures: Fixtures, start: int, stop: int) -> None:
        """Store records ``start`` to ``stop - 1`` (a Patient and a CareTeam each)."""
        for low in range(start, stop, self.batch):
            began = time.perf_counter()
            prepared = list(self._prepare(fixtures, range(low, min(stop, low + self.batch))))
            with self._writing() as session:
                insert_prepared(session, prepared)
            self.stats.resources += len(prepared)
            self.stats.seconds += time.perf_counter() - began

    def check_equivalence(self, fixtures: Fixtures, sample: int = 5) -> int:
        """Store ``sample`` records through ``Repository.create`` (with validation) and again
        through the bulk path, compare every stored row, and roll both back. Returns the
        number of rows compared; raises ``SeedingMismatch`` on any difference."""
        indexes = range(sample)
        api_ids = [dataset.make_ids(i, fixtures.run_key + "/api") for i in indexes]
        bulk_ids = [dataset.make_ids(i, fixtures.run_key + "/bulk") for i in indexes]
        assigned = iter([rid for r in api_ids for rid in (r.patient_id, r.careteam_id)])
        with self.session_factory() as session:
            session.begin()
            try:
                begin_write(session)
                repository = system_repository(session, self.validator, self.registry,
                                               self.fhir_base_url,
                                               new_id=lambda: next(assigned))
                for record in api_ids:
                    for resource_type, resource in _pair(record, fixtures):
                        repository.create(resource_type, resource)
                insert_prepared(session, list(self._prepare_records(bulk_ids, fixtures)))
                api = snapshot(session, api_ids)
                bulk = snapshot(session, bulk_ids)
            finally:
                session.rollback()
        if api != bulk:
            differing = [k for k in api.keys() | bulk.keys() if api.get(k) != bulk.get(k)]
            raise SeedingMismatch(f"bulk seeding differs from Repository.create in {differing}")
        return sum(len(rows) for rows in api.values())

    def _prepare(self, fixtures: Fixtures, indexes: Iterable[int]) -> Iterator[Prepared]:
        return self._prepare_records((dataset.make_ids(i, fixtures.run_key) for i in indexes),
                                     fixtures)

    def _prepare_records(self, records: Iterable[dataset.Record], fixtures: Fixtures
                         ) -> Iterator[Prepared]:
        for record in records:
            for (resource_type, resource), resource_id in zip(
                    _pair(record, fixtures), (record.patient_id, record.careteam_id),
                    strict=True):
                yield prepare(resource_type, resource_id, resource, self.registry,
                              self.fhir_base_url)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A session in a writing transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        with self.session_factory() as session, session.begin():
            begin_write(session)
            yield session


class SeedingMismatch(AssertionError):
    """The bulk path would store something the API would not."""


def _pair(record: dataset.Record, fixtures: Fixtures) -> list[tuple[str, dict[str, Any]]]:
    return [("Patient", dataset.patient(record.index, fixtures.organization_id)),
            ("CareTeam", dataset.careteam(record.index, record.patient_id,
                                          fixtures.practitioner_ids, fixtures.organization_id))]


def prepare(resource_type: str, resource_id: str, resource: dict[str, Any],
            registry: SearchParameterRegistry, fhir_base_url: str,
            clock: Callable[[], datetime] = utc_now) -> Prepared:
    """What ``Repository._insert`` computes for a new resource, without touching the database."""
    now = clock()
    content = with_meta(resource, resource_type, resource_id, 1, now)
    return Prepared(resource_type, resource_id, now, to_json(content),
                    extract(registry.indexed(resource_type), content, fhir_base_url))


def insert_prepared(session: Session, prepared: list[Prepared]) -> None:
    """Resource, version and index rows of new resources, one executemany per table."""
    if not prepared:
        return
    table = ResourceRow.__table__
    pks = session.execute(
        insert(table).returning(table.c.pk, sort_by_parameter_order=True),
        [{"resource_type": p.resource_type, "id": p.id, "version_id": 1,
          "last_updated": p.last_updated, "deleted": False, "content": p.content}
         for p in prepared],
    ).scalars().all()
    session.execute(insert(ResourceVersionRow.__table__), [
        {"resource_pk": pk, "version_id": 1, "resource_type": p.resource_type, "id": p.id,
         "last_updated": p.last_updated, "method": "POST", "content": p.content}
        for pk, p in zip(pks, prepared, strict=True)])
    batches: dict[Any, list[dict[str, Any]]] = {t: [] for t in INDEX_TABLES}
    for pk, p in zip(pks, prepared, strict=True):
        common = {"resource_pk": pk, "resource_type": p.resource_type}
        found = p.found
        batches[TokenIndex] += [{**common, "param": c, "system": s, "code": v}
                                for c, s, v in found.tokens]
        batches[StringIndex] += [{**common, "param": c, "normalized": n, "exact": e}
                                 for c, n, e in found.strings]
        batches[ReferenceIndex] += [{**common, "param": c, "target_type": t, "target_id": i,
                                     "url": u} for c, t, i, u in found.references]
        batches[DateIndex] += [{**common, "param": c, "low": lo, "high": hi}
                               for c, lo, hi in found.dates]
        batches[UriIndex] += [{**common, "param": c, "value": v} for c, v in found.uris]
    for model, rows in batches.items():
        if rows:
            session.execute(insert(model.__table__), rows)


def snapshot(session: Session, records: list[dataset.Record]) -> dict[str, list[Any]]:
    """Every stored row of these records, with ids, pks and timestamps made comparable."""
    names = {}
    for n, record in enumerate(records):
        names[record.patient_id] = f"<patient {n}>"
        names[record.careteam_id] = f"<careteam {n}>"

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for real, placeholder in names.items():
                value = value.replace(real, placeholder)
            return _blank_last_updated(value)
        return value

    result: dict[str, list[Any]] = {}
    for record in records:
        for resource_id in (record.patient_id, record.careteam_id):
            key = names[resource_id]
            row = session.execute(select(ResourceRow.__table__).where(
                ResourceRow.id == resource_id)).mappings().one()
            rows: list[Any] = [_cleaned(row, clean, {"pk", "last_updated"})]
            rows += sorted(str(_cleaned(v, clean, {"resource_pk", "last_updated"}))
                           for v in session.execute(select(ResourceVersionRow.__table__).where(
                               ResourceVersionRow.resource_pk == row["pk"])).mappings())
            for model in INDEX_TABLES:
                rows += sorted(str(_cleaned(v, clean, {"row_id", "resource_pk"}))
                               for v in session.execute(select(model.__table__).where(
                                   model.resource_pk == row["pk"])).mappings())
            result[key] = rows
    return result


def _cleaned(row: Any, clean: Callable[[Any], Any], dropped: set[str]) -> dict[str, Any]:
    return {k: clean(v) for k, v in row.items() if k not in dropped}


def _blank_last_updated(text: str) -> str:
    marker = '"lastUpdated":"'
    at = text.find(marker)
    if at < 0:
        return text
    end = text.find('"', at + len(marker))
    return text[:at + len(marker)] + "<t>" + text[end:]

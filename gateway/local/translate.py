"""Which FHIR resources a local record creates or rebuilds.

Most records map on their own. A consumer's CareTeam is built from all of their assignments
(and the natural supports of their active plan), and their due-assessment Tasks from their
assessments, plans and assignments, so a change to any of those rebuilds them from the stored
records. Unchanged rebuilt resources make no new versions (the repository compares content).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from gateway.care import due_tasks
from gateway.config import Config
from gateway.db.models import LocalRecordRow
from gateway.local.pipeline import RecordRejected
from gateway.local.schemas import RecordProblem
from gateway.local.store import LocalRecordStore, organization_units
from gateway.mappings import (
    MappingContext,
    MappingError,
    care_plan_from_plan,
    care_team_from_assignments,
    consent_from_record,
    organization_from_record,
    patient_from_consumer,
    practitioner_from_staff,
    referral_from_record,
)
from gateway.mappings.terminology import Terminology

Resource = dict[str, Any]
# The resource type each local record kind maps to, for references built by the workflows.
REFERENCE_TYPES = {"consumer": "Patient", "staff": "Practitioner", "plan": "CarePlan",
                   "organization": "Organization"}


@lru_cache(maxsize=4)
def _terminology(directory: Path) -> Terminology:
    return Terminology.load(directory)


class AgencyTranslator:
    """Maps local records for one agency; ``today`` drives consent status and due dates."""

    def __init__(self, terminology: Terminology, agency_organization: str | None,
                 today: date | None = None) -> None:
        self.terminology = terminology
        self.agency_organization = agency_organization
        self.today = today or datetime.now(UTC).date()

    def resources_for(self, record: dict[str, Any], store: LocalRecordStore, *,
                      aggregates: bool = True) -> list[Resource]:
        """The resources ``record`` maps to; with ``aggregates=False`` without its consumer's
        CareTeam and due Tasks (the caller rebuilds those with ``aggregates_for``)."""
        try:
            return self._resources_for(record, store, aggregates)
        except MappingError as error:
            raise RecordRejected([RecordProblem(error.path, error.message)]) from None

    def aggregates_for(self, consumer_ids: list[str], store: LocalRecordStore,
                       care_teams: set[str]) -> Iterator[tuple[str, list[Resource]]]:
        """Each consumer's rebuilt CareTeam (for those in ``care_teams``) and due Tasks, from
        their stored records (read in one query for all of them). A consumer whose rebuild
        fails raises RecordRejected when its turn comes."""
        stored = _ConsumerRecords(store, consumer_ids)
        ctx = self.context(store)
        for consumer_id in consumer_ids:
            try:
                resources = (self.care_team(consumer_id, stored, ctx)
                             if consumer_id in care_teams else [])
                yield consumer_id, resources + self.due_tasks(consumer_id, stored, ctx)
            except MappingError as error:
                raise RecordRejected([RecordProblem(error.path, error.message)]) from None

    def _resources_for(self, record: dict[str, Any], store: LocalRecordStore,
                       aggregates: bool = True) -> list[Resource]:
        kind = record["type"]
        if kind == "organization" and record.get("kind") == "agency" \
                and self.agency_organization is None:
            # The agency's own record names the agency (before it is stored, in a bulk chunk).
            self.agency_organization = record["id"]
        ctx = self.context(store)
        if kind == "organization":
            return organization_from_record(record, ctx)
        if kind == "staff":
            return practitioner_from_staff(record, ctx)
        if kind == "consent":
            return consent_from_record(record, ctx, self.today)
        if kind == "referral":
            return referral_from_record(record, ctx)
        consumer_id = record["id"] if kind == "consumer" else record["consumer"]
        resources: list[Resource] = []
        if kind == "consumer":
            resources += patient_from_consumer(record, ctx)
        if kind == "plan":
            resources += care_plan_from_plan(record, ctx)
        if not aggregates:
            return resources
        if kind in ("assignment", "plan"):
            resources += self.care_team(consumer_id, store, ctx)
        return resources + self.due_tasks(consumer_id, store, ctx)

    def care_team(self, consumer_id: str, store: ConsumerRecords, ctx: MappingContext
                  ) -> list[Resource]:
        assignments = store.for_consumer(consumer_id, "assignment")
        if not assignments:
            return []
        plan = _current_plan(store.for_consumer(consumer_id, "plan"))
        supports = plan.get("natural_supports", []) if plan else []
        return care_team_from_assignments(consumer_id, assignments, supports, ctx,
                                          today=self.today)

    def due_tasks(self, consumer_id: str, store: ConsumerRecords, ctx: MappingContext
                  ) -> list[Resource]:
        consumer = store.get("consumer", consumer_id)
        if consumer is None:
            return []  # computed when the consumer record arrives
        return due_tasks(
            consumer, store.for_consumer(consumer_id, "assessment"),
            store.for_consumer(consumer_id, "plan"), store.for_consumer(consumer_id, "assignment"),
            self.today,
            reference_for=lambda kind, local_id: f"{REFERENCE_TYPES[kind]}/"
                                                 f"{ctx.fhir_id(kind, local_id)}",
            agency_reference=ctx.agency_reference()["reference"],
            identifier_system=ctx.identifier_system("due-task"))

    def context(self, store: LocalRecordStore) -> MappingContext:
        if self.agency_organization is None:
            self.agency_organization = _find_agency(store)
        return MappingContext(self.terminology, agency_organization=self.agency_organization)


class ConsumerRecords(Protocol):
    """What the CareTeam and due-Task rebuilds read: a LocalRecordStore, or _ConsumerRecords."""

    def get(self, record_type: str, local_id: str) -> dict[str, Any] | None: ...

    def for_consumer(self, consumer_id: str, record_type: str) -> list[dict[str, Any]]: ...


class _ConsumerRecords:
    """The stored records of some consumers, read in one query (the same rows, in the same
    order, as LocalRecordStore.for_consumer and .get would read one by one)."""

    def __init__(self, store: LocalRecordStore, consumer_ids: list[str]) -> None:
        self._records: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for start in range(0, len(consumer_ids), 500):
            for row in store.session.scalars(select(LocalRecordRow).where(
                    LocalRecordRow.consumer_id.in_(consumer_ids[start:start + 500])
            ).order_by(LocalRecordRow.local_id)):
                self._records.setdefault((row.consumer_id, row.record_type), []).append(
                    json.loads(row.content))

    def for_consumer(self, consumer_id: str, record_type: str) -> list[dict[str, Any]]:
        return list(self._records.get((consumer_id, record_type), []))

    def get(self, record_type: str, local_id: str) -> dict[str, Any] | None:
        # Only a consumer is looked up by id here; its row's consumer_id is its own id.
        assert record_type == "consumer"
        found = self._records.get((local_id, "consumer"), [])
        return found[0] if found else None


def _find_agency(store: LocalRecordStore) -> str:
    agency = organization_units(store.session).get("agency")
    if agency is not None:
        return str(agency["id"])
    raise RecordRejected([RecordProblem(
        "", "the agency's own organization record (kind 'agency') must be imported first, "
            "or GATEWAY_AGENCY_ORGANIZATION set")])


def _current_plan(plans: list[dict[str, Any]]) -> dict[str, Any] | None:
    active = [plan for plan in plans if plan.get("status") == "active"]
    return max(active, key=lambda plan: (plan["period"]["start"], plan["id"]), default=None)


def translator_for(config: Config, today: date | None = None) -> AgencyTranslator:
    return AgencyTranslator(_terminology(config.terminology_dir), config.agency_organization,
                            today)

"""Bringing every consumer's due-assessment Tasks up to date (``gateway workflows run``).

Overdue status changes with the calendar even when no record changes, so this runs on a
schedule; Tasks whose content is the same as stored make no new version.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from gateway.auth import SYSTEM
from gateway.db.models import LocalRecordRow
from gateway.local.store import LocalRecordStore
from gateway.local.translate import AgencyTranslator
from gateway.state import GatewayState


@dataclass
class RefreshSummary:
    consumers: int = 0
    tasks: int = 0
    changed: int = 0


def refresh_due_tasks(state: GatewayState, translator: AgencyTranslator,
                      chunk_size: int = 200) -> RefreshSummary:
    summary = RefreshSummary()
    with state.reading(SYSTEM) as repository:
        consumer_ids = list(repository.session.scalars(
            select(LocalRecordRow.local_id).where(LocalRecordRow.record_type == "consumer")
            .order_by(LocalRecordRow.local_id)))
    for start in range(0, len(consumer_ids), chunk_size):
        with state.writing(SYSTEM) as repository:
            store = LocalRecordStore(repository.session)
            ctx = translator.context(store)
            for consumer_id in consumer_ids[start:start + chunk_size]:
                summary.consumers += 1
                for task in translator.due_tasks(consumer_id, store, ctx):
                    result = repository.update("Task", task["id"], task)
                    summary.tasks += 1
                    summary.changed += result.changed
    return summary

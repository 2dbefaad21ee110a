"""Identifiers the gateway learned about a consumer stay when their record is imported again.

A hospital that sends a discharge for a consumer teaches the gateway its MRN for them, which is
added to their Patient (gateway/workflows/referrals.py) so the hospital can later query with
it. The local case-management system knows nothing of it, so a later import of the consumer's
record would map a Patient without it and the update would drop it. Before a mapped Patient is
written, the identifiers of the stored one that the agency does not issue (not under the
agency's identifier base, not the Medicaid id) are kept.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import ResourceRow
from gateway.mappings.context import DEFAULT_MEDICAID_SYSTEM
from gateway.mappings.ids import DEFAULT_IDENTIFIER_BASE


def keep_learned_identifiers(session: Session, resources: list[dict[str, Any]]) -> None:
    """Add to each mapped Patient in ``resources`` (in place) the learned identifiers of its
    stored version; one query for all of them."""
    patients = {r["id"]: r for r in resources if r.get("resourceType") == "Patient"}
    if not patients:
        return
    rows = session.execute(select(ResourceRow.id, ResourceRow.content).where(
        ResourceRow.resource_type == "Patient", ResourceRow.id.in_(list(patients)),
        ResourceRow.deleted.is_(False)))
    for patient_id, content in rows:
        if content is None:
            continue
        mapped = patients[patient_id]
        issued = {i.get("system") for i in mapped.get("identifier", [])}
        learned = [i for i in json.loads(content).get("identifier", [])
                   if _learned(i.get("system")) and i.get("system") not in issued]
        if learned:
            mapped["identifier"] = [*mapped.get("identifier", []), *learned]


def _learned(system: str | None) -> bool:
    return bool(system) and not str(system).startswith(DEFAULT_IDENTIFIER_BASE) \
        and system != DEFAULT_MEDICAID_SYSTEM

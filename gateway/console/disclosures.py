"""The privacy officer's view of one consumer: what each partner would see now and why (the
decision point's own preview, gateway/workflows/consent_review.py), and the accounting of
disclosures (every disclosure to a partner: to whom, when, what, under which Consent) as a
page, a printable page for the consumer's request, and CSV."""
from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime

from flask import Response, render_template, request

from gateway.console import roles
from gateway.console.audit_trail import EventRow, disclosures_of
from gateway.console.consumer_data import consumer_row
from gateway.console.paging import paged
from gateway.console.web import (
    audited,
    bp,
    local_time,
    not_found,
    principal,
    require,
    state,
    zone,
)
from gateway.fhir.errors import FhirError
from gateway.partners.registry import PartnerRegistry
from gateway.workflows.consent_review import disclosure_preview

LOCAL = "local"  # the partner kind of the agency's own case-management system
CSV_COLUMNS = ("when", "partner", "partner organization", "what", "records", "purpose",
               "consents", "audit event")


@bp.get("/consumers/<patient_id>/disclosures")
@require(roles.DISCLOSURES_VIEW)
def disclosures(patient_id: str) -> str:
    who, rows = _accounting(patient_id)
    views = disclosure_preview(state(), patient_id)
    shown = paged(rows, request.args.get("page"))
    audited("search-type", note=f"console disclosures of Patient/{patient_id} "
                                f"({len(rows)} disclosures)")
    return render_template("disclosures.html", who=who, views=views, rows=shown.items,
                           page=shown.page, pages=shown.pages, total=shown.total,
                           names=_partner_names())


@bp.get("/consumers/<patient_id>/disclosures/print")
@require(roles.DISCLOSURES_VIEW)
def disclosures_print(patient_id: str) -> str:
    who, rows = _accounting(patient_id)
    audited("search-type", note=f"console accounting of disclosures of Patient/{patient_id}, "
                                f"printable ({len(rows)})")
    return render_template("disclosures_print.html", who=who, rows=rows,
                           made=datetime.now(zone()), names=_partner_names())


@bp.get("/consumers/<patient_id>/disclosures.csv")
@require(roles.DISCLOSURES_VIEW)
def disclosures_csv(patient_id: str) -> Response:
    who, rows = _accounting(patient_id)
    audited("search-type", note=f"console accounting of disclosures of Patient/{patient_id}, "
                                f"CSV ({len(rows)})")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(v) for v in csv_values(row)])
    name = (who.consumer_id or who.patient_id).replace('"', "")
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="disclosures-{name}.csv"'})


def csv_values(row: EventRow) -> list[str]:
    return [local_time(row.recorded), row.who, row.recipient or "", row.kind,
            " ".join(row.resources), row.purpose, " ".join(row.consents), row.id]


@bp.app_template_global("counted")
def counted(references: tuple[str, ...]) -> str:
    """``CarePlan 1, Goal 3``: what a disclosure held, by resource type."""
    kinds = Counter(reference.partition("/")[0] for reference in references)
    return ", ".join(f"{kind} {number}" for kind, number in sorted(kinds.items()))


def _partner_names() -> dict[str, str]:
    """Each partner's name by its Organization reference (the agent a disclosure names)."""
    with state().session_factory() as session:
        return {f"Organization/{p.organization}": p.name for p in PartnerRegistry(session).all()}


def _outside(rows: list[EventRow]) -> list[EventRow]:
    """Disclosures outside the agency: not those to its own case-management system (a
    partner of kind "local", which receives intake records)."""
    with state().session_factory() as session:
        own = {f"Organization/{p.organization}" for p in PartnerRegistry(session).all()
               if p.kind == LOCAL}
    return [row for row in rows if row.recipient not in own]


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: never from our data.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _accounting(patient_id: str):  # noqa: ANN202 - (ConsumerRow, list[EventRow])
    with state().reading(principal()) as repository:
        try:
            patient = repository.read("Patient", patient_id).json()
        except FhirError as error:
            if error.status in (404, 410):
                raise not_found("consumer") from None
            raise
        found = disclosures_of(repository, patient_id)
    return consumer_row(patient), _outside(found)

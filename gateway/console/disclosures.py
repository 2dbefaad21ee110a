"""The privacy officer's view of one consumer: what each partner would see now and why (the
decision point's own preview, gateway/workflows/consent_review.py), and the accounting of
disclosures (every disclosure to a partner: to whom, when, what, under which Consent) as a
page, a printable page for the consumer's request, and CSV."""
from __future__ import annotations

import csv
import io
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
from gateway.workflows.consent_review import disclosure_preview

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
                           page=shown.page, pages=shown.pages, total=shown.total)


@bp.get("/consumers/<patient_id>/disclosures/print")
@require(roles.DISCLOSURES_VIEW)
def disclosures_print(patient_id: str) -> str:
    who, rows = _accounting(patient_id)
    audited("search-type", note=f"console accounting of disclosures of Patient/{patient_id}, "
                                f"printable ({len(rows)})")
    return render_template("disclosures_print.html", who=who, rows=rows,
                           made=datetime.now(zone()))


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
        return consumer_row(patient), disclosures_of(repository, patient_id)

"""Consumers: the search (name, consumer id, agency number or Medicaid id) and a consumer's
page (care team and its history, change requests, plans and goals, due Tasks, consents)."""
from __future__ import annotations

from flask import render_template, request

from gateway.console import roles
from gateway.console.consumer_data import consumer_page, consumer_row, find_consumers
from gateway.console.fhir_pages import search_page
from gateway.console.paging import PAGE_SIZE, page_number, paged
from gateway.console.web import audited, bp, not_found, principal, require, state, today

MAX_QUERY = 100


@bp.get("/consumers")
@require(roles.CONSUMERS_VIEW)
def consumer_search() -> tuple[str, int]:
    text = request.args.get("q", "").strip()
    error = None
    if len(text) > MAX_QUERY:
        error = f"Enter at most {MAX_QUERY} characters."
    elif any(ord(c) < 32 for c in text):
        error = "Enter a name or a number without control characters."
    if error:
        audited("search-type", note="console consumer search refused: bad query")
        return render_template("consumers.html", q=text[:MAX_QUERY], error=error, rows=None,
                               page=1, pages=1, total=0), 400
    with state().reading(principal()) as repository:
        if text:
            found = paged(find_consumers(repository, text), request.args.get("page"))
            rows, page, pages, total = found.items, found.page, found.pages, found.total
        else:
            page = page_number(request.args.get("page"))
            everyone = search_page(repository, "Patient", [], count=PAGE_SIZE,
                                   offset=(page - 1) * PAGE_SIZE)
            total = everyone.total or 0
            pages = max(1, -(-total // PAGE_SIZE))
            if page > pages:  # past the end: the last page
                page = pages
                everyone = search_page(repository, "Patient", [], count=PAGE_SIZE,
                                       offset=(page - 1) * PAGE_SIZE)
            rows = [consumer_row(p) for p in everyone.resources]
    audited("search-type", note=f"console consumer search ({total} found)")
    return render_template("consumers.html", q=text, error=None, rows=rows, page=page,
                           pages=pages, total=total), 200


@bp.get("/consumers/<patient_id>")
@require(roles.CONSUMERS_VIEW)
def consumer(patient_id: str) -> str:
    day = today()
    with state().reading(principal()) as repository:
        found = consumer_page(repository, patient_id, day)
    if found is None:
        raise not_found("consumer")
    audited("read", note=f"console consumer Patient/{patient_id}")
    return render_template("consumer.html", c=found, today=day)

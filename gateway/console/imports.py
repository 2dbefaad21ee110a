"""Imports: recent imports of local records and the records they rejected, with reasons."""
from __future__ import annotations

from flask import render_template, request

from gateway.console import roles
from gateway.console.import_data import import_runs, rejected_records, rejects_files
from gateway.console.paging import paged
from gateway.console.web import audited, bp, not_found, require, state
from gateway.local.store import recently_imported


@bp.get("/imports")
@require(roles.IMPORTS_VIEW)
def imports() -> str:
    with state().session_factory() as session:
        runs = import_runs(recently_imported(session))
    files = rejects_files(state().config.var_dir / "rejects")
    audited("search-type", note=f"console imports ({len(runs)} recent, {len(files)} rejects "
                                f"files)")
    return render_template("imports.html", runs=runs, files=files)


@bp.get("/imports/rejects/<name>")
@require(roles.IMPORTS_VIEW)
def rejects(name: str) -> str:
    records = rejected_records(state().config.var_dir / "rejects", name)
    if records is None:
        raise not_found("rejects file of that name")
    shown = paged(records, request.args.get("page"))
    audited("read", note=f"console rejects file {name[:100]} ({len(records)} records)")
    return render_template("rejects.html", name=name, rows=shown.items, page=shown.page,
                           pages=shown.pages, total=shown.total)

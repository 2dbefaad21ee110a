"""Imports (recent imports and rejected records with their reasons) and the audit trail
(AuditEvent search with errors next to the fields, and the chain verification), with the
roles that may open them."""
from __future__ import annotations

import json
import re

import pytest

from tests.console.conftest import hidden


def test_recent_imports_and_their_rejected_records(app, config, demo_agency, signed_in):
    rejects = config.var_dir / "rejects"
    rejects.mkdir(parents=True, exist_ok=True)
    (rejects / "import-20261207T101500Z.ndjson").write_text("\n".join(json.dumps(line) for line in [
        {"source": "consumers.csv:7", "type": "consumer", "id": "C-2001",
         "reasons": [{"path": "birth_date", "message": "'1990-02-30' is not a date"}],
         "record": {}},
        {"source": "plans.json[3]", "type": "plan", "id": "P-9",
         "reasons": [{"path": "consumer", "message": "no consumer C-7777"}], "record": {}},
    ]) + "\n", encoding="utf-8")
    console = signed_in("ines")
    page = console.get("/console/imports").get_data(as_text=True)
    assert re.search(r"<td>4\d\d</td>", page)  # the demo agency's records, accepted at once
    assert "consumer 42" in page
    assert "import-20261207T101500Z.ndjson" in page and "<td>2</td>" in page
    detail = console.get("/console/imports/rejects/import-20261207T101500Z.ndjson")
    assert detail.status_code == 200
    body = detail.get_data(as_text=True)
    assert "C-2001" in body and "is not a date" in body and "birth_date" in body
    assert "no consumer C-7777" in body and "consumers.csv:7" in body


def test_no_imports_yet_and_no_such_rejects_file(app, operators, signed_in):
    console = signed_in("ada")
    page = console.get("/console/imports").get_data(as_text=True)
    assert "Nothing has been imported yet" in page and "No import has rejected" in page
    for name in ("missing.ndjson", "..%2Fgateway.db", "notes.txt"):
        assert console.get(f"/console/imports/rejects/{name}").status_code == 404, name


def test_the_audit_trail_finds_an_operators_page_views(app, operators, signed_in):
    officer = signed_in("petra")
    officer.get("/console/home")
    page = officer.get("/console/audit", query_string={"agent": "petra"}).get_data(
        as_text=True)
    assert "console home" in page and "console sign-in (privacy-officer)" in page
    assert re.search(r"\d+ AuditEvents? match", page)
    nothing = officer.get("/console/audit", query_string={"agent": "nobody-at-all"})
    assert "No AuditEvent matches this search." in nothing.get_data(as_text=True)


def test_bad_search_fields_are_refused_next_to_them(app, operators, signed_in):
    officer = signed_in("petra")
    for query, field in (({"since": "2026-13-01"}, "since"),
                         ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
                         ({"outcome": "99"}, "outcome"),
                         ({"patient": "x" * 300}, "patient")):
        answer = officer.get("/console/audit", query_string=query)
        assert answer.status_code == 400, query
        body = answer.get_data(as_text=True)
        assert f'id="{field}-error"' in body and f'aria-describedby="{field}-error"' in body


def test_audit_pages_page_by_page(app, operators, signed_in):
    officer = signed_in("petra")
    for _ in range(26):
        officer.get("/console/home")
    first = officer.get("/console/audit", query_string={"agent": "petra"}).get_data(
        as_text=True)
    assert "Page 1 of 2" in first
    second = officer.get("/console/audit", query_string={"agent": "petra", "page": "2"})
    assert "Page 2 of 2" in second.get_data(as_text=True)


def test_the_chain_verification_is_run_and_shown(app, operators, signed_in):
    officer = signed_in("petra")
    page = officer.get("/console/audit").get_data(as_text=True)
    answer = officer.post("/console/audit/verify",
                          data={"csrf_token": hidden(page, "csrf_token")})
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    found = re.search(r"The audit chain is intact: (\d+) entries", body)
    assert found and int(found.group(1)) > 0
    assert "no checkpoint file is configured" in body
    assert officer.post("/console/audit/verify").status_code == 403  # no CSRF token


@pytest.mark.parametrize("name", ["carl", "ines"])
def test_the_audit_trail_is_the_privacy_officers(app, operators, signed_in, name):
    console = signed_in(name)
    assert console.get("/console/audit").status_code == 403
    page = console.get("/console/home").get_data(as_text=True)
    assert "/console/audit" not in page
    assert console.post("/console/audit/verify", data={
        "csrf_token": hidden(page, "csrf_token")}).status_code == 403


def test_case_managers_do_not_open_imports(app, operators, signed_in):
    assert signed_in("carl").get("/console/imports").status_code == 403
    assert signed_in("petra").get("/console/imports").status_code == 403

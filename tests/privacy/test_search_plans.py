"""How the grants' SQL filter shapes a partner's search on SQLite.

SQLite chooses its plan from the conditions it is given: a condition on the resource type
beside the search's own criterion led it to walk every row of the type through the type index
and test each against the criterion, so a partner's ``CareTeam?patient=`` cost time in
proportion to all CareTeams stored (12 ms per request at 100,000) where the operator's looked
up the one consumer's rows. The filter leaves the type out when the rows can only be of one
type; these tests hold the partner's plan to the operator's.
"""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from .leak_world import OPERATOR, bearer


def search_plans(app, client, path: str, headers: dict[str, str]) -> list[str]:
    """The SQLite query plan of each SELECT on the resource table the request runs."""
    engine = app.extensions["gateway"].engine
    statements: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.lstrip().startswith("SELECT resource.pk") and not executemany:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        response = client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total"] >= 1
    raw = engine.raw_connection()
    try:
        return ["\n".join(str(row[-1]) for row in
                          raw.cursor().execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
                for sql, params in statements]
    finally:
        raw.close()


@pytest.mark.parametrize("path", ["/fhir/CareTeam?patient=Patient/p-active",
                                  "/fhir/CareTeam?subject=Patient/p-active"])
def test_a_partners_search_looks_up_the_rows_its_criteria_name(app, client, world, get_token,
                                                                path):
    if app.extensions["gateway"].engine.dialect.name != "sqlite":
        pytest.skip("the plan checked is SQLite's")
    partner = search_plans(app, client, path, bearer(get_token, "pcp-cedar"))
    operator = search_plans(app, client, path, OPERATOR)
    assert partner and operator
    for plan in partner + operator:
        first = plan.splitlines()[0]
        assert "USING INTEGER PRIMARY KEY" in first, plan
        assert "ix_resource_type" not in plan, plan

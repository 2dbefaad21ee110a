"""Searches against the database (SQLite, and PostgreSQL when configured)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.db.models import ResourceRow, StringIndex, TokenIndex
from gateway.fhir.search import (
    IndexWriter,
    SearchParameterRegistry,
    SearchResult,
    clear_index,
    execute_search,
    parse_search,
    reindex,
)

from .helpers import BASE_URL, ids, included_ids, query

Store = Callable[..., list[ResourceRow]]
Search = Callable[..., SearchResult]


def patient(id_: str, **elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id_, **elements}


def condition(id_: str, subject: str | None = None, **elements: Any) -> dict[str, Any]:
    resource = {"resourceType": "Condition", "id": id_, **elements}
    if subject:
        resource["subject"] = {"reference": subject}
    return resource


def coding(code: str, system: str = "http://snomed.info/sct") -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def as_set(result: SearchResult) -> set[str]:
    return set(ids(result))


# --- token ---------------------------------------------------------------------------------

@pytest.fixture
def coded(store: Store) -> None:
    store(condition("c1", code=coding("1")), condition("c2", code=coding("2")),
          condition("c3", code=coding("1", "urn:other")),
          condition("c4", code={"coding": [{"code": "1"}]}), condition("c5"))


@pytest.mark.parametrize(("text", "expected"), [
    ("code=1", {"c1", "c3", "c4"}),
    ("code=http://snomed.info/sct|1", {"c1"}),
    ("code=|1", {"c4"}),
    ("code=urn:other|", {"c3"}),
    ("code=1,2", {"c1", "c2", "c3", "c4"}),
    ("code=http://snomed.info/sct|1,http://snomed.info/sct|2", {"c1", "c2"}),
    ("code:not=1", {"c2", "c5"}),
    ("code:missing=true", {"c5"}),
    ("code:missing=false", {"c1", "c2", "c3", "c4"}),
    ("code=1&code=urn:other|1", {"c3"}),
    ("_id=c1,c2", {"c1", "c2"}),
    ("_id:not=c1", {"c2", "c3", "c4", "c5"}),
    ("code=nosuch", set()),
])
def test_token(coded: None, search: Search, text: str, expected: set[str]) -> None:
    assert as_set(search("Condition", text)) == expected


def test_token_from_boolean_identifier_and_contact_point(store: Store, search: Search) -> None:
    store(patient("a", active=True, identifier=[{"system": "urn:mrn", "value": "7"}],
                  telecom=[{"system": "email", "value": "a@example.org"}]),
          patient("b", active=False, telecom=[{"system": "phone", "value": "a@example.org"}]))
    assert ids(search("Patient", "active=true")) == ["a"]
    assert ids(search("Patient", "identifier=urn:mrn|7")) == ["a"]
    assert ids(search("Patient", "email=a@example.org")) == ["a"]
    assert as_set(search("Patient", "telecom=a@example.org")) == {"a", "b"}
    assert ids(search("Patient", "telecom=phone|a@example.org")) == ["b"]


# --- string --------------------------------------------------------------------------------

@pytest.fixture
def named(store: Store) -> None:
    store(patient("martinez", name=[{"family": "Martínez", "given": ["Élena"]}],
                  address=[{"city": "Zürich", "line": ["12 Bahnhofstrasse"]}]),
          patient("martin", name=[{"family": "Martin", "given": ["Paul", "Ann"]}]),
          patient("smith", name=[{"family": "Smith", "given": ["Anna"]}]),
          patient("nameless"))


@pytest.mark.parametrize(("text", "expected"), [
    ("name=mart", {"martinez", "martin"}),
    ("name=MARTÍ", {"martinez", "martin"}),
    ("name=elena", {"martinez"}),
    ("family=martinez", {"martinez"}),
    ("family=ann", set()),
    ("given=ann", {"martin", "smith"}),
    ("name:exact=Martin", {"martin"}),
    ("name:exact=martin", set()),
    ("name:exact=Martínez", {"martinez"}),
    ("name:contains=TIN", {"martinez", "martin"}),
    ("name:contains=mit", {"smith"}),
    ("name=smith,martin", {"smith", "martin", "martinez"}),
    ("name=mart&given=paul", {"martin"}),
    ("family:missing=true", {"nameless"}),
    ("address=zur", {"martinez"}),
    ("address=bahnhof", set()),  # starts-with: a line must start with the value
    ("address:contains=bahnhof", {"martinez"}),
    ("address-city=zürich", {"martinez"}),
    ("name=%25", set()),   # LIKE wildcards in values are literal
    ("name:contains=_", set()),
])
def test_string(named: None, search: Search, text: str, expected: set[str]) -> None:
    assert as_set(search("Patient", text)) == expected


# --- reference -----------------------------------------------------------------------------

@pytest.fixture
def referring(store: Store) -> None:
    store(patient("p1"), patient("p2"), {"resourceType": "Group", "id": "p1"},
          condition("c-rel", "Patient/p1"), condition("c-group", "Group/p1"),
          condition("c-abs", f"{BASE_URL}/Patient/p2"),
          condition("c-ext", "http://other.example/fhir/Patient/p1"),
          condition("c-urn", "urn:uuid:0e6a1c8e-7c55-4f0e-9a43-cc2f6a0d1f1b"),
          condition("c-none"))


@pytest.mark.parametrize(("text", "expected"), [
    ("subject=Patient/p1", {"c-rel"}),
    ("subject=p1", {"c-rel", "c-group"}),
    ("subject:Patient=p1", {"c-rel"}),
    ("subject:Group=p1", {"c-group"}),
    ("patient=p1", {"c-rel"}),
    ("patient=Patient/p2", {"c-abs"}),
    (f"subject={BASE_URL}/Patient/p2", {"c-abs"}),
    ("subject=http://other.example/fhir/Patient/p1", {"c-ext"}),
    ("subject=urn:uuid:0e6a1c8e-7c55-4f0e-9a43-cc2f6a0d1f1b", {"c-urn"}),
    ("subject=Patient/p1,Patient/p2", {"c-rel", "c-abs"}),
    ("subject:missing=true", {"c-none"}),
    # An external Patient URL is still a patient reference; a urn: one cannot say.
    ("patient:missing=true", {"c-group", "c-urn", "c-none"}),
    ("patient=http://other.example/fhir/Patient/p1", {"c-ext"}),
    ("subject=Patient/p3", set()),
])
def test_reference(referring: None, search: Search, text: str, expected: set[str]) -> None:
    assert as_set(search("Condition", text)) == expected


# --- chains --------------------------------------------------------------------------------

def test_chained_parameters(store: Store, search: Search) -> None:
    store(patient("p1", identifier=[{"system": "urn:mrn", "value": "1"}],
                  name=[{"family": "Okafor"}]),
          patient("p2", identifier=[{"system": "urn:mrn", "value": "2"}],
                  name=[{"family": "Smith"}]),
          condition("c1", "Patient/p1"), condition("c2", "Patient/p2"))
    store(patient("gone", name=[{"family": "Okafor"}]), deleted=True)
    store(condition("c3", "Patient/gone"))
    assert ids(search("Condition", "patient.identifier=urn:mrn|1")) == ["c1"]
    assert ids(search("Condition", "subject:Patient.name=smi")) == ["c2"]
    # A deleted target never matches.
    assert ids(search("Condition", "subject.name=okafor")) == ["c1"]
    assert as_set(search("Condition", "patient._id=p1,p2")) == {"c1", "c2"}
    assert ids(search("Condition", "patient.identifier=urn:mrn|1&patient.name=oka")) == ["c1"]


def test_chain_across_target_types(store: Store, search: Search) -> None:
    store({"resourceType": "Practitioner", "id": "pr", "name": [{"family": "Okafor"}]},
          {"resourceType": "Organization", "id": "org", "name": "Okapi Services"},
          {"resourceType": "Task", "id": "t1", "owner": {"reference": "Practitioner/pr"}},
          {"resourceType": "Task", "id": "t2", "owner": {"reference": "Organization/org"}},
          {"resourceType": "Task", "id": "t3", "owner": {"reference": "Organization/none"}})
    assert as_set(search("Task", "owner.name=oka")) == {"t1", "t2"}
    assert ids(search("Task", "owner:Organization.name=oka")) == ["t2"]


# --- date ----------------------------------------------------------------------------------

@pytest.fixture
def born(store: Store) -> None:
    store(*(patient(id_, birthDate=value) for id_, value in [
        ("p1979", "1979-12-31"), ("p1980", "1980"), ("p1980-05", "1980-05"),
        ("p1980-05-10", "1980-05-10"), ("p1981", "1981-01-01"), ("p2020", "2020-01-01")]),
        patient("unborn"))


@pytest.mark.parametrize(("value", "expected"), [
    ("1980-05", {"p1980-05", "p1980-05-10"}),
    ("eq1980-05", {"p1980-05", "p1980-05-10"}),
    ("eq1980", {"p1980", "p1980-05", "p1980-05-10"}),
    ("ne1980-05", {"p1979", "p1980", "p1981", "p2020"}),
    ("gt1980-05", {"p1980", "p1981", "p2020"}),
    ("lt1980-05", {"p1979", "p1980"}),
    ("ge1980-05", {"p1980", "p1980-05", "p1980-05-10", "p1981", "p2020"}),
    ("le1980-05", {"p1979", "p1980", "p1980-05", "p1980-05-10"}),
    ("sa1980-05", {"p1981", "p2020"}),
    ("eb1980-05", {"p1979"}),
    ("ap1980-05", {"p1979", "p1980", "p1980-05", "p1980-05-10", "p1981"}),
    ("1980-05-10T12:00:00Z", set()),
    ("le1980-05-10T12:00:00Z", {"p1979", "p1980", "p1980-05", "p1980-05-10"}),
])
def test_date_prefixes(born: None, search: Search, value: str, expected: set[str]) -> None:
    assert as_set(search("Patient", f"birthdate={value}")) == expected


def test_date_and_or_and_missing(born: None, search: Search) -> None:
    assert as_set(search("Patient", "birthdate=ge1980&birthdate=lt1981")) == {
        "p1980", "p1980-05", "p1980-05-10"}
    assert as_set(search("Patient", "birthdate=1979,2020")) == {"p1979", "p2020"}
    assert ids(search("Patient", "birthdate:missing=true")) == ["unborn"]


def test_period_with_open_ends(store: Store, search: Search) -> None:
    def plan(id_: str, **period: str) -> dict[str, Any]:
        return {"resourceType": "CarePlan", "id": id_, "period": period}

    store(plan("open", start="2026-02-01"), plan("closed", start="2025-01-01", end="2025-06-30"),
          plan("no-start", end="2020-01-01"))
    assert ids(search("CarePlan", "date=ge2030")) == ["open"]
    assert ids(search("CarePlan", "date=2025")) == ["closed"]
    assert search("CarePlan", "date=2025-03").rows == []
    assert as_set(search("CarePlan", "date=sa2024")) == {"open", "closed"}
    assert ids(search("CarePlan", "date=lt2000")) == ["no-start"]
    assert as_set(search("CarePlan", "date=ap2025-03-01")) == {"closed"}


def test_last_updated(store: Store, search: Search) -> None:
    store(patient("old"), last_updated=datetime(2020, 1, 1, 8, 30, tzinfo=UTC))
    store(patient("new"), last_updated=datetime(2024, 6, 1, 12, 0, 0, 123000, tzinfo=UTC))
    assert ids(search("Patient", "_lastUpdated=gt2021")) == ["new"]
    assert ids(search("Patient", "_lastUpdated=2020-01-01")) == ["old"]
    assert ids(search("Patient", "_lastUpdated=2024-06-01T12:00:00.123Z")) == ["new"]
    assert ids(search("Patient", "_lastUpdated=le2020-01-01T08:30:00Z")) == ["old"]
    assert search("Patient", "_lastUpdated=2020-01-01T08:31:00Z").rows == []


# --- uri -----------------------------------------------------------------------------------

def test_uri(store: Store, search: Search) -> None:
    def subscription(id_: str, endpoint: str) -> dict[str, Any]:
        return {"resourceType": "Subscription", "id": id_, "status": "active",
                "channel": {"type": "rest-hook", "endpoint": endpoint}}

    store(subscription("a", "https://partner.example/hooks/a"),
          subscription("b", "https://partner.example/other"),
          {"resourceType": "Subscription", "id": "c", "status": "off",
           "channel": {"type": "email"}})
    assert ids(search("Subscription", "url=https://partner.example/hooks/a")) == ["a"]
    assert ids(search("Subscription", "url=https://partner.example/hooks")) == []
    assert ids(search("Subscription", "url:below=https://partner.example/hooks")) == ["a"]
    assert ids(search("Subscription", "url:above=https://partner.example/hooks/a/b")) == ["a"]
    assert ids(search("Subscription", "url:missing=true")) == ["c"]


# --- result shaping ------------------------------------------------------------------------

@pytest.fixture
def five(store: Store) -> None:
    for index, birth in enumerate(["1990", None, "1970", "1980", None]):
        store(patient(f"p{index}", **({"birthDate": birth} if birth else {})),
              last_updated=datetime(2024, 1, 1 + (index * 3) % 5, tzinfo=UTC))


def test_sort(five: None, search: Search) -> None:
    assert ids(search("Patient", "_sort=birthdate")) == ["p2", "p3", "p0", "p1", "p4"]
    assert ids(search("Patient", "_sort=-birthdate")) == ["p0", "p3", "p2", "p1", "p4"]
    assert ids(search("Patient", "_sort=-_id")) == ["p4", "p3", "p2", "p1", "p0"]
    # last_updated days: p0 1, p1 4, p2 2, p3 5, p4 3
    assert ids(search("Patient", "_sort=_lastUpdated")) == ["p0", "p2", "p4", "p1", "p3"]
    assert ids(search("Patient", "_sort=-_lastUpdated")) == ["p3", "p1", "p4", "p2", "p0"]
    assert ids(search("Patient", "")) == ["p0", "p1", "p2", "p3", "p4"]


def test_paging_and_total(five: None, search: Search) -> None:
    first = search("Patient", "_count=2")
    assert (ids(first), first.total, first.has_next) == (["p0", "p1"], 5, True)
    last = search("Patient", "_count=2&_offset=4")
    assert (ids(last), last.total, last.has_next) == (["p4"], 5, False)
    past = search("Patient", "_count=2&_offset=10")
    assert (ids(past), past.total, past.has_next) == ([], 5, False)
    assert search("Patient", "_count=2&_total=none").total is None
    assert search("Patient", "_count=2&_total=accurate").total == 5
    assert search("Patient", "birthdate:missing=false&_total=estimate").total == 3


def test_summary_count(five: None, search: Search) -> None:
    counted = search("Patient", "_summary=count&birthdate:missing=true")
    assert (counted.rows, counted.total, counted.included) == ([], 2, [])
    zero = search("Patient", "_count=0")
    assert (zero.rows, zero.total, zero.has_next) == ([], 5, False)


def test_deleted_resources_never_match(store: Store, search: Search) -> None:
    store(patient("alive", name=[{"family": "Same"}]))
    store(patient("dead", name=[{"family": "Same"}]), deleted=True)
    assert ids(search("Patient", "name=same")) == ["alive"]
    assert ids(search("Patient", "")) == ["alive"]
    assert ids(search("Patient", "_id=dead")) == []


def test_access_filter_applies_to_matches_and_includes(store: Store, search: Search) -> None:
    store(patient("p1"), patient("secret"), condition("c1", "Patient/p1"),
          condition("c2", "Patient/secret"))

    def hide(entity: Any, resource_types: Any) -> Any:
        return entity.id != "secret"

    assert ids(search("Patient", "", access_filter=hide)) == ["p1"]
    result = search("Condition", "_include=Condition:subject", access_filter=hide)
    assert as_set(result) == {"c1", "c2"}
    assert included_ids(result) == {"Patient/p1"}
    assert ids(search("Condition", "subject.name:missing=true", access_filter=hide)) == ["c1"]


# --- include / revinclude --------------------------------------------------------------------

@pytest.fixture
def care(store: Store) -> None:
    store(patient("p1"), patient("p2"),
          {"resourceType": "Practitioner", "id": "pr1"},
          {"resourceType": "CareTeam", "id": "team", "subject": {"reference": "Patient/p1"},
           "participant": [{"member": {"reference": "Practitioner/pr1"}},
                           {"member": {"reference": "Patient/p1"}}]},
          {"resourceType": "CarePlan", "id": "plan", "subject": {"reference": "Patient/p1"},
           "careTeam": [{"reference": "CareTeam/team"}]},
          condition("c1", "Patient/p1"), condition("c2", "Patient/p1"),
          condition("c3", "Patient/p2"), condition("c4", "Patient/ghost"),
          {"resourceType": "Task", "id": "parent"},
          {"resourceType": "Task", "id": "child", "partOf": [{"reference": "Task/parent"}],
           "owner": {"reference": "Practitioner/pr1"}})
    store(patient("ghost"), deleted=True)


def test_include(care: None, search: Search) -> None:
    result = search("Condition", "_include=Condition:patient")
    assert included_ids(result) == {"Patient/p1", "Patient/p2"}  # de-duplicated, no deleted
    assert len(result.included) == 2
    only = search("Condition", "_id=c3&_include=Condition:subject:Patient")
    assert included_ids(only) == {"Patient/p2"}
    everything = search("CarePlan", "_include=*")
    assert included_ids(everything) == {"Patient/p1", "CareTeam/team"}


def test_include_skips_rows_already_in_the_page(care: None, search: Search) -> None:
    result = search("Task", "_include=Task:part-of&_include=Task:owner")
    assert as_set(result) == {"parent", "child"}
    assert included_ids(result) == {"Practitioner/pr1"}


def test_include_iterate(care: None, search: Search) -> None:
    result = search("CarePlan", "_include=CarePlan:care-team"
                                "&_include:iterate=CareTeam:participant")
    assert included_ids(result) == {"CareTeam/team", "Practitioner/pr1", "Patient/p1"}


def test_revinclude(care: None, search: Search) -> None:
    result = search("Patient", "_id=p1&_revinclude=Condition:patient"
                               "&_revinclude=CareTeam:participant")
    assert included_ids(result) == {"Condition/c1", "Condition/c2", "CareTeam/team"}
    nothing = search("Patient", "_id=p2&_revinclude=CareTeam:participant")
    assert nothing.included == []


def test_include_limit(care: None, session_factory: Any,
                       registry: SearchParameterRegistry) -> None:
    request = parse_search("Patient", query("_id=p1&_revinclude=Condition:patient"), registry,
                           lenient=False, default_count=10, max_count=10)
    request.include_limit = 1
    with session_factory() as session:
        result = execute_search(session, request, registry, access_filter=None)
    assert len(result.included) == 1 and result.include_truncated


# --- the write side ------------------------------------------------------------------------

def test_reindex_replaces_and_clear_index_removes(store: Store, search: Search,
                                                  session_factory: Any,
                                                  registry: SearchParameterRegistry) -> None:
    (row,) = store(patient("p", name=[{"family": "Before"}], gender="male"))
    with session_factory() as session:
        row = session.get(ResourceRow, row.pk)
        reindex(session, row, patient("p", name=[{"family": "After"}]), registry)
        session.commit()
    assert ids(search("Patient", "name=after")) == ["p"]
    assert ids(search("Patient", "name=before")) == []
    assert ids(search("Patient", "gender=male")) == []
    with session_factory() as session:
        clear_index(session, row.pk)
        session.commit()
        assert session.query(StringIndex).filter_by(resource_pk=row.pk).count() == 0
        assert session.query(TokenIndex).filter_by(resource_pk=row.pk).count() == 0


def test_reindex_of_a_deleted_row_writes_nothing(session_factory: Any,
                                                 registry: SearchParameterRegistry) -> None:
    with session_factory() as session:
        row = ResourceRow(resource_type="Patient", id="d", version_id=2, deleted=True,
                          last_updated=datetime(2024, 1, 1, tzinfo=UTC), content=None)
        session.add(row)
        reindex(session, row, patient("d", name=[{"family": "X"}]), registry)  # flushes for pk
        session.commit()
        assert row.pk is not None
        assert session.query(StringIndex).filter_by(resource_pk=row.pk).count() == 0


def test_a_deferring_index_writer_holds_rows_until_flush(store: Store, search: Search,
                                                         session_factory: Any,
                                                         registry: SearchParameterRegistry
                                                         ) -> None:
    (kept, dropped) = store(patient("k", name=[{"family": "Old"}]),
                            patient("r", name=[{"family": "Gone"}]))
    with session_factory() as session:
        writer = IndexWriter(session, registry, BASE_URL)
        writer.defer()
        writer.reindex(session.get(ResourceRow, kept.pk), patient("k", name=[{"family": "New"}]))
        savepoint = session.begin_nested()
        held = writer.snapshot()
        writer.reindex(session.get(ResourceRow, dropped.pk),
                       patient("r", name=[{"family": "Rolledback"}]))
        savepoint.rollback()
        writer.restore(held)
        # Held, not written: the old rows were cleared, the new ones wait for flush().
        assert session.query(StringIndex).filter_by(resource_pk=kept.pk).count() == 0
        writer.flush()
        session.commit()
    assert ids(search("Patient", "name=new")) == ["k"]
    assert ids(search("Patient", "name=old")) == []
    # The rolled-back write left the stored rows as they were and its held rows were dropped.
    assert ids(search("Patient", "name=gone")) == ["r"]
    assert ids(search("Patient", "name=rolledback")) == []

"""Consumers in the console: the search (name, consumer id, agency number, Medicaid id), its
paging and empty states, and a consumer's page (care team with the current CSM/SC marked and
its change requests, goals in the consumer's words, due Tasks with overdue ones flagged,
consents active, expired and revoked)."""
from __future__ import annotations

import re

from gateway.mappings.ids import fhir_id


def consumer(local_id: str) -> str:
    return fhir_id("consumer", local_id)


def text(page: str) -> str:
    """The page's words, without tags or repeated spaces."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_search_by_name_consumer_id_agency_number_and_medicaid_id(demo_agency, signed_in):
    console = signed_in("carl")
    elena = f"/console/consumers/{consumer('C-1001')}"
    for query in ("Martínez", "C-1001", "2019-0417", "0014382291"):
        page = console.get("/console/consumers", query_string={"q": query})
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert elena in body, query
        assert "1 consumer found" in text(body), query
    nobody = console.get("/console/consumers?q=Zzyzxwq").get_data(as_text=True)
    assert "No consumer has that name or number" in nobody


def test_a_bad_query_is_refused_next_to_the_field(demo_agency, signed_in):
    console = signed_in("carl")
    answer = console.get("/console/consumers", query_string={"q": "x" * 101})
    assert answer.status_code == 400
    body = answer.get_data(as_text=True)
    assert 'id="q-error"' in body and 'aria-describedby="q-error"' in body
    control = console.get("/console/consumers", query_string={"q": "Elena\x01"})
    assert control.status_code == 400


def test_every_consumer_is_listed_page_by_page(demo_agency, signed_in):
    console = signed_in("ines")
    first = console.get("/console/consumers").get_data(as_text=True)
    assert "Page 1 of 2" in first
    links = set(re.findall(r'href="/console/consumers/([0-9a-f-]{36})"', first))
    assert len(links) == 25
    second = console.get("/console/consumers?page=2").get_data(as_text=True)
    rest = set(re.findall(r'href="/console/consumers/([0-9a-f-]{36})"', second))
    assert rest and not rest & links
    past_the_end = console.get("/console/consumers?page=99").get_data(as_text=True)
    assert "Page 2 of 2" in past_the_end
    assert console.get("/console/consumers?page=abc").status_code == 200


def test_no_consumers_yet_is_an_empty_state(signed_in):
    page = signed_in("carl").get("/console/consumers").get_data(as_text=True)
    assert "No consumers yet" in page


def test_a_consumers_page_shows_team_change_requests_goals_due_tasks_and_consents(
        demo_agency, signed_in):
    console = signed_in("carl")
    ahmad = text(console.get(f"/console/consumers/{consumer('C-1006')}").get_data(as_text=True))
    assert "Luis Ángel Ramírez current CSM/SC" in ahmad
    assert "not honored" in ahmad and "the only Arabic-speaking case manager" in ahmad
    assert "I want to pass the driving test so I can drive for work." in ahmad
    assert "Person-centered plan review due" in ahmad

    gerald = console.get(f"/console/consumers/{consumer('C-1009')}").get_data(as_text=True)
    assert "Comprehensive assessment due" in gerald
    assert re.search(r'<tr class="overdue"><td>Comprehensive assessment due', gerald)
    assert "s-consent-expired" in gerald and "s-consent-active" in gerald
    # A past case manager stays on the team, with the day the assignment ended.
    assert "Wed 31 May 2023" in text(gerald)

    honored = text(console.get(f"/console/consumers/{consumer('C-1007')}").get_data(
        as_text=True))
    assert "honored" in honored and "not honored" not in honored
    revoked = console.get(f"/console/consumers/{consumer('C-1011')}").get_data(as_text=True)
    assert "s-consent-revoked" in revoked


def test_the_disclosure_link_is_offered_only_to_roles_that_may_open_it(demo_agency,
                                                                      signed_in):
    path = f"/console/consumers/{consumer('C-1001')}"
    assert "/disclosures" not in signed_in("carl").get(path).get_data(as_text=True)
    assert f"{path}/disclosures" in signed_in("petra").get(path).get_data(as_text=True)


def test_an_unknown_consumer_is_a_page_saying_so(demo_agency, signed_in):
    answer = signed_in("carl").get(f"/console/consumers/{consumer('C-9999')}")
    assert answer.status_code == 404
    assert "There is no consumer here" in answer.get_data(as_text=True)


def test_overdue_work_from_the_home_page(demo_agency, signed_in):
    console = signed_in("carl")
    home = console.get("/console/home").get_data(as_text=True)
    assert "/console/due?kind=comprehensive-assessment" in home
    page = console.get("/console/due?kind=comprehensive-assessment").get_data(as_text=True)
    gerald = f"/console/consumers/{consumer('C-1009')}"
    assert gerald in page and "Wed 14 Mar 2018" in page and "days overdue" in page
    counts = re.search(r"Comprehensive assessment due \((\d+)\)", page)
    assert counts and int(counts.group(1)) == page.count('<tr class="overdue">')
    everything = console.get("/console/due").get_data(as_text=True)
    assert gerald in everything
    odd = console.get("/console/due?kind=nonsense").get_data(as_text=True)
    assert "There is no such kind of due work" in odd


def test_nothing_overdue_is_an_empty_state(signed_in):
    page = signed_in("ines").get("/console/due").get_data(as_text=True)
    assert "Nothing is overdue" in page

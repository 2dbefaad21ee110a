"""The demo agency (fixtures/agency) and the generator of larger ones (benchmarks/generate_agency).

Both must read cleanly, pass the record formats, and hang together: every reference resolves,
dates agree, and the cases the demo promises (README there, INTERFACE.md) are really in the data.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate_agency import FILES, generate
from gateway.adapters.local_files import iter_records
from gateway.config import PROJECT_ROOT
from gateway.local.schemas import record_problems

AGENCY = PROJECT_ROOT / "fixtures" / "agency"
TODAY = "2026-11-23"  # "today" in the demo data
CASE_MANAGEMENT = ("case-manager", "supports-coordinator")
# The demo partners (fixtures/partners) are these organizations.
DEMO_PARTNERS = {"primary-care": "ORG-PCP-CEDAR", "hospital": "ORG-HOSP-STBRIGID",
                 "school": "ORG-SCH-WALNUT", "court": "ORG-COURT-PROBATE"}

Records = dict[str, dict[str, dict[str, Any]]]  # type -> id -> record


def load(folder: Path) -> tuple[Records, list[str]]:
    """Every record by type and id, and every way one fails to read or to conform."""
    records: Records = defaultdict(dict)
    problems = []
    for item in iter_records([folder]):
        if item.error:
            problems.append(f"{item.source}: {item.error}")
            continue
        problems += [f"{item.source}: {p.path}: {p.message}" for p in record_problems(item.record)]
        record = item.record
        if record.get("id") in records[record.get("type")]:
            problems.append(f"{item.source}: duplicate id {record['id']}")
        records[record["type"]][record["id"]] = record
    return records, problems


def is_current(assignment: dict[str, Any], day: str = TODAY) -> bool:
    return assignment["start"] <= day and assignment.get("end", "9999-12-31") >= day


def consent_state(consent: dict[str, Any], day: str = TODAY) -> str:
    if "revoked_on" in consent and consent["revoked_on"] <= day:
        return "revoked"
    if consent["effective"] > day:
        return "not-yet-effective"
    return "expired" if consent.get("expires", "9999-12-31") < day else "active"


def reference_problems(records: Records) -> list[str]:
    """Every reference that points at no record, and every date out of order."""
    problems: list[str] = []
    orgs, staff, consumers, plans = (records[t] for t in ("organization", "staff", "consumer",
                                                          "plan"))

    def expect(present: bool, record: dict[str, Any], what: str) -> None:
        if not present:
            problems.append(f"{record['type']} {record['id']}: {what}")

    def points(ids: Iterable[str | None], table: dict[str, Any], record: dict[str, Any],
               what: str) -> None:
        for target in ids:
            expect(target is None or target in table, record, f"{what} {target} is unknown")

    for record in (r for table in records.values() for r in table.values()):
        expect("2026-01-01" <= record["updated_at"][:10] <= TODAY, record,
               f"updated_at {record['updated_at']} is not in 2026 up to {TODAY}")
    for org in orgs.values():
        points([org.get("part_of")], orgs, org, "part_of")
    for member in staff.values():
        points([member["organization"]], orgs, member, "organization")
        points([member.get("supervisor")], staff, member, "supervisor")
    for a in records["assignment"].values():
        points([a["consumer"]], consumers, a, "consumer")
        points([a["member"].get("staff")], staff, a, "member.staff")
        points([a["member"].get("organization"), a.get("on_behalf_of")], orgs, a, "organization")
        expect(a["start"] <= a.get("end", a["start"]), a, "ends before it starts")
        request = a.get("change_request")
        if request:
            points([request.get("requested_staff"), request.get("decided_by")], staff, a,
                   "change_request staff")
            expect(a["start"] <= request["requested_on"] <= request.get("decided_on", "9999"),
                   a, "change request dates out of order")
    for plan in plans.values():
        points([plan["consumer"]], consumers, plan, "consumer")
        points([plan["author"]], staff, plan, "author")
        start, end = plan["period"]["start"], plan["period"].get("end", "9999-12-31")
        expect(start <= end, plan, "period ends before it starts")
        expect("last_review" not in plan or start <= plan["last_review"] <= TODAY, plan,
               "last_review outside the plan")
        # Plans sit within assignments: the author was the consumer's case manager then.
        expect(any(a["consumer"] == plan["consumer"] and a["role"] in CASE_MANAGEMENT
                   and a["member"].get("staff") == plan["author"] and is_current(a, start)
                   for a in records["assignment"].values()), plan,
               "author was not the consumer's case manager when the plan started")
        goals = {goal["id"] for goal in plan.get("goals", [])}
        for service in plan.get("services", []):
            points([service.get("provider")], orgs, plan, f"service {service['id']} provider")
            points([service.get("provider_staff")], staff, plan, f"service {service['id']}")
            points(service.get("goals", []), goals, plan, f"service {service['id']} goal")
            expect(service.get("attended", 0) <= service.get("scheduled", 0), plan,
                   f"service {service['id']} attended more than scheduled")
    for item in records["assessment"].values():
        points([item["consumer"]], consumers, item, "consumer")
        points([item.get("completed_by")], staff, item, "completed_by")
        points([item.get("plan")], plans, item, "plan")
        expect(item.get("plan") is None or plans[item["plan"]]["consumer"] == item["consumer"],
               item, "plan of another consumer")
        expect(item.get("completed_on", "") <= TODAY, item, "completed in the future")
    for consent in records["consent"].values():
        points([consent["consumer"]], consumers, consent, "consumer")
        points([consent["recipient"]], orgs, consent, "recipient")
        expect(consent["signed_on"] <= consent["effective"] < consent["expires"], consent,
               "signed, effective and expires out of order")
        expect(consent.get("revoked_on", consent["effective"]) >= consent["effective"],
               consent, "revoked before it took effect")
    for referral in records["referral"].values():
        points([referral["consumer"]], consumers, referral, "consumer")
        points([referral.get("source"), referral.get("target")], orgs, referral, "organization")
        day = referral.get("received_on") or referral.get("sent_on") or ""
        expect(day <= TODAY and day <= referral.get("due_on", day), referral, "dates")
    return problems


# -- the demo agency -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def agency() -> Records:
    records, problems = load(AGENCY)
    assert problems == []
    return records


def test_every_fixture_record_reads_and_conforms() -> None:
    records, problems = load(AGENCY)
    assert problems == []
    assert {t: len(v) for t, v in records.items()} == {
        "organization": 14, "staff": 8, "consumer": 42, "assignment": 107, "plan": 45,
        "assessment": 160, "consent": 45, "referral": 15}


def test_file_layout() -> None:
    names = sorted(p.name for p in AGENCY.iterdir())
    assert names == sorted((*FILES, "README.md"))
    sources = defaultdict(set)
    for item in iter_records([AGENCY]):
        sources[Path(item.source.split(":")[0].split("[")[0]).name].add(item.record["type"])
    assert sources == {"organizations.csv": {"organization"}, "staff.csv": {"staff"},
                       "consumers.csv": {"consumer"}, "consumers.ndjson": {"consumer"},
                       "assignments.ndjson": {"assignment"}, "plans.json": {"plan"},
                       "assessments.ndjson": {"assessment"}, "consents.ndjson": {"consent"},
                       "referrals.ndjson": {"referral"}}
    csv_half = sum(1 for i in iter_records([AGENCY / "consumers.csv"]))
    ndjson_half = sum(1 for i in iter_records([AGENCY / "consumers.ndjson"]))
    assert csv_half == ndjson_half == 21


def test_referential_integrity_and_dates(agency: Records) -> None:
    assert reference_problems(agency) == []


def test_organizations(agency: Records) -> None:
    orgs = agency["organization"].values()
    kinds = defaultdict(list)
    for org in orgs:
        kinds[org["kind"]].append(org)
    [main] = kinds["agency"]
    [access] = kinds["local-access"]
    assert access["part_of"] == main["id"]
    active = {kind: [o for o in found if o.get("active", True)] for kind, found in kinds.items()}
    assert len(active["primary-care"]) >= 2 and len(active["hospital"]) >= 1
    assert len(active["school"]) >= 2 and len(active["court"]) == 1
    assert len(active["probation"]) == 1 and len(active["provider"]) >= 2
    names = " ".join(o["name"] for o in kinds["provider"])
    assert "Peer" in names and "Recovery" in names  # a peer-run center and an SUD program
    for kind, org_id in DEMO_PARTNERS.items():
        assert agency["organization"][org_id]["kind"] == kind


def test_staff(agency: Records) -> None:
    staff = list(agency["staff"].values())
    assert len(staff) == 8
    case_managers = [s for s in staff if set(s["roles"]) & set(CASE_MANAGEMENT)]
    assert {"en", "es", "ar", "vi"} <= {lang for s in case_managers for lang in s["languages"]}
    assert len({s["gender"] for s in staff}) >= 3
    assert {"deaf-hard-of-hearing", "autism", "co-occurring-sud", "youth-and-family",
            "trauma-informed", "forensic"} <= {k for s in staff for k in s.get("skills", [])}
    assert "ase" in {lang for s in staff for lang in s["languages"]}  # ASL
    roles = [role for s in staff for role in s["roles"]]
    assert 1 <= roles.count("supervisor") <= 2
    for role in ("therapist", "psychiatrist", "peer-support-specialist", "supports-coordinator"):
        assert role in roles
    assert {"LMSW", "LLPC", "QMHP", "QIDP", "CPSS", "MD"} <= {
        c for s in staff for c in s.get("credentials", [])}


def age(record: dict[str, Any]) -> int:
    born, today = date.fromisoformat(record["birth_date"]), date.fromisoformat(TODAY)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def test_consumers(agency: Records) -> None:
    consumers = list(agency["consumer"].values())
    assert len(consumers) >= 40
    groups = defaultdict(list)
    for consumer in consumers:
        for eligibility in consumer["eligibility"]:
            groups[eligibility["group"]].append(consumer)
    assert all(age(c) >= 18 for c in groups["mental-illness"])
    assert len(groups["mental-illness"]) >= 10 and len(groups["developmental-disability"]) >= 8
    children = groups["serious-emotional-disturbance"]
    assert len(children) >= 8 and all(age(c) < 18 and "guardian" in c for c in children)
    assert any("guardian" in c and age(c) >= 18 for c in groups["developmental-disability"])
    assert sum("medicaid_id" in c["identifiers"] for c in consumers) >= 30
    assert sum(c.get("interpreter_needed", False) for c in consumers) >= 5
    assert sum(c.get("active", True) is False for c in consumers) >= 1
    names = " ".join(c["name"]["family"] for c in consumers)
    assert re.search(r"[^\x00-\x7f]", names)  # accents and diacritics
    for consumer in consumers:
        assert consumer["addresses"][0]["state"] == "MI"
        for contact in consumer.get("contacts", []):
            assert contact["kind"] == "email" or "-555-" in contact["value"]


def case_management(agency: Records) -> dict[str, list[dict[str, Any]]]:
    by_consumer = defaultdict(list)
    for a in agency["assignment"].values():
        if a["role"] in CASE_MANAGEMENT:
            by_consumer[a["consumer"]].append(a)
    return by_consumer


def test_every_active_consumer_has_one_current_case_manager(agency: Records) -> None:
    by_consumer = case_management(agency)
    for consumer in agency["consumer"].values():
        current = [a for a in by_consumer[consumer["id"]] if is_current(a)]
        assert len(current) == (1 if consumer.get("active", True) else 0), consumer["id"]
        history = sorted(by_consumer[consumer["id"]], key=lambda a: a["start"])
        for before, after in zip(history, history[1:], strict=False):
            assert before["end"] < after["start"], consumer["id"]  # no overlaps
    past = [a for found in by_consumer.values() for a in found if "end" in a]
    assert len({a["consumer"] for a in past}) >= 15


def test_outside_team_members(agency: Records) -> None:
    assignments = list(agency["assignment"].values())
    orgs = agency["organization"]

    def outside(role: str) -> list[dict[str, Any]]:
        return [a for a in assignments if a["role"] == role]

    pcps = outside("pcp")
    assert len(pcps) >= 10
    for a in pcps:
        org = a["member"].get("organization") or a["on_behalf_of"]
        assert orgs[org]["kind"] == "primary-care"
    assert any("person" in a["member"] for a in pcps)
    assert any("organization" in a["member"] for a in pcps)
    for role, kind in (("school-counselor", "school"), ("probation-officer", "probation")):
        found = outside(role)
        assert found and all(orgs[a["on_behalf_of"]]["kind"] == kind for a in found)


def test_consumer_requested_changes(agency: Records) -> None:
    by_consumer = case_management(agency)
    requests = defaultdict(list)
    for found in by_consumer.values():
        for a in found:
            if "change_request" in a:
                requests[a["change_request"]["status"]].append(a)
    assert requests["honored"] and requests["not-honored"] and requests["pending"]
    for old in requests["honored"]:
        request = old["change_request"]
        assert "end" in old and request["decided_on"] <= old["end"]
        [new] = [a for a in by_consumer[old["consumer"]] if a["start"] > old["end"]][:1]
        assert new["chosen_by"] == "consumer"
        assert new["member"]["staff"] == request["requested_staff"]
    for kept in requests["not-honored"] + requests["pending"]:
        assert is_current(kept)
    for kept in requests["not-honored"]:
        assert kept["change_request"]["explanation"] and kept["change_request"]["decided_on"]


def test_plans(agency: Records) -> None:
    plans = defaultdict(list)
    for plan in agency["plan"].values():
        plans[plan["consumer"]].append(plan)
    consumers = agency["consumer"]
    for consumer in consumers.values():
        if not consumer.get("active", True):
            assert all(p["status"] != "active" for p in plans[consumer["id"]])
            continue
        [current] = [p for p in plans[consumer["id"]] if p["status"] in ("active", "draft")]
        assert 2 <= len(current["goals"]) <= 5, consumer["id"]
        assert all(g["consumer_words"] and g.get("desired_outcome") for g in current["goals"])
        assert current["services"] and all(
            s["frequency"] and (s.get("provider") or s.get("provider_staff"))
            for s in current["services"])
        assert current["review_frequency_months"]
        assert current["status"] == "draft" or current["last_review"]
    active = [p for p in agency["plan"].values() if p["status"] == "active"]
    assert sum(bool(p.get("natural_supports")) for p in active) >= len(active) - 2
    relationships = {s["relationship"] for p in active for s in p.get("natural_supports", [])}
    assert {"mother", "friend", "peer"} <= relationships
    substance_use = [p for p in active if any(g.get("substance_use") for g in p["goals"])]
    assert len(substance_use) >= 3
    assert any(s.get("substance_use") for p in substance_use for s in p["services"])
    school = [p for p in active if any(g.get("school_relevant") for g in p["goals"])]
    assert len(school) >= 5 and all(age(consumers[p["consumer"]]) < 18 for p in school)


def test_assessment_clock(agency: Records) -> None:
    applied = {c["id"]: date.fromisoformat(c["application_date"])
               for c in agency["consumer"].values()}
    delays = [(date.fromisoformat(a["completed_on"]) - applied[a["consumer"]]).days
              for a in agency["assessment"].values()
              if a["kind"] == "initial-comprehensive" and a["status"] == "completed"]
    assert sum(d <= 30 for d in delays) >= 10 and sum(d > 30 for d in delays) >= 2
    latest: dict[str, str] = {}
    for a in agency["assessment"].values():
        if a["kind"] != "periodic-review" and a["status"] == "completed":
            latest[a["consumer"]] = max(latest.get(a["consumer"], ""), a["completed_on"])
    year_ago = "2025-11-23"
    overdue = [c for c, day in latest.items()
               if day < year_ago and agency["consumer"][c].get("active", True)]
    assert len(overdue) >= 2
    reviews = [a for a in agency["assessment"].values() if a["kind"] == "periodic-review"]
    assert reviews and all(a.get("plan") for a in reviews)


def test_consents_of_every_kind(agency: Records) -> None:
    consents = list(agency["consent"].values())
    states = {consent_state(c) for c in consents}
    assert {"active", "expired", "revoked", "not-yet-effective"} <= states
    assert {True, False} <= {c.get("part2", False) for c in consents}
    assert any(c.get("part2") and consent_state(c) == "active" for c in consents)
    kinds = {agency["organization"][c["recipient"]]["kind"] for c in consents}
    assert {"primary-care", "hospital", "school", "court", "probation", "provider"} <= kinds
    assert {"consumer", "guardian"} <= {c["signed_by"] for c in consents}
    assert any("resource_types" in c["share"] for c in consents)


@pytest.mark.parametrize("kind", sorted(DEMO_PARTNERS))
def test_each_demo_partner_has_consumers_with_and_without_consent(agency: Records,
                                                                  kind: str) -> None:
    partner = DEMO_PARTNERS[kind]
    with_consent = {c["consumer"] for c in agency["consent"].values()
                    if c["recipient"] == partner and consent_state(c) == "active"}
    active = {c["id"] for c in agency["consumer"].values() if c.get("active", True)}
    assert len(with_consent & active) >= 2
    assert len(active - with_consent) >= 10


def test_referrals(agency: Records) -> None:
    referrals = list(agency["referral"].values())
    kind = {org_id: org["kind"] for org_id, org in agency["organization"].items()}
    incoming = [r for r in referrals if r["direction"] == "incoming"]
    outgoing = [r for r in referrals if r["direction"] == "outgoing"]
    assert {kind[r["source"]] for r in incoming} >= {"hospital"}
    assert {kind[r["target"]] for r in outgoing} >= {"primary-care", "provider"}
    assert any(r["target"] == "ORG-PROV-SECONDWIND" for r in outgoing)  # the SUD program
    assert len({r["status"] for r in incoming if kind[r["source"]] == "hospital"}) >= 4
    assert len({r["status"] for r in outgoing}) >= 4


def test_readme_names_every_consumer(agency: Records) -> None:
    readme = (AGENCY / "README.md").read_text(encoding="utf-8")
    assert [c for c in agency["consumer"] if f"| {c} |" not in readme] == []


# -- the generator ---------------------------------------------------------------------------------

def test_generated_agency_conforms_and_hangs_together(tmp_path: Path) -> None:
    counts = generate(tmp_path, 50, seed=7)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    records, problems = load(tmp_path)
    assert problems == []
    assert reference_problems(records) == []
    assert {t: len(v) for t, v in records.items()}["consumer"] == 50
    assert counts["consumers.csv"] == counts["consumers.ndjson"] == 25
    assert sum(counts.values()) == sum(len(v) for v in records.values())
    by_consumer = defaultdict(list)
    for a in records["assignment"].values():
        if a["role"] in CASE_MANAGEMENT and is_current(a):
            by_consumer[a["consumer"]].append(a)
    for consumer in records["consumer"].values():
        assert len(by_consumer[consumer["id"]]) == (1 if consumer["active"] else 0)


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(first, 50, seed=3)
    generate(second, 50, seed=3)
    generate(other, 50, seed=4)
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "consumers.csv").read_bytes() != (other / "consumers.csv").read_bytes()


def test_generator_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.generate_agency import main

    assert main(["--consumers", "5", "--seed", "1", "--out", str(tmp_path)]) == 0
    assert "records in" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["--consumers", "0", "--out", str(tmp_path)])
    assert exit_.value.code == 2

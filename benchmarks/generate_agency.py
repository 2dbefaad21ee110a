"""A synthetic agency of any size, in the layout of ``fixtures/agency/``, for import benchmarks.

    .venv/bin/python benchmarks/generate_agency.py --consumers 10000 --seed 1 --out var/agency

Writes organizations.csv, staff.csv, consumers.csv (the first half of the consumers),
consumers.ndjson (the rest), assignments.ndjson, plans.json (a JSON array), assessments.ndjson,
consents.ndjson and referrals.ndjson into ``--out``, each record as it is made, so memory stays
flat. The same ``--consumers`` and ``--seed`` always give byte-identical files. Ten thousand
consumers (about 110,000 records; some 190,000 FHIR resources once imported, at about 19 per
consumer) take a few seconds.

The shape follows the demo agency: 55% adults with mental illness (some with substance use),
20% with developmental disabilities, 25% children with serious emotional disturbance, each
child with a parent or guardian; case-manager histories with consumer-requested changes
(honored, not honored, pending, withdrawn); outside team members (PCPs, school counselors,
probation officers); plans with goals in the consumer's words, services and natural supports;
initial assessments (a few late), annual reassessments (a few overdue) and periodic reviews;
consents to every partner kind (active, expired, revoked, not yet effective; Part 2 for
substance-use programs); incoming hospital and school referrals and outgoing ones. "Today" is
2026-11-23, as in the fixtures; ids do not collide with theirs (``C-200001``, ``S-20001``,
``ORG-G-…``).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script: make `gateway` importable
    sys.path.insert(0, str(PROJECT_ROOT))

from gateway.adapters.local_files import csv_cells  # noqa: E402

TODAY = date(2026, 11, 23)
MIGRATED = date(2026, 1, 5)  # as in the fixtures: no updated_at before the system moved
MI, DD, SED = "mental-illness", "developmental-disability", "serious-emotional-disturbance"
FILES = ("organizations.csv", "staff.csv", "consumers.csv", "consumers.ndjson",
         "assignments.ndjson", "plans.json", "assessments.ndjson", "consents.ndjson",
         "referrals.ndjson")

ORG_HEADER = ["type", "id", "updated_at", "name", "kind", "part_of", "identifiers.npi",
              "identifiers.tax_id", "identifiers.nces_id", "contacts.phone.work",
              "contacts.fax.work", "contacts.email.work", "addresses.0.lines",
              "addresses.0.city", "addresses.0.state", "addresses.0.postal_code",
              "addresses.0.use", "active"]
STAFF_HEADER = ["type", "id", "updated_at", "name.prefix", "name.given", "name.family",
                "name.preferred", "gender", "roles", "credentials", "languages", "skills", "npi",
                "organization", "supervisor", "contacts.phone.work", "contacts.sms.mobile",
                "contacts.email.work", "active"]
CONSUMER_HEADER = [
    "type", "id", "updated_at", "name.given", "name.family", "name.preferred", "birth_date",
    "gender", "language", "interpreter_needed", "identifiers.agency_number",
    "identifiers.medicaid_id", "eligibility.0.group", "eligibility.0.since",
    "eligibility.1.group", "eligibility.1.since", "application_date", "contacts.phone.mobile",
    "contacts.phone.home", "contacts.sms.mobile", "contacts.email.home", "addresses.0.lines",
    "addresses.0.city", "addresses.0.state", "addresses.0.postal_code", "addresses.0.use",
    "guardian.name.given", "guardian.name.family", "guardian.relationship",
    "guardian.contacts.phone.mobile", "guardian.contacts.phone.home",
    "guardian.contacts.email.home", "guardian.addresses.0.lines", "guardian.addresses.0.city",
    "guardian.addresses.0.state", "guardian.addresses.0.postal_code", "active",
]

# -- vocabularies ------------------------------------------------------------------------------

FEMALE = ("Maria", "Elena", "Aisha", "Grace", "Lucía", "Hannah", "Fatima", "Priya", "Olga",
          "Mei", "Zoe", "Amara", "Nour", "Thu", "Chloé", "Keisha", "Sofía", "Ingrid", "Leila",
          "Renée", "Yasmin", "Brianna", "Kateryna", "Hoa", "Ji-woo", "Imani", "Emily",
          "Destiny", "Marisol", "Anjali")
MALE = ("James", "Mateo", "Omar", "Samuel", "Diego", "Kofi", "Wei", "Ivan", "Noah", "José",
        "Tyler", "Minh", "Andre", "Yusuf", "Łukasz", "DeShawn", "Bảo", "Rafael", "Elijah",
        "Caleb", "Jamal", "Kenji", "Abdi", "Jean-Luc", "Liam", "Marcus", "Tomás", "Hamid",
        "Raymond", "Gerald")
FAMILY = ("Martínez", "Johnson", "Nguyễn", "Okafor", "Haddad", "Kowalski", "Williams", "Chen",
          "García", "Smith", "Al-Sayed", "Trần", "Nowak", "Hernández", "Brown", "Kiogima",
          "Warsame", "Müller", "O'Connell", "Washington", "Hodžić", "Park", "Mukendi",
          "Bergström", "Rollins", "Szymanski", "Vandermeer", "Laurent", "Reyes", "Lê",
          "Abdullahi", "Sánchez", "El-Amin", "Whitmore", "Pruitt", "Draper", "Okonkwo",
          "Turner", "Brooks", "Hamdan", "Watanabe", "Fletcher", "Carter", "Hutchins",
          "Villanueva", "Raghunathan", "Kowalczyk", "Jankowski", "Zielińska", "Peña")
LANGUAGES = (("en", 0.82), ("es", 0.07), ("ar", 0.04), ("vi", 0.02), ("so", 0.01),
             ("fr", 0.01), ("zh", 0.01), ("bs", 0.005), ("ase", 0.015))
CITIES = (("Lansing", ("48906", "48910", "48911", "48912", "48915", "48917", "48933")),
          ("East Lansing", ("48823",)), ("Okemos", ("48864",)), ("Holt", ("48842",)),
          ("Mason", ("48854",)), ("Haslett", ("48840",)), ("DeWitt", ("48820",)),
          ("Grand Ledge", ("48837",)), ("Charlotte", ("48813",)),
          ("Williamston", ("48895",)), ("St. Johns", ("48879",)))
STREETS = ("Elm St", "Maple Ave", "Oak St", "W Saginaw St", "E Michigan Ave", "S Cedar St",
           "N Washington Ave", "Jolly Rd", "Miller Rd", "Holmes Rd", "Willow St", "Pine St",
           "Hagadorn Rd", "Okemos Rd", "Aurelius Rd", "E Grand River Ave", "Waverly Rd",
           "Kalamazoo St", "Pennsylvania Ave", "Lake Lansing Rd", "Mount Hope Ave",
           "Haslett Rd", "Burcham Dr", "Moores River Dr")
AREA_CODES = ("517", "269", "616", "734", "810", "989", "231", "906")
PARENTS = (("mother", 0.55), ("father", 0.2), ("grandmother", 0.12), ("aunt", 0.05),
           ("foster-parent", 0.04), ("legal-guardian", 0.04))
ADULT_GUARDIANS = (("mother", 0.35), ("father", 0.15), ("sister", 0.15), ("brother", 0.1),
                   ("legal-guardian", 0.2), ("nephew", 0.05))
SUPPORTS = (("mother", "Drives to appointments"), ("father", "Weekend check-ins"),
            ("sister", "Helps with the monthly budget"), ("brother", "Calls every evening"),
            ("friend", "Goes to the community center together"),
            ("neighbor", "Checks in every morning"), ("spouse", "Comes to planning meetings"),
            ("grandmother", "After-school care"), ("peer", "Recovery group buddy"),
            ("faith-leader", "Visits after services"), ("cousin", "Rides to work"),
            ("roommate", "Shares chores and reminders"))

# Goals: (the consumer's words, desired outcome, domain, service codes, flags)
MI_GOALS = (
    ("I want to keep my apartment and pay my rent on time.", "Rent paid on time for a year.",
     "housing", ("case-management", "housing-assistance"), {}),
    ("I want to stay out of the hospital this year.", "No psychiatric admissions for 12 months.",
     "mental-health", ("medication-review", "case-management"), {}),
    ("I want to get a part-time job.", "Working 15-20 hours a week.", "employment",
     ("supported-employment",), {}),
    ("I want to feel calm enough to take the bus by myself.", "Rides the bus alone weekly.",
     "mental-health", ("individual-therapy", "peer-support"), {}),
    ("I want to sleep through the night.", "Sleeps 6 hours on most nights.", "mental-health",
     ("individual-therapy", "medication-review"), {}),
    ("I want a doctor for my body, not just my mind.", "Established with a primary care doctor.",
     "physical-health", ("case-management",), {}),
    ("I want to see my kids more.", "Regular parenting time.", "relationships",
     ("case-management",), {}),
    ("I want friends and something to do during the day.", "Goes out three days a week.",
     "community", ("drop-in-center", "peer-support"), {}),
    ("I want to take my medicine the right way.", "Misses fewer than one dose a week.",
     "physical-health", ("medication-review",), {}),
    ("I want to get my GED.", "Passes the GED tests.", "education", ("case-management",), {}),
    ("I want to stop feeling so alone.", "Weekly contact with friends or family.",
     "relationships", ("peer-support", "group-therapy"), {}),
    ("I want to manage my own money.", "Pays bills on time without help.", "finances",
     ("skill-building",), {}),
)
SUD_GOALS = (
    ("I want to stay clean.", "Negative drug screens for six months.", "substance-use",
     ("sud-outpatient", "peer-support"), {"substance_use": True}),
    ("I want to stop drinking during the week.", "Sober on weekdays for three months.",
     "substance-use", ("sud-outpatient", "group-therapy"), {"substance_use": True}),
    ("I want to stay off pills and keep my family together.", "Stable on MAT; family intact.",
     "substance-use", ("medication-assisted-treatment",), {"substance_use": True}),
)
DD_GOALS = (
    ("I want my own job in the community.", "Paid job, 10 hours a week.", "employment",
     ("supported-employment",), {}),
    ("I want to go to the Y by myself.", "Rides the bus to the Y alone twice a week.",
     "community", ("community-living-supports",), {}),
    ("I want to make my own lunch.", "Makes lunch four days out of five.", "daily-living",
     ("community-living-supports", "skill-building"), {}),
    ("I want to live with a roommate.", "Moves into a shared apartment with supports.",
     "housing", ("supports-coordination",), {}),
    ("I want to use my tablet to tell people what I need.", "Uses the communication app daily.",
     "communication", ("skill-building",), {}),
    ("I want to handle my own money.", "Pays the phone bill each month.", "finances",
     ("skill-building",), {}),
    ("I want to keep living where I live now.", "Stays home with the supports chosen.",
     "housing", ("community-living-supports",), {}),
)
CHILD_DD_GOALS = (
    ("I want to ride the school bus without melting down.", "No bus incidents for a month.",
     "education", ("applied-behavior-analysis",), {"school_relevant": True}),
    ("I want to play with the other kids at recess.", "Joins a recess game three days a week.",
     "education", ("applied-behavior-analysis",), {"school_relevant": True}),
    ("He will use words or pictures to say what he wants.", "Ten requests a day.",
     "communication", ("applied-behavior-analysis", "respite"), {}),
)
SED_GOALS = (
    ("I want to stop getting sent to the office so I can stay in class.",
     "One office referral a month or fewer.", "education", ("case-management", "home-based"),
     {"school_relevant": True}),
    ("When I get mad I want to walk away instead of hitting.", "Uses the walk-away plan.",
     "mental-health", ("family-therapy", "home-based"), {}),
    ("I want to go to school every day.", "Attends 90% of school days.", "education",
     ("case-management", "individual-therapy"), {"school_relevant": True}),
    ("I want to get along with my mom.", "Fewer arguments at home.", "relationships",
     ("family-therapy", "parent-support-partner"), {}),
    ("I want to stop panicking before tests.", "Takes tests in class with a coping plan.",
     "education", ("individual-therapy",), {"school_relevant": True}),
    ("I want to sleep in my own bed.", "Sleeps in her own room five nights a week.",
     "mental-health", ("home-based",), {}),
    ("I want to feel safe and stop running away.", "No runaway episodes for six months.",
     "safety", ("wraparound", "individual-therapy"), {}),
    ("I want to join a team or a club.", "Goes to a club or practice weekly.", "community",
     ("case-management",), {"school_relevant": True}),
)
SERVICES = {  # code: (description, provider kind or staff role, scope, frequency)
    "case-management": ("Targeted case management", "cm", "1 hour per visit", (2, 1, "mo")),
    "supports-coordination": ("Supports coordination", "cm", "1 hour", (1, 1, "mo")),
    "individual-therapy": ("Individual therapy", "therapist", "1 hour", (1, 1, "wk")),
    "family-therapy": ("Family therapy", "therapist", "1 hour", (1, 1, "wk")),
    "group-therapy": ("Group therapy", "therapist", "90 minutes", (1, 1, "wk")),
    "medication-review": ("Psychiatric evaluation and medication review", "psychiatrist",
                          "30 minutes", (1, 3, "mo")),
    "peer-support": ("Peer support specialist visits", "peer", "1 hour", (1, 1, "wk")),
    "drop-in-center": ("Peer-run drop-in center", "peer-center", "afternoons", (3, 1, "wk")),
    "community-living-supports": ("Community living supports", "cls", "4 hours per day",
                                  (5, 1, "wk")),
    "skill-building": ("Skill-building assistance", "cls", "2 hours", (2, 1, "wk")),
    "supported-employment": ("Supported employment", "cls", "job coach, 2 hours", (2, 1, "wk")),
    "respite": ("Respite care", "cls", "8 hours per visit", (2, 1, "mo")),
    "applied-behavior-analysis": ("Applied behavior analysis (autism benefit)", "aba",
                                  "2 hours per session", (3, 1, "wk")),
    "home-based": ("Home-based services for children and families", "therapist",
                   "1 hour per visit", (2, 1, "wk")),
    "wraparound": ("Wraparound facilitation", "cm", "team meeting", (1, 1, "mo")),
    "parent-support-partner": ("Parent support partner", "agency", "1 hour", (1, 2, "wk")),
    "sud-outpatient": ("Substance use disorder outpatient treatment", "sud",
                       "90 minutes per group", (2, 1, "wk")),
    "medication-assisted-treatment": ("Medication-assisted treatment", "sud",
                                      "15-minute dosing visit", (1, 1, "wk")),
    "housing-assistance": ("Housing assistance", "cm", "as needed", (1, 1, "mo")),
}
PERIOD_DAYS = {"d": 1.0, "wk": 7.0, "mo": 30.44, "a": 365.25}
SHARES = {
    "primary-care": (["treatment", "care-coordination"],
                     ["care-team", "care-plan", "goals", "services", "contact-details"]),
    "hospital": (["treatment", "care-coordination"], ["care-team", "care-plan",
                                                      "contact-details"]),
    "school": (["school-coordination"], ["care-team", "contact-details", "goals"]),
    "court": (["court-ordered"], ["care-team", "services", "attendance"]),
    "probation": (["court-ordered"], ["care-team", "attendance"]),
    "provider": (["treatment", "care-coordination"], ["care-team", "care-plan", "goals",
                                                      "services", "assessments"]),
}


def weighted(rng: random.Random, pairs: tuple[tuple[Any, float], ...]) -> Any:
    roll = rng.random() * sum(weight for _, weight in pairs)
    for value, weight in pairs:
        roll -= weight
        if roll <= 0:
            return value
    return pairs[-1][0]


def ascii_name(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - day 28 always exists


def stamp(day: date, rng: random.Random) -> str:
    day = min(max(day, MIGRATED), TODAY)
    return (f"{day.isoformat()}T{rng.randint(13, 20 if day < TODAY else 15):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z")


def plan_key(number: int, prefix: str, start: date) -> str:
    return f"{prefix}-{number}-{start:%Y%m}"


# -- the agency's staff and partners ------------------------------------------------------------

@dataclass
class Agency:
    organizations: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    by_kind: dict[str, list[str]] = field(default_factory=dict)  # org kind -> ids
    by_role: dict[str, list[str]] = field(default_factory=dict)  # staff role -> ids
    speakers: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (role, lang)
    outside: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # org -> people


class Phones:
    """Unique 555 numbers, deterministic: 10,000 per area code."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self) -> str:
        n, self.next = self.next, self.next + 1
        return f"{AREA_CODES[(n // 10000) % len(AREA_CODES)]}-555-{n % 10000:04d}"


def npi(rng: random.Random) -> str:
    digits = [rng.randint(1, 2)] + [rng.randint(0, 9) for _ in range(8)]
    total = 24  # the 80840 prefix's contribution to the Luhn sum
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def address(rng: random.Random) -> dict[str, Any]:
    city, postals = rng.choice(CITIES)
    lines = [f"{rng.randint(100, 9899)} {rng.choice(STREETS)}"]
    if rng.random() < 0.3:
        lines.append(f"Apt {rng.randint(1, 40)}{rng.choice('ABCD') if rng.random() < 0.3 else ''}")
    return {"lines": lines, "city": city, "state": "MI", "postal_code": rng.choice(postals)}


def build_agency(consumers: int, rng: random.Random, phone: Phones) -> Agency:
    agency = Agency()

    def org(oid: str, name: str, kind: str, **extra: Any) -> None:
        place = extra.pop("address", None) or address(rng)
        record: dict[str, Any] = {"type": "organization", "id": oid,
                                  "updated_at": stamp(MIGRATED + timedelta(rng.randint(0, 200)),
                                                      rng),
                                  "name": name, "kind": kind}
        if "part_of" in extra:
            record["part_of"] = extra.pop("part_of")
        if "identifiers" in extra:
            record["identifiers"] = extra.pop("identifiers")
        record["contacts"] = [{"kind": "phone", "value": phone(), "use": "work"}]
        record["addresses"] = [dict(place, lines=place["lines"][:1], use="work")]  # no "Apt"
        record["active"] = True
        agency.organizations.append(record)
        agency.by_kind.setdefault(kind, []).append(oid)

    org("ORG-G-AGENCY", "Great Lakes Regional Community Mental Health", "agency",
        identifiers={"npi": npi(rng)})
    org("ORG-G-ACCESS", "Great Lakes Regional Access Center", "local-access",
        part_of="ORG-G-AGENCY")
    partners = (("primary-care", "PCP", max(2, consumers // 400), "Family Health Center"),
                ("hospital", "HOSP", max(1, consumers // 4000), "Regional Hospital"),
                ("school", "SCH", max(2, consumers // 250), "School"),
                ("court", "COURT", max(1, consumers // 8000), "County Probate Court"),
                ("probation", "PROB", max(1, consumers // 8000), "County Probation Department"))
    for kind, code, count, label in partners:
        for n in range(1, count + 1):
            place = address(rng)
            identifiers = {"nces_id": f"2619740{n:05d}"} if kind == "school" else \
                ({"npi": npi(rng)} if kind in ("primary-care", "hospital") else None)
            org(f"ORG-G-{code}-{n:03d}", f"{place['city']} {label} {n}", kind, address=place,
                **({"identifiers": identifiers} if identifiers else {}))
    for code, label, count in (("PEER", "Peer Drop-In Center", max(1, consumers // 2500)),
                               ("SUD", "Recovery Services", max(1, consumers // 1500)),
                               ("CLS", "Community Supports", max(1, consumers // 1000)),
                               ("ABA", "Autism Center", max(1, consumers // 3000))):
        for n in range(1, count + 1):
            place = address(rng)
            org(f"ORG-G-{code}-{n:03d}", f"{place['city']} {label} {n}", "provider",
                address=place)
            agency.by_kind.setdefault(code.lower(), []).append(f"ORG-G-{code}-{n:03d}")

    def person_name() -> tuple[str, list[str], str]:
        gender = rng.choice(("female", "male", "female", "male", "other"))
        given = rng.choice(FEMALE if gender == "female" else MALE if gender == "male"
                           else FEMALE + MALE)
        return gender, [given], rng.choice(FAMILY)

    counter = 20000

    def staff(role: str, credentials: list[str], supervisor: str | None) -> str:
        nonlocal counter
        counter += 1
        sid = f"S-{counter}"
        gender, given, family = person_name()
        languages = ["en"]
        if role in ("case-manager", "supports-coordinator") and rng.random() < 0.3:
            languages.append(rng.choice(("es", "ar", "vi", "ase", "so", "fr")))
        skills = rng.sample(("trauma-informed", "co-occurring-sud", "youth-and-family",
                             "autism", "deaf-hard-of-hearing", "forensic"), rng.randint(1, 3))
        record: dict[str, Any] = {
            "type": "staff", "id": sid, "updated_at": stamp(MIGRATED, rng),
            "name": ({"prefix": "Dr."} if role == "psychiatrist" else {})
            | {"given": given, "family": family},
            "gender": gender, "roles": [role], "credentials": credentials,
            "languages": languages, "skills": sorted(skills)}
        if role in ("psychiatrist", "therapist"):
            record["npi"] = npi(rng)
        record["organization"] = "ORG-G-AGENCY"
        if supervisor:
            record["supervisor"] = supervisor
        email = f"{ascii_name(given[0])[:1]}.{ascii_name(family)}{counter}@greatlakes-cmh.example"
        record["contacts"] = [{"kind": "phone", "value": phone(), "use": "work"},
                              {"kind": "email", "value": email, "use": "work"}]
        record["active"] = True
        agency.staff.append(record)
        agency.by_role.setdefault(role, []).append(sid)
        for language in languages[1:]:
            agency.speakers.setdefault((role, language), []).append(sid)
        return sid

    case_managers = max(2, consumers // 25)
    supervisors = [staff("supervisor", ["LMSW"], None)
                   for _ in range(max(1, case_managers // 8))]
    for n in range(case_managers):
        role = "supports-coordinator" if n % 5 == 0 else "case-manager"
        staff(role, ["QIDP"] if role == "supports-coordinator" else
              [rng.choice(("LMSW", "LLPC")), "QMHP"], supervisors[n % len(supervisors)])
    for n in range(max(1, consumers // 60)):
        staff("therapist", [rng.choice(("LLPC", "LMSW"))], supervisors[n % len(supervisors)])
    for _ in range(max(1, consumers // 300)):
        staff("psychiatrist", ["MD"], None)
    for n in range(max(1, consumers // 150)):
        staff("peer-support-specialist", ["CPSS"], supervisors[n % len(supervisors)])

    # Outside professionals: a few per clinic, school and probation office.
    people = 0
    for kind, role, per in (("primary-care", "pcp", 3), ("school", "school-counselor", 1),
                            ("probation", "probation-officer", 4)):
        for oid in agency.by_kind[kind]:
            for _ in range(per):
                people += 1
                _, given, family = person_name()
                name = ({"prefix": "Dr."} if role == "pcp" else {}) | {"given": given,
                                                                       "family": family}
                agency.outside.setdefault(oid, []).append({
                    "id": f"EXT-G-{people:05d}", "name": name, "relationship": "professional",
                    "contacts": [{"kind": "phone", "value": phone(), "use": "work"}]})
    return agency


# -- one consumer and everything about them ------------------------------------------------------

@dataclass
class Segment:
    staff: str
    start: date
    end: date | None


class ConsumerMaker:
    def __init__(self, agency: Agency, rng: random.Random, phone: Phones) -> None:
        self.agency, self.rng, self.phone = agency, rng, phone
        self.referrals = 0

    def person(self, relationship: str, family: str | None = None) -> dict[str, Any]:
        rng = self.rng
        female = relationship in ("mother", "grandmother", "aunt", "sister") or (
            relationship not in ("father", "brother", "nephew") and rng.random() < 0.5)
        given = rng.choice(FEMALE if female else MALE)
        family = family if family and rng.random() < 0.8 else rng.choice(FAMILY)
        return {"name": {"given": [given], "family": family}, "relationship": relationship,
                "contacts": [{"kind": "phone", "value": self.phone(), "use": "mobile"}]}

    def make(self, index: int) -> Iterator[dict[str, Any]]:  # noqa: C901 - one story, in order
        rng, agency = self.rng, self.agency
        number = 200001 + index
        cid = f"C-{number}"
        roll = rng.random()
        group = MI if roll < 0.55 else DD if roll < 0.75 else SED
        if group == SED:
            age_days = rng.randint(5 * 365, 17 * 365 + 300)
        elif group == DD:
            age_days = rng.randint(3 * 365, 75 * 365) if rng.random() < 0.3 else \
                rng.randint(18 * 365 + 10, 75 * 365)
        else:
            age_days = rng.randint(18 * 365 + 10, 82 * 365)
        birth = TODAY - timedelta(days=age_days)
        child = age_days < 18 * 365
        sud = group == MI and rng.random() < 0.18
        gender = weighted(rng, (("female", 0.49), ("male", 0.49), ("other", 0.01),
                                ("unknown", 0.01)))
        given = rng.choice(FEMALE if gender == "female" else MALE if gender == "male"
                           else FEMALE + MALE)
        family = rng.choice(FAMILY)
        language = weighted(rng, LANGUAGES)
        interpreter = language != "en" and rng.random() < 0.6
        # Tenure: most recent, some long-standing; a few applied this month.
        tenure = min(int(rng.expovariate(1 / 1400)), age_days - 400, 20 * 365)
        tenure = max(tenure, rng.randint(0, 27))
        applied = TODAY - timedelta(days=tenure)
        since = min(applied + timedelta(days=7), TODAY)  # eligible; a case manager assigned
        active = rng.random() > 0.03 or tenure < 400
        discharged = None if active else TODAY - timedelta(days=rng.randint(20, 300))
        if discharged and discharged <= since + timedelta(days=60):
            active, discharged = True, None
        last_day = discharged or TODAY

        record: dict[str, Any] = {
            "type": "consumer", "id": cid, "updated_at": stamp(min(since, last_day), rng),
            "name": {"given": [given] + ([rng.choice(FEMALE if gender == "female" else MALE)]
                                        if rng.random() < 0.4 else []), "family": family},
            "birth_date": birth.isoformat(), "gender": gender, "language": language,
            "interpreter_needed": interpreter,
            "identifiers": {"agency_number": f"{applied.year}-{number}"}}
        if rng.random() < 0.88:
            record["identifiers"]["medicaid_id"] = f"{rng.randint(10**8, 10**10 - 1):010d}"
        eligibility = [{"group": group, "since": since.isoformat()}]
        if group == DD and not child and rng.random() < 0.1:
            eligibility.append({"group": MI, "since": (since + timedelta(days=400)).isoformat()})
            if eligibility[1]["since"] > TODAY.isoformat():
                eligibility.pop()
        record["eligibility"] = eligibility
        record["application_date"] = applied.isoformat()
        contacts = []
        if not child or rng.random() < 0.4:
            kind = "sms" if language == "ase" else "phone"
            contacts.append({"kind": kind, "value": self.phone(), "use": "mobile"})
        if rng.random() < 0.25:
            email = f"{ascii_name(given)}.{ascii_name(family)}{number}@example.com"
            contacts.append({"kind": "email", "value": email, "use": "home"})
        if contacts:
            record["contacts"] = contacts
        record["addresses"] = [dict(address(rng), use="home")]
        if child or (group == DD and rng.random() < 0.4):
            record["guardian"] = self.person(
                weighted(rng, PARENTS if child else ADULT_GUARDIANS), family)
        record["active"] = active
        yield record

        # -- case managers / supports coordinators over time --------------------------------
        role = "supports-coordinator" if group == DD else "case-manager"
        pool = agency.by_role.get(role) or agency.by_role["case-manager"]
        speakers = agency.speakers.get((role, language), [])
        segments = []
        start = since
        span = (last_day - since).days
        changes = 0 if span < 200 else rng.choice((0, 0, 0, 1, 1, 2))
        cuts: list[int] = []
        for cut in sorted(rng.sample(range(60, span - 30), changes)):
            if not cuts or cut - cuts[-1] >= 45:
                cuts.append(cut)
        for cut in cuts:
            end = since + timedelta(days=cut)
            segments.append(Segment(rng.choice(pool), start, end))
            start = end + timedelta(days=1)
        current = rng.choice(speakers) if speakers and rng.random() < 0.7 else rng.choice(pool)
        segments.append(Segment(current, start, discharged))
        n = 0
        assignments_made: list[dict[str, Any]] = []
        for position, segment in enumerate(segments):
            n += 1
            assignment: dict[str, Any] = {
                "type": "assignment", "id": f"A-{number}-{n}", "updated_at": "",
                "consumer": cid, "role": role, "member": {"staff": segment.staff},
                "start": segment.start.isoformat()}
            if segment.end:
                assignment["end"] = segment.end.isoformat()
            chosen = "supervisor"
            touched = segment.end or segment.start
            if position > 0 and rng.random() < 0.3:
                chosen = "consumer"
                previous = assignments_made[-1]
                requested = previous["end"]
                asked = date.fromisoformat(requested) - timedelta(days=rng.randint(8, 20))
                previous["change_request"] = {
                    "requested_on": asked.isoformat(), "requested_staff": segment.staff,
                    "reason": rng.choice(("I'd like someone who speaks my language.",
                                          "I'd feel safer with a woman.",
                                          "We don't get along.",
                                          "I want someone who knows about autism.")),
                    "status": "honored",
                    "decided_on": (asked + timedelta(days=rng.randint(3, 7))).isoformat(),
                    "decided_by": rng.choice(agency.by_role["supervisor"])}
                previous["updated_at"] = stamp(date.fromisoformat(requested), rng)
            assignment["chosen_by"] = chosen
            if segment.end is None and rng.random() < 0.04 and \
                    (TODAY - segment.start).days > 60:
                asked = TODAY - timedelta(days=rng.randint(5, 50))
                status = rng.choice(("not-honored", "pending", "withdrawn", "not-honored"))
                request: dict[str, Any] = {
                    "requested_on": asked.isoformat(),
                    "requested_staff": rng.choice(speakers or pool),
                    "reason": "I'd like a different case manager.", "status": status}
                if status != "pending":
                    decided = min(asked + timedelta(days=rng.randint(3, 14)), TODAY)
                    request["decided_on"] = decided.isoformat()
                    touched = max(touched, decided)
                    if status == "not-honored":
                        request["decided_by"] = rng.choice(agency.by_role["supervisor"])
                        request["explanation"] = ("The requested case manager's caseload is "
                                                  "full; the request stays on the waitlist.")
                else:
                    touched = max(touched, asked)
                assignment["change_request"] = request
            assignment["updated_at"] = stamp(touched, rng)
            assignments_made.append(assignment)
        yield from assignments_made

        def cm_at(day: date) -> str:
            if day < segments[0].start:
                return segments[0].staff
            for segment in segments:
                if segment.start <= day and (segment.end is None or day <= segment.end):
                    return segment.staff
            return segments[-1].staff

        # -- the rest of the team -----------------------------------------------------------
        team: list[tuple[str, dict[str, Any], str | None]] = []
        pcp_org = rng.choice(agency.by_kind["primary-care"])
        if rng.random() < 0.7:
            if rng.random() < 0.75:
                team.append(("pcp", {"person": rng.choice(agency.outside[pcp_org])}, pcp_org))
            else:
                team.append(("pcp", {"organization": pcp_org}, None))
        school = None
        if child and age_days > 5 * 365:
            school = rng.choice(agency.by_kind["school"])
            if rng.random() < 0.6:
                team.append(("school-counselor",
                             {"person": rng.choice(agency.outside[school])}, school))
        probation = None
        if group == MI and rng.random() < (0.3 if sud else 0.04):
            probation = rng.choice(agency.by_kind["probation"])
            team.append(("probation-officer",
                         {"person": rng.choice(agency.outside[probation])}, probation))
        sud_org = rng.choice(agency.by_kind["sud"])
        if sud and rng.random() < 0.7:
            team.append(("substance-use-counselor", {"organization": sud_org}, None))
        if rng.random() < (0.45 if group != DD else 0.15):
            team.append(("therapist", {"staff": rng.choice(agency.by_role["therapist"])}, None))
        if group == MI and rng.random() < 0.45 or group != MI and rng.random() < 0.15:
            team.append(("psychiatrist",
                         {"staff": rng.choice(agency.by_role["psychiatrist"])}, None))
        if group == MI and rng.random() < 0.2:
            team.append(("peer-support-specialist",
                         {"staff": rng.choice(agency.by_role["peer-support-specialist"])}, None))
        for team_role, member, on_behalf_of in team:
            n += 1
            joined = since + timedelta(days=rng.randint(0, max(0, (last_day - since).days)))
            member_record: dict[str, Any] = {
                "type": "assignment", "id": f"A-{number}-{n}", "updated_at": "",
                "consumer": cid, "role": team_role, "member": member}
            if on_behalf_of:
                member_record["on_behalf_of"] = on_behalf_of
            member_record["start"] = joined.isoformat()
            if discharged:
                member_record["end"] = discharged.isoformat()
            member_record["updated_at"] = stamp(discharged or joined, rng)
            yield member_record
        staff_for = {"therapist": [m["staff"] for r, m, _ in team if r == "therapist"],
                     "psychiatrist": [m["staff"] for r, m, _ in team if r == "psychiatrist"],
                     "peer": [m["staff"] for r, m, _ in team if r == "peer-support-specialist"]}

        # -- assessments and plans ----------------------------------------------------------
        late = rng.random() < 0.08
        initial = applied + timedelta(days=rng.randint(31, 60) if late else rng.randint(7, 29))
        assessments: list[dict[str, Any]] = []

        def assessment(kind: str, status: str, day: date, plan: str | None = None) -> None:
            item: dict[str, Any] = {
                "type": "assessment", "id": f"AS-{number}-{len(assessments) + 1}",
                "updated_at": stamp(day if status == "completed" else
                                    min(day - timedelta(days=21), TODAY), rng),
                "consumer": cid, "kind": kind, "status": status,
                "scheduled_on": day.isoformat()}
            if status == "completed":
                item["completed_on"] = day.isoformat()
                item["completed_by"] = cm_at(day)
            if plan:
                item["plan"] = plan
            assessments.append(item)

        cycle = [initial]
        while True:
            due = add_months(cycle[-1], 12) - timedelta(days=rng.randint(0, 20))
            if due > min(last_day, TODAY):
                break
            cycle.append(due)
        overdue = active and len(cycle) > 1 and rng.random() < 0.05
        if overdue:
            cycle.pop()  # last year's reassessment never happened
        plans: list[dict[str, Any]] = []
        if initial > TODAY:
            assessment("initial-comprehensive", "scheduled", initial)
            plan_starts = [(TODAY + timedelta(days=rng.randint(30, 40)), "draft")]
        else:
            history = [day for day in cycle if (TODAY - day).days < 3 * 365]
            plan_starts = []
            for position, day in enumerate(cycle):
                if day not in history:
                    continue
                if day == initial:
                    plan_start = day + timedelta(days=rng.randint(5, 14))
                else:
                    plan_start = day + timedelta(days=rng.randint(5, 14))
                if position < len(cycle) - 1:
                    plan_starts.append((plan_start, "completed"))
                else:
                    status = "draft" if plan_start > TODAY else (
                        "completed" if discharged else "active")
                    plan_starts.append((plan_start, status))
            # Only the current plan and, for some, the one before it; none after a discharge.
            plan_starts = [(day, status) for day, status in plan_starts if day <= last_day
                           or not discharged]
            plan_starts = plan_starts[-2:] if rng.random() < 0.3 else plan_starts[-1:]
            for day in history:
                plan_id = None
                for plan_start, _ in plan_starts:
                    if day < plan_start <= day + timedelta(days=14):
                        plan_id = plan_key(number, "P", plan_start)
                kind = "initial-comprehensive" if day == initial else "annual-reassessment"
                assessment(kind, "completed", day, plan_id)
            if overdue:
                missed = add_months(cycle[-1], 12)
                assessment("annual-reassessment", rng.choice(("scheduled", "cancelled")),
                           missed + timedelta(days=rng.randint(-10, 20)))
            elif active and (add_months(cycle[-1], 12) - TODAY).days < 30:
                assessment("annual-reassessment", "scheduled",
                           max(add_months(cycle[-1], 12), TODAY + timedelta(days=1)))
        goals_pool = (SED_GOALS if group == SED else
                      (CHILD_DD_GOALS + DD_GOALS[4:5]) if group == DD and child else
                      DD_GOALS if group == DD else (SUD_GOALS[:2] + MI_GOALS if sud
                                                    else MI_GOALS))
        review_months = rng.choice((3, 3, 6)) if group != DD else rng.choice((6, 6, 3))
        for position, (plan_start, status) in enumerate(plan_starts):
            following = plan_starts[position + 1][0] if position + 1 < len(plan_starts) else None
            plan_end = add_months(plan_start, 12) - timedelta(days=1)
            if following:
                plan_end = min(plan_end, following - timedelta(days=1))
            if discharged and status == "completed" and following is None:
                plan_end = min(plan_end, discharged)
            plan, reviews = self.plan(number, cid, plan_start, plan_end, status, review_months,
                                      cm_at, goals_pool, sud, staff_for, sud_org, record)
            plans.append(plan)
            for review in reviews:
                assessment("periodic-review", "completed", review, plan["id"])
        yield from assessments
        yield from plans

        # -- consents ------------------------------------------------------------------------
        recipients: list[tuple[str, str, bool]] = []  # (org, kind, part2)
        if rng.random() < 0.6:
            recipients.append((pcp_org, "primary-care", sud and rng.random() < 0.6))
        if rng.random() < 0.25:
            recipients.append((rng.choice(agency.by_kind["hospital"]), "hospital", False))
        if school and rng.random() < 0.5:
            recipients.append((school, "school", False))
        if group != DD and rng.random() < 0.04:
            recipients.append((rng.choice(agency.by_kind["court"]), "court", False))
        if probation and rng.random() < 0.8:
            recipients.append((probation, "probation", sud))
        if sud and rng.random() < 0.9:
            recipients.append((sud_org, "provider", True))
        elif rng.random() < 0.1:
            provider = rng.choice(agency.by_kind["cls" if group == DD else "peer"])
            recipients.append((provider, "provider", False))
        signer = "guardian" if "guardian" in record else "consumer"
        for n, (recipient, kind, part2) in enumerate(recipients, 1):
            earliest = max(since, TODAY - timedelta(days=500))
            signed = earliest + timedelta(days=rng.randint(0, max(0, (last_day - earliest).days)))
            purposes, categories = SHARES[kind]
            consent: dict[str, Any] = {
                "type": "consent", "id": f"ROI-{number}-{n}", "updated_at": "",
                "consumer": cid, "recipient": recipient, "purposes": purposes,
                "share": {"categories": categories}, "part2": part2,
                "signed_on": signed.isoformat(), "signed_by": signer}
            effective = signed + timedelta(days=rng.randint(3, 14)) \
                if rng.random() < 0.02 else signed
            expires = add_months(effective, 12)
            if discharged:
                expires = max(min(expires, discharged + timedelta(days=1)),
                              effective + timedelta(days=1))
            consent["effective"] = effective.isoformat()
            consent["expires"] = expires.isoformat()
            touched = signed
            if rng.random() < 0.05 and (min(expires, TODAY) - effective).days > 2:
                revoked = effective + timedelta(
                    days=rng.randint(1, (min(expires, TODAY) - effective).days - 1))
                consent["revoked_on"] = revoked.isoformat()
                touched = revoked
            consent["updated_at"] = stamp(touched, rng)
            yield consent

        # -- referrals -------------------------------------------------------------------------
        if rng.random() < 0.12:
            yield self.referral(cid, "incoming", rng.choice(agency.by_kind["hospital"]),
                                "ORG-G-AGENCY", since, last_day,
                                "Discharged from inpatient care; follow-up within 7 days.",
                                "case-management")
        if school and rng.random() < 0.05:
            yield self.referral(cid, "incoming", school, "ORG-G-AGENCY", since, last_day,
                                "School social worker asks for a services review.",
                                "home-based")
        if rng.random() < 0.05:
            yield self.referral(cid, "outgoing", "ORG-G-AGENCY", pcp_org, since, last_day,
                                "Needs a primary care doctor and a physical.",
                                "primary-care-intake")
        if sud and rng.random() < 0.4:
            yield self.referral(cid, "outgoing", "ORG-G-AGENCY", sud_org, since, last_day,
                                "Substance use treatment requested.", "sud-outpatient")

    def plan(self, number: int, cid: str, start: date, end: date, status: str, review: int,
             cm_at: Any, pool: tuple[Any, ...], sud: bool, staff_for: dict[str, list[str]],
             sud_org: str, consumer: dict[str, Any]) -> tuple[dict[str, Any], list[date]]:
        rng, agency = self.rng, self.agency
        year = start.strftime("%Y%m")  # two plans may start in one calendar year
        pid = plan_key(number, "P", start)
        chosen = rng.sample(pool, min(len(pool), rng.randint(2, 5)))
        if sud and not any(goal[4].get("substance_use") for goal in chosen):
            chosen[0] = SUD_GOALS[rng.randrange(len(SUD_GOALS))]
        until = min(TODAY, end)
        reviews = []
        k = 1
        while status != "draft":
            due = add_months(start, k * review)
            if due > until:
                break
            reviews.append(due)
            k += 1
        if status == "active" and reviews and rng.random() < 0.05:
            reviews.pop()  # a missed periodic review
        goals = []
        for i, (words, outcome, domain, _, flags) in enumerate(chosen, 1):
            goal: dict[str, Any] = {
                "id": f"G-{number}-{year}-{i}", "consumer_words": words,
                "desired_outcome": outcome, "domain": domain, "start": start.isoformat(),
                "target_date": end.isoformat(),
                "status": "proposed" if status == "draft" else
                ("achieved" if status == "completed" or rng.random() < 0.1 else "active")}
            goal.update(flags)
            goals.append(goal)
        manager = cm_at(start)
        codes: dict[str, list[str]] = {}
        first_code = "supports-coordination" if consumer["eligibility"][0]["group"] == DD \
            else "case-management"
        codes[first_code] = [g["id"] for g in goals]
        for goal, spec in zip(goals, chosen, strict=True):
            served = codes.setdefault(rng.choice(spec[3]), [])
            if goal["id"] not in served:
                served.append(goal["id"])
        services = []
        for i, (code, served) in enumerate(codes.items(), 1):
            description, provider_kind, scope, (count, period, unit) = SERVICES[code]
            service: dict[str, Any] = {"id": f"SV-{number}-{year}-{i}", "service": code,
                                       "description": description}
            staff = {"cm": [manager], "therapist": staff_for["therapist"]
                     or agency.by_role["therapist"],
                     "psychiatrist": staff_for["psychiatrist"] or agency.by_role["psychiatrist"],
                     "peer": staff_for["peer"] or agency.by_role["peer-support-specialist"]
                     }.get(provider_kind)
            if staff:
                service["provider"] = "ORG-G-AGENCY"
                service["provider_staff"] = rng.choice(staff)
            elif provider_kind == "agency":
                service["provider"] = "ORG-G-AGENCY"
            else:
                service["provider"] = sud_org if provider_kind == "sud" else rng.choice(
                    agency.by_kind[{"peer-center": "peer"}.get(provider_kind, provider_kind)])
            service["scope"] = scope
            service["frequency"] = {"count": count, "period": period, "unit": unit}
            service["start"] = start.isoformat()
            if status == "completed":
                service["end"] = end.isoformat()
            service["status"] = {"draft": "planned", "completed": "completed"}.get(status,
                                                                                  "active")
            service["goals"] = served
            if provider_kind == "sud":
                service["substance_use"] = True
            if status != "draft":
                scheduled = int((until - start).days / (period * PERIOD_DAYS[unit]) * count)
                if scheduled > 0:
                    service["attended"] = round(scheduled * rng.uniform(0.65, 0.98))
                    service["scheduled"] = scheduled
            services.append(service)
        supports = []
        for i, (relationship, role) in enumerate(rng.sample(SUPPORTS, rng.randint(0, 3)), 1):
            person = self.person(relationship, consumer["name"]["family"])
            if rng.random() < 0.3:
                del person["contacts"]
            supports.append({"id": f"NS-{number}-{year}-{i}", **person, "role_in_plan": role})
        record: dict[str, Any] = {
            "type": "plan", "id": pid, "updated_at": "", "consumer": cid, "status": status,
            "period": {"start": start.isoformat()} if status == "draft" else
            {"start": start.isoformat(), "end": end.isoformat()},
            "author": manager, "title": f"Person-centered plan {start.year}", "goals": goals,
            "services": services}
        if supports:
            record["natural_supports"] = supports
        record["review_frequency_months"] = review
        if status != "draft":
            record["last_review"] = (reviews[-1] if reviews else start).isoformat()
        touched = max([min(start, TODAY)] + reviews)
        if status == "completed":
            touched = min(end + timedelta(days=1), TODAY)
        record["updated_at"] = stamp(touched, rng)
        return record, reviews

    def referral(self, cid: str, direction: str, source: str, target: str, since: date,
                 last_day: date, reason: str, service: str) -> dict[str, Any]:
        rng = self.rng
        self.referrals += 1
        day = since + timedelta(days=rng.randint(0, max(0, (last_day - since).days)))
        status = rng.choice(("pending", "received", "accepted", "in-progress", "completed",
                             "completed", "declined", "cancelled"))
        if direction == "incoming" and status == "pending":
            status = "received"
        if direction == "outgoing" and status == "received":
            status = "pending"
        record: dict[str, Any] = {
            "type": "referral", "id": f"R-G-{self.referrals:06d}", "updated_at": "",
            "consumer": cid, "direction": direction, "source": source, "target": target,
            "reason": reason, "service": service,
            "urgency": rng.choice(("routine", "routine", "urgent", "asap"))}
        record["received_on" if direction == "incoming" else "sent_on"] = day.isoformat()
        record["due_on"] = (day + timedelta(days=7 if record["urgency"] != "routine"
                                            else 30)).isoformat()
        record["status"] = status
        if status in ("declined", "cancelled"):
            record["status_reason"] = rng.choice(("The consumer chose another provider.",
                                                  "No longer needed.",
                                                  "Outside the program's service area."))
        touched = min(day + timedelta(days=rng.randint(0, 20)), TODAY)
        if status in ("pending", "received"):
            touched = day
        record["updated_at"] = stamp(touched, rng)
        return record


# -- writing -------------------------------------------------------------------------------------

class JsonArrayWriter:
    """Items of a JSON array written one at a time."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.count = 0
        file.write("[")

    def write(self, item: dict[str, Any]) -> None:
        self.file.write(",\n" if self.count else "\n")
        self.file.write(json.dumps(item, ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        self.file.write("\n]\n")


def generate(out: Path, consumers: int, seed: int) -> dict[str, int]:
    """Write the agency into ``out``; returns how many records went into each file."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    phone = Phones()
    agency = build_agency(consumers, rng, phone)
    counts = dict.fromkeys(FILES, 0)

    def open_(name: str) -> IO[str]:
        return (out / name).open("w", encoding="utf-8", newline="")

    def write_csv(name: str, header: list[str], records: list[dict[str, Any]]) -> None:
        with open_(name) as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(header)
            for record in records:
                writer.writerow(csv_cells(record, header))
        counts[name] = len(records)

    write_csv("organizations.csv", ORG_HEADER, agency.organizations)
    write_csv("staff.csv", STAFF_HEADER, agency.staff)
    names = FILES[2:]
    files = {name: open_(name) for name in names}
    try:
        consumers_csv = csv.writer(files["consumers.csv"], lineterminator="\n")
        consumers_csv.writerow(CONSUMER_HEADER)
        plans = JsonArrayWriter(files["plans.json"])
        maker = ConsumerMaker(agency, rng, phone)
        half = consumers // 2
        for index in range(consumers):
            for record in maker.make(index):
                kind = record["type"]
                if kind == "consumer" and index < half:
                    consumers_csv.writerow(csv_cells(record, CONSUMER_HEADER))
                    counts["consumers.csv"] += 1
                    continue
                if kind == "plan":
                    plans.write(record)
                    counts["plans.json"] += 1
                    continue
                name = f"{kind}s.ndjson"
                files[name].write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[name] += 1
        plans.close()
    finally:
        for file in files.values():
            file.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/generate_agency.py",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--consumers", type=int, required=True, help="how many consumers")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    args = parser.parse_args(argv)
    if args.consumers < 1:
        parser.error("--consumers must be at least 1")
    started = time.perf_counter()
    counts = generate(args.out, args.consumers, args.seed)
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    print(f"{total} records in {args.out} in {elapsed:.1f} s: "
          + ", ".join(f"{name} {count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

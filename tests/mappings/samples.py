"""Small, realistic local records for the mapping tests (fresh copies on every call)."""
from __future__ import annotations

import copy
from typing import Any

AGENCY = "ORG-RIVERBEND"
UPDATED = "2024-05-02T09:30:00-04:00"

_ORGANIZATIONS = [
    {"type": "organization", "id": AGENCY, "updated_at": UPDATED,
     "name": "Riverbend Community Mental Health", "kind": "agency",
     "identifiers": {"npi": "1234567893", "tax_id": "38-1234567"},
     "contacts": [{"kind": "phone", "value": "517-555-0100", "use": "work"}],
     "addresses": [{"lines": ["100 Main St"], "city": "Lansing", "state": "MI",
                    "postal_code": "48933", "use": "work"}],
     "active": True},
    {"type": "organization", "id": "ORG-ACCESS", "updated_at": UPDATED,
     "name": "Riverbend Access Center", "kind": "local-access", "part_of": AGENCY},
    {"type": "organization", "id": "ORG-PCP", "updated_at": UPDATED,
     "name": "Eastside Family Medicine", "kind": "primary-care",
     "identifiers": {"npi": "1558444216"},
     "contacts": [{"kind": "fax", "value": "517-555-0199"}]},
    {"type": "organization", "id": "ORG-SCHOOL", "updated_at": UPDATED,
     "name": "Lansing Eastern High School", "kind": "school",
     "identifiers": {"nces_id": "262097005734"}},
    {"type": "organization", "id": "ORG-PROBATION", "updated_at": UPDATED,
     "name": "Ingham County Probation", "kind": "probation"},
    {"type": "organization", "id": "ORG-HOSPITAL", "updated_at": UPDATED,
     "name": "Sparrow Regional Hospital", "kind": "hospital"},
]

_STAFF = [
    {"type": "staff", "id": "S-017", "updated_at": UPDATED,
     "name": {"family": "Okafor", "given": ["Adaeze"], "preferred": "Ada"},
     "gender": "female", "roles": ["case-manager", "supports-coordinator"],
     "credentials": ["LMSW", "MSW", "Certified Trauma Professional"],
     "languages": ["en", "ig"], "skills": ["trauma-informed", "co-occurring", "knits"],
     "npi": "1487965412", "organization": AGENCY, "supervisor": "S-002",
     "contacts": [{"kind": "phone", "value": "517-555-0117", "use": "work"},
                  {"kind": "email", "value": "a.okafor@riverbend.example", "use": "work"}],
     "active": True},
    {"type": "staff", "id": "S-002", "updated_at": UPDATED,
     "name": {"family": "Lindqvist", "given": ["Marta"]}, "roles": ["supervisor"],
     "organization": AGENCY},
    {"type": "staff", "id": "S-031", "updated_at": UPDATED,
     "name": {"family": "Reyes", "given": ["Tomás"], "suffix": "Jr."},
     "roles": ["therapist"], "credentials": ["LPC", "CADC"], "languages": ["es", "en"],
     "organization": AGENCY},
    {"type": "staff", "id": "S-040", "updated_at": UPDATED,
     "name": {"family": "Baptiste", "given": ["Rene"], "prefix": "Dr."},
     "roles": ["psychiatrist"], "credentials": ["MD"], "organization": AGENCY},
]

_CONSUMER = {
    "type": "consumer", "id": "C-1001", "updated_at": UPDATED,
    "name": {"family": "Doe", "given": ["Jane", "Marie"], "preferred": "JJ"},
    "birth_date": "2008-07-14", "gender": "female", "language": "es",
    "interpreter_needed": True,
    "contacts": [{"kind": "phone", "value": "517-555-0142", "use": "mobile"},
                 {"kind": "sms", "value": "517-555-0142"}],
    "addresses": [{"lines": ["22 Elm St", "Apt 3"], "city": "Lansing", "state": "MI",
                   "postal_code": "48912", "use": "home"}],
    "identifiers": {"agency_number": "RB-004211", "medicaid_id": "0012345678"},
    "eligibility": [{"group": "serious-emotional-disturbance", "since": "2021-03-01"}],
    "application_date": "2021-02-10",
    "guardian": {"id": "P-77", "name": {"family": "Doe", "given": ["Maria"]},
                 "relationship": "mother",
                 "contacts": [{"kind": "phone", "value": "517-555-0143", "use": "home"}]},
    "active": True,
}

_ASSIGNMENTS = [
    {"type": "assignment", "id": "A-1", "updated_at": UPDATED, "consumer": "C-1001",
     "role": "case-manager", "member": {"staff": "S-002"}, "start": "2021-03-05",
     "end": "2023-06-30", "chosen_by": "supervisor",
     "change_request": {"id": "CR-9", "requested_on": "2023-05-15",
                        "reason": "I want someone who speaks Spanish", "status": "honored",
                        "requested_staff": "S-017", "decided_on": "2023-06-20",
                        "decided_by": "S-002"}},
    {"type": "assignment", "id": "A-2", "updated_at": UPDATED, "consumer": "C-1001",
     "role": "case-manager", "member": {"staff": "S-017"}, "start": "2023-07-01",
     "chosen_by": "consumer",
     "change_request": {"requested_on": "2024-04-01", "reason": "Schedule conflicts",
                        "status": "not-honored", "decided_on": "2024-04-10",
                        "decided_by": "S-002",
                        "explanation": "No other Spanish-speaking case manager has openings; "
                                       "evening appointments offered instead."}},
    {"type": "assignment", "id": "A-3", "updated_at": UPDATED, "consumer": "C-1001",
     "role": "therapist", "member": {"staff": "S-031"}, "start": "2023-08-15"},
    {"type": "assignment", "id": "A-4", "updated_at": UPDATED, "consumer": "C-1001",
     "role": "pcp", "member": {"person": {"name": {"family": "Chu", "given": ["Anita"],
                                                   "prefix": "Dr."},
                                          "relationship": "professional",
                                          "contacts": [{"kind": "phone",
                                                        "value": "517-555-0190",
                                                        "use": "work"}]}},
     "on_behalf_of": "ORG-PCP", "start": "2022-01-10"},
    {"type": "assignment", "id": "A-5", "updated_at": UPDATED, "consumer": "C-1001",
     "role": "school-counselor",
     "member": {"person": {"id": "P-SC1", "name": {"family": "Nguyen", "given": ["Linh"]},
                           "relationship": "mentor"}},
     "on_behalf_of": "ORG-SCHOOL", "start": "2023-09-01"},
    {"type": "assignment", "id": "A-6", "updated_at": UPDATED, "consumer": "C-1001",
     "role": "probation-officer", "member": {"organization": "ORG-PROBATION"},
     "start": "2022-11-01", "end": "2023-11-01"},
]

_NATURAL_SUPPORTS = [
    {"id": "NS-1", "name": {"family": "Doe", "given": ["Carlos"]}, "relationship": "uncle",
     "contacts": [{"kind": "phone", "value": "517-555-0150", "use": "mobile"}],
     "role_in_plan": "Drives Jane to therapy on Tuesdays"},
    {"id": "NS-2", "name": {"family": "Patel", "given": ["Riya"]}, "relationship": "friend"},
]

_PLAN = {
    "type": "plan", "id": "PLAN-2024", "updated_at": UPDATED, "consumer": "C-1001",
    "status": "active", "period": {"start": "2024-01-15", "end": "2025-01-14"},
    "author": "S-017", "title": "Jane's person-centered plan 2024",
    "goals": [
        {"id": "G-1", "consumer_words": "I want to finish 11th grade and stay on track to graduate",
         "desired_outcome": "Passing grades in all classes by June", "domain": "education",
         "start": "2024-01-15", "target_date": "2024-06-15", "status": "active",
         "school_relevant": True},
        {"id": "G-2", "consumer_words": "I want to stop using weed to deal with stress",
         "domain": "mental-health", "status": "active", "substance_use": True},
        {"id": "G-3", "consumer_words": "Have my own room again", "domain": "housing",
         "status": "achieved", "target_date": "2024-03-01"},
    ],
    "services": [
        {"id": "SV-1", "service": "case-management", "provider": AGENCY,
         "provider_staff": "S-017", "scope": "1 hour per visit",
         "frequency": {"count": 2, "period": 1, "unit": "mo"}, "start": "2024-01-15",
         "end": "2025-01-14", "status": "active", "goals": ["G-1", "G-3"],
         "attended": 7, "scheduled": 8},
        {"id": "SV-2", "service": "therapy-individual", "description": "CBT for anxiety",
         "provider_staff": "S-031", "frequency": {"count": 1, "period": 1, "unit": "wk"},
         "start": "2024-01-22", "status": "active", "goals": ["G-2"]},
        {"id": "SV-3", "service": "sud-outpatient", "provider": AGENCY,
         "frequency": {"count": 3, "period": 1, "unit": "wk"}, "start": "2024-02-01",
         "status": "planned", "goals": ["G-2"]},
        {"id": "SV-4", "service": "peer-support", "frequency": {"count": 1, "period": 2,
                                                                "unit": "wk"},
         "start": "2024-01-15", "status": "stopped", "substance_use": True},
    ],
    "natural_supports": copy.deepcopy(_NATURAL_SUPPORTS),
    "review_frequency_months": 3,
    "last_review": "2024-04-12",
}

_CONSENTS = [
    {"type": "consent", "id": "ROI-1", "updated_at": UPDATED, "consumer": "C-1001",
     "recipient": "ORG-PCP", "purposes": ["treatment", "care-coordination"],
     "share": {"categories": ["care-team", "care-plan", "goals"],
               "resource_types": ["Condition"]},
     "signed_on": "2024-01-20", "signed_by": "guardian", "effective": "2024-01-20",
     "expires": "2025-01-20"},
    {"type": "consent", "id": "ROI-2", "updated_at": UPDATED, "consumer": "C-1001",
     "recipient": "ORG-PCP", "purposes": ["treatment"], "share": {"categories": ["services"]},
     "part2": True, "signed_on": "2024-02-01", "signed_by": "consumer",
     "effective": "2024-02-01", "expires": "2025-02-01"},
    {"type": "consent", "id": "ROI-3", "updated_at": UPDATED, "consumer": "C-1001",
     "recipient": "ORG-SCHOOL", "purposes": ["school-coordination"],
     "share": {"categories": ["care-team", "goals"]}, "signed_on": "2023-09-01",
     "signed_by": "guardian", "effective": "2023-09-01", "expires": "2024-06-30",
     "revoked_on": "2024-03-15"},
    {"type": "consent", "id": "ROI-4", "updated_at": UPDATED, "consumer": "C-1001",
     "recipient": "ORG-PROBATION", "purposes": ["court-ordered"],
     "share": {"resource_types": ["CarePlan"]}, "signed_on": "2022-11-01",
     "effective": "2022-11-01", "expires": "2023-11-01"},
]

_REFERRALS = [
    {"type": "referral", "id": "REF-88", "updated_at": "2024-05-01T16:05Z",
     "consumer": "C-1001", "direction": "incoming", "source": "ORG-HOSPITAL",
     "reason": "Discharged after a 3-day psychiatric stay; needs follow-up within 7 days",
     "service": "assessment", "urgency": "urgent", "received_on": "2024-05-01",
     "due_on": "2024-05-08", "status": "received"},
    {"type": "referral", "id": "REF-90", "updated_at": UPDATED, "consumer": "C-1001",
     "direction": "outgoing", "source": AGENCY, "target": "ORG-PCP",
     "reason": "Annual physical and medication side-effect check", "urgency": "routine",
     "sent_on": "2024-04-20", "status": "declined",
     "status_reason": "Not accepting new Medicaid patients"},
    {"type": "referral", "id": "REF-91", "updated_at": UPDATED, "consumer": "C-1001",
     "direction": "outgoing", "target": "ORG-HOSPITAL", "reason": "Intensive SUD program",
     "service": "sud-outpatient", "status": "cancelled"},
]


def organizations() -> list[dict[str, Any]]:
    return copy.deepcopy(_ORGANIZATIONS)


def staff() -> list[dict[str, Any]]:
    return copy.deepcopy(_STAFF)


def consumer() -> dict[str, Any]:
    return copy.deepcopy(_CONSUMER)


def assignments() -> list[dict[str, Any]]:
    return copy.deepcopy(_ASSIGNMENTS)


def natural_supports() -> list[dict[str, Any]]:
    return copy.deepcopy(_NATURAL_SUPPORTS)


def plan() -> dict[str, Any]:
    return copy.deepcopy(_PLAN)


def consents() -> list[dict[str, Any]]:
    return copy.deepcopy(_CONSENTS)


def referrals() -> list[dict[str, Any]]:
    return copy.deepcopy(_REFERRALS)


def all_records() -> list[dict[str, Any]]:
    """Every sample record, for schema and validation sweeps."""
    return [*organizations(), *staff(), consumer(), *assignments(), plan(), *consents(),
            *referrals()]

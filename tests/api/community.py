"""A small community mental-health caseload, as valid FHIR R4 resources with readable ids.

``PEOPLE`` are the agencies, staff and consumers; ``CARE`` is the work around them (care teams,
plans, goals, referrals, releases of information, encounters, diagnoses). The search tests PUT
them (create-on-update keeps these ids) and assert on the ids that come back.

    consumer  birthDate   family (name)             identifiers
    elena     1988-04-12  Martínez (Elena Rosa)     agency C-1001, Medicaid
    marcus    1975-11-30  Johnson (Marcus)          agency C-1002, hospital MRN "C-1001"
    luis      2001-06-05  Martinez (Luis)           agency C-1003, Medicaid
    aisha     1988-09-03  Bennett-Martin (Aisha)    agency C-1004 (inactive)
    jordan    (unknown)   Reyes (Jordan)            school referral id without a system
"""
from __future__ import annotations

from typing import Any

from tests.api.builders import AGENCY

STAFF = "https://fhir-care-gateway.example/agency-id/staff"
CARETEAM_IDS = "https://fhir-care-gateway.example/agency-id/careteam"
PLAN_IDS = "https://fhir-care-gateway.example/agency-id/plan"
MEDICAID = "https://medicaid.michigan.example/beneficiary"
HOSPITAL_MRN = "https://lansing-general.example/mrn"
NPI = "http://hl7.org/fhir/sid/us-npi"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SERVICES = "https://fhir-care-gateway.example/CodeSystem/service"
TASK_TYPE = "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-task-type"
CMH = "http://fhir-care-gateway.example/fhir/StructureDefinition"

LONGITUDINAL_TEAM = "LA28865-6"  # LOINC: longitudinal care-coordination focused care team
EPISODE_TEAM = "LA27976-2"       # LOINC: encounter-focused care team
DEPRESSION = "35489007"          # SNOMED CT: depressive disorder
SCHIZOPHRENIA = "58214004"       # SNOMED CT: schizophrenia
MDD_SINGLE = "F32.9"             # ICD-10-CM: major depressive disorder, single episode
MDD_RECURRENT = "F33.1"          # ICD-10-CM: major depressive disorder, recurrent, moderate


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def _coding(system: str | None, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"code": code}
    if system:
        coding["system"] = system
    if display:
        coding["display"] = display
    return coding


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"coding": list(codings)}
    if text:
        result["text"] = text
    return result


# --- organizations, staff, consumers ------------------------------------------------------

def _organization(id_: str, name: str, npi: str, city: str = "Lansing") -> dict[str, Any]:
    return {"resourceType": "Organization", "id": id_, "active": True,
            "identifier": [{"system": NPI, "value": npi}], "name": name,
            "address": [{"city": city, "state": "MI"}]}


def _practitioner(id_: str, family: str, given: str, staff_id: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "id": id_, "active": True,
            "identifier": [{"system": STAFF, "value": staff_id}],
            "name": [{"family": family, "given": [given]}]}


def _patient(id_: str, family: str, given: list[str], identifiers: list[dict[str, str]],
             **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id_, "identifier": identifiers,
            "name": [{"use": "official", "family": family, "given": given}], **extra}


PEOPLE: list[dict[str, Any]] = [
    _organization("riverbend", "Riverbend Community Mental Health", "1234567893"),
    _organization("lansing-general", "Lansing General Hospital", "1861497006"),
    _organization("capital-family-med", "Capital Area Family Medicine", "1952318043",
                  city="East Lansing"),
    _practitioner("okafor", "Okafor", "Adaeze", "S-017"),      # case manager
    _practitioner("nguyen", "Nguyễn", "Linh", "S-042"),        # psychiatrist
    _practitioner("smith", "Smith", "Tanya", "S-055"),         # social worker
    _patient("elena", "Martínez", ["Elena", "Rosa"],
             [{"system": AGENCY, "value": "C-1001"}, {"system": MEDICAID, "value": "88231"}],
             gender="female", birthDate="1988-04-12", active=True,
             address=[{"line": ["12 Elm St", "Apt 3"], "city": "Lansing", "state": "MI",
                       "postalCode": "48912"}]),
    _patient("marcus", "Johnson", ["Marcus"],
             [{"system": AGENCY, "value": "C-1002"}, {"system": HOSPITAL_MRN, "value": "C-1001"}],
             gender="male", birthDate="1975-11-30", active=True,
             address=[{"line": ["410 Kalamazoo St"], "city": "East Lansing", "state": "MI",
                       "postalCode": "48823"}]),
    _patient("luis", "Martinez", ["Luis"],
             [{"system": AGENCY, "value": "C-1003"}, {"system": MEDICAID, "value": "90417"}],
             gender="male", birthDate="2001-06-05", active=True),
    _patient("aisha", "Bennett-Martin", ["Aisha"], [{"system": AGENCY, "value": "C-1004"}],
             gender="female", birthDate="1988-09-03", active=False),
    _patient("jordan", "Reyes", ["Jordan"], [{"value": "SCH-7781"}], gender="unknown"),
]


# --- the work around them -----------------------------------------------------------------

def _care_team(id_: str, patient: str, status: str, category: dict[str, Any],
               period: dict[str, str], members: list[tuple[str, str]],
               **extra: Any) -> dict[str, Any]:
    return {"resourceType": "CareTeam", "id": id_, "meta": {"profile": [f"{CMH}/cmh-careteam"]},
            "status": status, "category": [category], "subject": ref(f"Patient/{patient}"),
            "period": period,
            "participant": [{"role": [concept(_coding(SNOMED, role))], "member": ref(member)}
                            for member, role in members],
            "managingOrganization": [ref("Organization/riverbend")], **extra}


# SNOMED CT participant roles.
CASE_MANAGER = "768820003"   # care coordinator
PSYCHIATRIST = "80584001"
SOCIAL_WORKER = "106328005"
HOSPITAL = "22232009"


def _care_plan(id_: str, patient: str, status: str, period: dict[str, str],
               **extra: Any) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "id": id_, "status": status, "intent": "plan",
            "category": [concept(_coding(SNOMED, "736376001", "Mental health care plan"))],
            "subject": ref(f"Patient/{patient}"), "period": period,
            "author": ref("Practitioner/okafor"), **extra}


def _referral(id_: str, patient: str, status: str, authored: str, period: dict[str, str],
              owner: str, requester: str, focus: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Task", "id": id_, "meta": {"profile": [f"{CMH}/cmh-task"]},
            "status": status, "intent": "order", "priority": "routine",
            "code": concept(_coding(TASK_TYPE, "referral")), "for": ref(f"Patient/{patient}"),
            "authoredOn": authored, "executionPeriod": period, "owner": ref(owner),
            "requester": ref(requester), "focus": ref(focus), **extra}


def _consent(id_: str, patient: str, status: str, actor: str, period: dict[str, str]
             ) -> dict[str, Any]:
    return {"resourceType": "Consent", "id": id_, "meta": {"profile": [f"{CMH}/cmh-consent"]},
            "status": status,
            "scope": concept(_coding("http://terminology.hl7.org/CodeSystem/consentscope",
                                     "patient-privacy")),
            "category": [concept(_coding(LOINC, "59284-0", "Patient Consent"))],
            "patient": ref(f"Patient/{patient}"), "dateTime": period["start"],
            "organization": [ref("Organization/riverbend")],
            "policyRule": concept(_coding("http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                          "OPTIN")),
            "provision": {"type": "permit", "period": period, "actor": [{
                "role": concept(_coding(
                    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")),
                "reference": ref(actor)}]}}


def _service_request(id_: str, patient: str, status: str, code: str, requester: str,
                     authored: str) -> dict[str, Any]:
    return {"resourceType": "ServiceRequest", "id": id_, "status": status, "intent": "order",
            "code": concept(_coding(SERVICES, code)), "subject": ref(f"Patient/{patient}"),
            "authoredOn": authored, "requester": ref(requester)}


def _condition(id_: str, patient: str, *codings: dict[str, str]) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": id_,
            "clinicalStatus": concept(_coding(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active")),
            "category": [concept(_coding(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "encounter-diagnosis"))],
            "code": concept(*codings), "subject": ref(f"Patient/{patient}")}


def _encounter(id_: str, patient: str, class_code: str, period: dict[str, str],
               provider: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": id_, "status": "finished",
            "class": _coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", class_code),
            "subject": ref(f"Patient/{patient}"), "period": period,
            "serviceProvider": ref(provider)}


def _goal(id_: str, patient: str, text: str, start: str) -> dict[str, Any]:
    return {"resourceType": "Goal", "id": id_, "lifecycleStatus": "active",
            "description": {"text": text}, "subject": ref(f"Patient/{patient}"),
            "startDate": start}


CARE: list[dict[str, Any]] = [
    _encounter("enc-elena-visit", "elena", "AMB",
               {"start": "2026-02-03T14:00:00Z", "end": "2026-02-03T15:00:00Z"},
               "Organization/riverbend"),
    _encounter("enc-luis-inpatient", "luis", "IMP",
               {"start": "2026-03-01T18:00:00Z", "end": "2026-03-09T12:00:00Z"},
               "Organization/lansing-general"),
    _care_team("ct-elena", "elena", "active",
               concept(_coding(LOINC, LONGITUDINAL_TEAM)), {"start": "2026-01-15"},
               [("Practitioner/okafor", CASE_MANAGER), ("Practitioner/nguyen", PSYCHIATRIST),
                ("Organization/riverbend", CASE_MANAGER)],
               identifier=[{"system": CARETEAM_IDS, "value": "CT-1001"}],
               name="Care team for Elena Martínez"),
    _care_team("ct-marcus", "marcus", "active",
               concept(_coding(LOINC, LONGITUDINAL_TEAM)),
               {"start": "2025-03-01", "end": "2025-12-31"},
               [("Practitioner/smith", SOCIAL_WORKER), ("Practitioner/okafor", CASE_MANAGER)],
               identifier=[{"system": CARETEAM_IDS, "value": "CT-1002"}]),
    _care_team("ct-luis", "luis", "proposed",
               concept(_coding(LOINC, EPISODE_TEAM)), {"start": "2026-03-10"},
               [("Practitioner/nguyen", PSYCHIATRIST),
                ("Organization/lansing-general", HOSPITAL)],
               identifier=[{"system": CARETEAM_IDS, "value": "CT-1003"}],
               encounter=ref("Encounter/enc-luis-inpatient")),
    # Imported from the legacy system: a category code without its system, no identifier.
    _care_team("ct-aisha", "aisha", "inactive",
               concept(_coding(None, LONGITUDINAL_TEAM)),
               {"start": "2024-01-01", "end": "2024-06-30"},
               [("Practitioner/smith", SOCIAL_WORKER)]),
    _goal("goal-elena-housing", "elena", "I want to keep my apartment and pay rent on time.",
          "2026-02-01"),
    _goal("goal-marcus-work", "marcus", "I want to work part time at the bakery.", "2025-03-15"),
    _care_plan("cp-elena-2026", "elena", "active", {"start": "2026-02-01", "end": "2027-01-31"},
               identifier=[{"system": PLAN_IDS, "value": "PCP-1001-2026"}],
               careTeam=[ref("CareTeam/ct-elena")], goal=[ref("Goal/goal-elena-housing")]),
    _care_plan("cp-elena-2025", "elena", "completed", {"start": "2025-02-01", "end": "2026-01-31"},
               identifier=[{"system": PLAN_IDS, "value": "PCP-1001-2025"}]),
    _care_plan("cp-marcus-2025", "marcus", "active", {"start": "2025-03-01", "end": "2025-12-31"},
               identifier=[{"system": PLAN_IDS, "value": "PCP-1002-2025"}],
               careTeam=[ref("CareTeam/ct-marcus")], goal=[ref("Goal/goal-marcus-work")]),
    _service_request("sr-housing", "elena", "active", "housing-support",
                     "Practitioner/okafor", "2026-02-03"),
    _service_request("sr-peer", "luis", "active", "peer-support",
                     "Organization/lansing-general", "2026-03-09"),
    _service_request("sr-psych", "marcus", "completed", "psychiatric-evaluation",
                     "Practitioner/okafor", "2025-04-01"),
    _referral("task-housing", "elena", "in-progress", "2026-02-03T09:00:00-05:00",
              {"start": "2026-02-03"}, "Practitioner/smith", "Practitioner/okafor",
              "ServiceRequest/sr-housing"),
    _referral("task-discharge", "luis", "requested", "2026-03-09T14:30:00Z",
              {"start": "2026-03-09", "end": "2026-03-16"}, "Organization/riverbend",
              "Organization/lansing-general", "ServiceRequest/sr-peer"),
    _referral("task-psych", "marcus", "completed", "2025-04-01T10:00:00Z",
              {"start": "2025-04-01", "end": "2025-05-15"}, "Practitioner/nguyen",
              "Practitioner/okafor", "CarePlan/cp-marcus-2025"),
    _consent("consent-elena-pcp", "elena", "active", "Organization/capital-family-med",
             {"start": "2026-02-01", "end": "2027-02-01"}),
    _consent("consent-elena-hospital", "elena", "inactive", "Organization/lansing-general",
             {"start": "2025-01-10", "end": "2025-07-10"}),
    _consent("consent-marcus-hospital", "marcus", "active", "Organization/lansing-general",
             {"start": "2025-03-01", "end": "2026-03-01"}),
    _consent("consent-marcus-okafor", "marcus", "active", "Practitioner/okafor",
             {"start": "2025-03-01", "end": "2026-03-01"}),
    _condition("cond-elena", "elena", _coding(SNOMED, DEPRESSION, "Depressive disorder"),
               _coding(ICD10, MDD_SINGLE)),
    _condition("cond-marcus", "marcus", _coding(SNOMED, SCHIZOPHRENIA, "Schizophrenia")),
    _condition("cond-luis", "luis", _coding(ICD10, MDD_RECURRENT)),
]

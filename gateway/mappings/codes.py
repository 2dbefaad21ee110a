"""Codes and URLs fixed by FHIR R4 or by our own profiles, not by the agency.

Everything an agency may want to change lives in the ConceptMaps of ``profiles/terminology``;
what is here is pinned by a StructureDefinition (``profiles/``) or by the meaning of a FHIR
element, so changing it would break conformance rather than adapt terminology.
"""
from __future__ import annotations

FHIR_BASE = "http://fhir-care-gateway.example/fhir"

# Our profiles (profiles/StructureDefinition-cmh-*.json).
PROFILE_CAREPLAN = f"{FHIR_BASE}/StructureDefinition/cmh-careplan"
PROFILE_CARETEAM = f"{FHIR_BASE}/StructureDefinition/cmh-careteam"
PROFILE_TASK = f"{FHIR_BASE}/StructureDefinition/cmh-task"
PROFILE_CONSENT = f"{FHIR_BASE}/StructureDefinition/cmh-consent"

# Task.code, bound (required) to profiles/ValueSet-cmh-task-type.json.
TASK_TYPE_SYSTEM = f"{FHIR_BASE}/CodeSystem/cmh-task-type"
TASK_REFERRAL = {"system": TASK_TYPE_SYSTEM, "code": "referral", "display": "Referral"}
# A referral Task also carries FHIR's own task code, as Gravity SDOHCC and BSeR fix it.
TASK_FULFILL = {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill",
                "display": "Fulfill the focal request"}
# BSeR's referral Task identifiers (v2-0203): the requester's (placer) and ours (filler).
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
PLACER_IDENTIFIER = {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": "PLAC",
                                 "display": "Placer Identifier"}]}
FILLER_IDENTIFIER = {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": "FILL",
                                 "display": "Filler Identifier"}]}
TASK_CASE_MANAGER_CHANGE = {"system": TASK_TYPE_SYSTEM, "code": "case-manager-change",
                            "display": "Change of case manager"}

# Consent: the cmh-consent profile fixes scope and category; a release of information discloses
# to an information recipient.
CONSENT_SCOPE = {"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                 "code": "patient-privacy", "display": "Privacy Consent"}
CONSENT_CATEGORY = {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
CONSENT_ACTION_DISCLOSE = {"system": "http://terminology.hl7.org/CodeSystem/consentaction",
                           "code": "disclose", "display": "Disclose"}
INFORMATION_RECIPIENT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                         "code": "IRCP", "display": "information recipient"}

# Goal.achievementStatus for an achieved goal.
GOAL_ACHIEVED = {"system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                 "code": "achieved", "display": "Achieved"}

# Identifier and language systems.
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
EIN_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"  # US IRS employer identification number
BCP47_SYSTEM = "urn:ietf:bcp:47"
UCUM_SYSTEM = "http://unitsofmeasure.org"

# Extensions. The interpreter one is HL7's; the cmh-* ones are the gateway's own.
EXT_INTERPRETER_REQUIRED = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"
EXT_ELIGIBILITY = f"{FHIR_BASE}/StructureDefinition/cmh-eligibility"
EXT_APPLICATION_DATE = f"{FHIR_BASE}/StructureDefinition/cmh-application-date"
EXT_REVIEW_FREQUENCY = f"{FHIR_BASE}/StructureDefinition/cmh-review-frequency"
EXT_LAST_REVIEW = f"{FHIR_BASE}/StructureDefinition/cmh-last-review"
EXT_CONSENT_REVOKED = f"{FHIR_BASE}/StructureDefinition/cmh-consent-revoked"

# ConceptMap target.product properties the mappings read.
PROPERTY_SENSITIVITY = f"{FHIR_BASE}/property/sensitivity"
PROPERTY_MEMBER_TYPE = f"{FHIR_BASE}/property/member-type"

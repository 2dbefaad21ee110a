"""The leak matrix's world: one consumer per consent state, each with a Consent of that state to
every demo partner (for that partner's own purpose of use) and one resource of each type, some
of them labelled as substance-use-disorder records; and the oracle, written from the rules (not
from the code), of what each partner may see of it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import OPERATOR_KEY

TODAY = datetime.now(UTC).date()
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SUD = [{"system": ACT_CODE, "code": "SUD"}, {"system": ACT_CODE, "code": "ETH"}]
SCHOOL_TAG = {"system": "http://fhir-care-gateway.example/fhir/CodeSystem/cmh-tag",
              "code": "school-relevant"}
INLINE_LABEL = ("http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/"
                "extension-inline-sec-label")
PARTNERS = ("pcp-cedar", "hospital-stbrigid", "school-walnut", "court-probate")
PURPOSE = {"pcp-cedar": "TREAT", "hospital-stbrigid": "TREAT", "school-walnut": "COC",
           "court-probate": "HLEGAL"}
STATES = ("none", "active", "expired", "revoked", "wrong-purpose", "wrong-class",
          "part2-without-consent", "part2", "nested-deny")
CLINICAL_TYPES = ["Patient", "CareTeam", "CarePlan", "Goal", "ServiceRequest", "Task",
                  "RelatedPerson", "Condition", "Encounter", "DocumentReference", "Consent"]

# The rules, restated: what each kind of partner is ever shown (minimum necessary).
SHOWN = {
    "physical-health": {"Patient", "CareTeam", "CarePlan", "Goal", "ServiceRequest",
                        "RelatedPerson", "Practitioner", "PractitionerRole", "Organization"},
    "hospital": {"Patient", "CareTeam", "Task", "ServiceRequest", "Practitioner",
                 "PractitionerRole", "Organization"},
    "school": {"Patient", "CareTeam", "Goal", "RelatedPerson", "Practitioner",
               "PractitionerRole", "Organization"},
    "court": {"Patient", "CarePlan", "CareTeam", "Encounter", "Practitioner",
              "PractitionerRole", "Organization"},
}


def reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def consent(state: str, patient: str, partner: dict[str, Any]) -> dict[str, Any] | None:
    if state == "none":
        return None
    purpose = "HPAYMT" if state == "wrong-purpose" else PURPOSE[partner["id"]]
    start, end = TODAY - timedelta(days=30), TODAY + timedelta(days=335)
    if state == "expired":
        start, end = TODAY - timedelta(days=400), TODAY - timedelta(days=35)
    classes = ["Patient"] if state == "wrong-class" else CLINICAL_TYPES
    nested = [{"type": "permit" if state == "part2" else "deny", "securityLabel": SUD}]
    if state == "nested-deny":
        nested.append({"type": "deny", "class": [
            {"system": "http://hl7.org/fhir/resource-types", "code": "CarePlan"}]})
    return {
        "resourceType": "Consent", "id": f"consent-{state}-{partner['id']}",
        "status": "inactive" if state == "revoked" else "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": reference("Patient", patient),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "42CFRPart2"}]
                       if state == "part2" else [{
                           "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
                           "code": "hipaa-auth"}]},
        "provision": {
            "type": "permit", "period": {"start": start.isoformat(), "end": end.isoformat()},
            "actor": [{"role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP"}]}, "reference": reference("Organization",
                                                          partner["organization"])}],
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                         "code": purpose}],
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": code}
                      for code in classes],
            "provision": nested,
        },
    }


def consumer_resources(state: str) -> list[dict[str, Any]]:
    """One resource of each type for consumer ``state`` (+ SUD-labelled and untagged ones)."""
    p = f"p-{state}"
    subject = reference("Patient", p)
    team_member = [{"member": reference("Practitioner", "pr-1")}]

    def make(resource_type: str, suffix: str, body: dict[str, Any],
             labels: list[dict[str, str]] | None = None, tag: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if labels:
            meta["security"] = labels
        if tag:
            meta["tag"] = [SCHOOL_TAG]
        return {"resourceType": resource_type, "id": f"{resource_type.lower()}-{suffix}-{state}",
                **({"meta": meta} if meta else {}), **body}

    return [
        {"resourceType": "Patient", "id": p, "name": [{"family": state.title()}],
         "birthDate": "2010-05-01", "gender": "other",
         "address": [{"city": "Lansing"}], "telecom": [{"system": "phone", "value": "555"}]},
        make("CareTeam", "main", {"status": "active", "subject": subject,
                                  "participant": team_member, "note": [{"text": "clinical"}]}),
        make("CareTeam", "sud", {"status": "active", "subject": subject,
                                 "participant": team_member}, labels=SUD),
        make("CarePlan", "main", {"status": "active", "intent": "plan", "subject": subject,
                                  "description": "plan details", "goal": [
                                      {**reference("Goal", f"goal-sud-{state}"),
                                       "extension": [{"url": INLINE_LABEL,
                                                      "valueCoding": SUD[0]}]},
                                      reference("Goal", f"goal-home-{state}")]}),
        make("Goal", "school", {"lifecycleStatus": "active", "subject": subject,
                                "description": {"text": "Attend school every day"}}, tag=True),
        make("Goal", "home", {"lifecycleStatus": "active", "subject": subject,
                              "description": {"text": "Cook dinner twice a week"}}),
        make("Goal", "sud", {"lifecycleStatus": "active", "subject": subject,
                             "description": {"text": "Stay sober"}}, labels=SUD, tag=True),
        make("ServiceRequest", "main", {"status": "active", "intent": "order",
                                        "subject": subject, "code": {"text": "peer support"}}),
        make("ServiceRequest", "sud", {"status": "active", "intent": "order",
                                       "subject": subject, "code": {"text": "SUD counseling"}},
             labels=SUD),
        make("Task", "main", {"status": "requested", "intent": "order", "for": subject}),
        make("RelatedPerson", "main", {"patient": subject, "name": [{"family": "Parent"}]}),
        make("Condition", "main", {"subject": subject, "code": {"text": "diagnosis"}}),
        make("Encounter", "main", {"status": "finished", "subject": subject, "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}),
        make("DocumentReference", "main", {"status": "current", "subject": subject,
                                           "content": [{"attachment": {"title": "note"}}]}),
    ]


DIRECTORY = [
    {"resourceType": "Practitioner", "id": "pr-1", "name": [{"family": "Okafor"}],
     "telecom": [{"system": "phone", "value": "517-555-0100"}]},
    {"resourceType": "PractitionerRole", "id": "prr-1", "practitioner":
        reference("Practitioner", "pr-1"), "code": [{"text": "case manager"}]},
    {"resourceType": "AuditEvent", "id": "ae-1", "type": {
        "system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
     "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": True,
                                                     "who": {"display": "x"}}],
     "source": {"observer": {"display": "gateway"}}},
]


def expected_visible(partner: dict[str, Any], state: str | None, resource: dict[str, Any]
                     ) -> bool:
    """The oracle: the rules of the privacy issue, for one resource (state None: directory)."""
    resource_type = resource["resourceType"]
    kind = partner["type"]
    if resource_type not in SHOWN[kind] or resource_type not in partner["resource_types"]:
        return False
    if state is None:
        return True
    meta = resource.get("meta", {})
    sud = any(label["code"] in ("SUD", "ETH") for label in meta.get("security", []))
    if kind == "school" and resource_type == "Goal" and SCHOOL_TAG not in meta.get("tag", []):
        return False
    if state in ("none", "expired", "revoked", "wrong-purpose"):
        return False
    if state == "wrong-class" and resource_type != "Patient":
        return False
    if state == "nested-deny" and resource_type == "CarePlan":
        return False
    return not (sud and state != "part2")


def bearer(get_token, partner_id: str, scope: str = "system/*.read") -> dict[str, str]:
    response = get_token(partner_id, scope=scope)
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

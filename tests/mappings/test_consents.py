"""consent -> Consent (cmh-consent)."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import MappingContext, MappingError, consent_from_record

from . import samples
from .helpers import SECURITY_SUD, assert_valid, security

TODAY = date(2024, 5, 2)
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"


def consent(ctx: MappingContext, index: int, today: date = TODAY, **changes) -> dict:
    record = samples.consents()[index]
    record.update(changes)
    return consent_from_record(record, ctx, today)[0]


def test_all_validate(ctx: MappingContext, validator: Validator) -> None:
    assert_valid(validator, [consent(ctx, i) for i in range(len(samples.consents()))])


def test_active_hipaa_consent(ctx: MappingContext) -> None:
    resource = consent(ctx, 0)
    assert resource["status"] == "active"
    assert resource["policyRule"]["coding"][0]["code"] == "hipaa-auth"
    provision = resource["provision"]
    assert "type" not in provision  # R4: the root rule has no type; the policy decides
    assert provision["period"] == {"start": "2024-01-20", "end": "2025-01-20"}
    assert provision["actor"][0]["reference"] == ctx.reference("Organization", "organization",
                                                               "ORG-PCP")
    assert provision["actor"][0]["role"]["coding"][0]["code"] == "IRCP"
    assert [p["code"] for p in provision["purpose"]] == ["TREAT", "COC"]
    assert [c["code"] for c in provision["class"]] == [
        "Condition", "CareTeam", "PractitionerRole", "Practitioner", "RelatedPerson",
        "CarePlan", "Goal"]
    assert {c["system"] for c in provision["class"]} == {RESOURCE_TYPES}
    # Not a Part 2 consent: SUD-labelled content is excluded.
    assert provision["provision"][0]["type"] == "deny"
    assert ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "SUD") in {
        (c["system"], c["code"]) for c in provision["provision"][0]["securityLabel"]}
    assert resource["performer"] == [ctx.reference("RelatedPerson", "guardian", "C-1001")]
    assert resource["organization"] == [ctx.agency_reference()]
    assert security(resource) == set()


def test_part2_consent(ctx: MappingContext) -> None:
    resource = consent(ctx, 1)
    assert resource["policyRule"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2",
        "display": "42 CFR Part2"}
    assert resource["provision"]["provision"][0]["type"] == "permit"
    assert SECURITY_SUD in security(resource)  # the consent itself reveals SUD treatment
    assert resource["performer"] == [ctx.reference("Patient", "consumer", "C-1001")]


def test_revoked_consent(ctx: MappingContext) -> None:
    resource = consent(ctx, 2)
    assert resource["status"] == "inactive"
    assert resource["provision"]["period"] == {"start": "2023-09-01", "end": "2024-03-15"}
    assert resource["extension"] == [{
        "url": "http://fhir-care-gateway.example/fhir/StructureDefinition/cmh-consent-revoked",
        "valueDate": "2024-03-15"}]


def test_expired_consent(ctx: MappingContext) -> None:
    resource = consent(ctx, 3)
    assert resource["status"] == "inactive"
    assert resource["provision"]["purpose"][0]["code"] == "HLEGAL"
    assert "performer" not in resource


@pytest.mark.parametrize(("today", "status"), [
    (date(2025, 1, 20), "active"),  # valid through the expiry date
    (date(2025, 1, 21), "inactive"),
    (date(2023, 12, 1), "active"),  # signed for later: active, the period says from when
])
def test_expiry_boundary(ctx: MappingContext, today: date, status: str) -> None:
    assert consent(ctx, 0, today)["status"] == status


def test_revocation_after_expiry_keeps_the_earlier_end(ctx: MappingContext) -> None:
    resource = consent(ctx, 3, revoked_on="2024-01-01")
    assert resource["provision"]["period"]["end"] == "2023-11-01"


def test_unknown_purpose_and_category(ctx: MappingContext) -> None:
    with pytest.raises(MappingError) as raised:
        consent(ctx, 0, purposes=["treatment", "marketing"])
    assert raised.value.path == "purposes[1]"
    with pytest.raises(MappingError) as raised:
        consent(ctx, 0, share={"categories": ["everything"]})
    assert raised.value.path == "share.categories[0]"


def test_revoked_before_it_took_effect_is_a_valid_consent_never_in_force(
        ctx: MappingContext, validator: Validator) -> None:
    resource = consent(ctx, 2, revoked_on="2023-08-01")  # effective 2023-09-01
    assert resource["status"] == "inactive"
    assert resource["provision"]["period"] == {"start": "2023-09-01", "end": "2023-09-01"}
    assert resource["extension"][0]["valueDate"] == "2023-08-01"
    assert validator.validate(resource) == []  # per-1: start is not after end

"""consumer -> Patient (+ guardian RelatedPerson)."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import MappingContext, MappingError, patient_from_consumer

from . import samples
from .helpers import assert_valid, codes, one

ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def test_full_consumer(ctx: MappingContext, validator: Validator) -> None:
    resources = patient_from_consumer(samples.consumer(), ctx)
    assert_valid(validator, resources)
    patient = one(resources, "Patient")
    assert patient["id"] == ctx.fhir_id("consumer", "C-1001")
    assert {"system": "https://fhir-care-gateway.example/agency-id/consumer",
            "value": "C-1001"} in patient["identifier"]
    medicaid = next(i for i in patient["identifier"] if i["system"] == ctx.medicaid_system)
    assert medicaid["value"] == "0012345678" and medicaid["type"]["coding"][0]["code"] == "MA"
    assert patient["name"] == [
        {"use": "official", "family": "Doe", "given": ["Jane", "Marie"]},
        {"use": "usual", "family": "Doe", "given": ["JJ"]}]
    assert patient["communication"][0]["language"]["coding"][0]["code"] == "es"
    extensions = {e["url"]: e for e in patient["extension"]}
    assert extensions["http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"] \
        == {"url": "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired",
            "valueBoolean": True}
    eligibility = extensions["http://fhir-care-gateway.example/fhir/StructureDefinition/"
                             "cmh-eligibility"]["extension"]
    assert eligibility[0]["valueCoding"]["code"] == "serious-emotional-disturbance"
    assert eligibility[0]["valueCoding"]["display"]
    assert eligibility[1] == {"url": "since", "valueDate": "2021-03-01"}
    assert patient["managingOrganization"] == ctx.agency_reference()


def test_guardian_is_a_related_person_with_guard(ctx: MappingContext) -> None:
    guardian = one(patient_from_consumer(samples.consumer(), ctx), "RelatedPerson")
    relationships = set().union(*(codes(c) for c in guardian["relationship"]))
    assert relationships == {(ROLE_CODE, "MTH"), (ROLE_CODE, "GUARD")}
    assert guardian["patient"] == ctx.reference("Patient", "consumer", "C-1001")
    assert guardian["id"] == ctx.fhir_id("guardian", "C-1001")


def test_guardian_relationship_guardian_is_listed_once(ctx: MappingContext) -> None:
    consumer = samples.consumer()
    consumer["guardian"]["relationship"] = "guardian"
    guardian = one(patient_from_consumer(consumer, ctx), "RelatedPerson")
    assert len(guardian["relationship"]) == 1


def test_minimal_consumer(ctx: MappingContext, validator: Validator) -> None:
    consumer = {"type": "consumer", "id": "C-2", "updated_at": samples.UPDATED,
                "name": {"family": "Roe"}, "birth_date": "1990-01-01",
                "identifiers": {"agency_number": "RB-2"}}
    resources = patient_from_consumer(consumer, ctx)
    assert_valid(validator, resources)
    assert len(resources) == 1
    patient = resources[0]
    assert "extension" not in patient and "communication" not in patient
    assert patient["name"] == [{"use": "official", "family": "Roe"}]


def test_interpreter_not_needed_is_stated(ctx: MappingContext) -> None:
    consumer = samples.consumer()
    consumer["interpreter_needed"] = False
    patient = patient_from_consumer(consumer, ctx)[0]
    assert {"url": "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired",
            "valueBoolean": False} in patient["extension"]


def test_unknown_relationship_names_the_field(ctx: MappingContext) -> None:
    consumer = samples.consumer()
    consumer["guardian"]["relationship"] = "landlord"
    with pytest.raises(MappingError) as raised:
        patient_from_consumer(consumer, ctx)
    assert raised.value.path == "guardian.relationship"


def test_wrong_record_type(ctx: MappingContext) -> None:
    with pytest.raises(MappingError) as raised:
        patient_from_consumer(samples.staff()[0], ctx)
    assert raised.value.path == "type"

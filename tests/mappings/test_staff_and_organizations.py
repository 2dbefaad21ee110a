"""staff -> Practitioner + PractitionerRoles; organization -> Organization."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator
from gateway.mappings import (
    MappingContext,
    MappingError,
    organization_from_record,
    practitioner_from_staff,
)

from . import samples
from .helpers import assert_valid, by_type, codes, one

SNOMED = "http://snomed.info/sct"


def test_staff_with_two_roles(ctx: MappingContext, validator: Validator) -> None:
    resources = practitioner_from_staff(samples.staff()[0], ctx)
    assert_valid(validator, resources)
    practitioner = one(resources, "Practitioner")
    roles = by_type(resources, "PractitionerRole")
    assert [codes(r["code"][0]) for r in roles] == [{(SNOMED, "768832004")},
                                                    {(SNOMED, "768820003")}]
    for role in roles:
        assert role["practitioner"] == {"reference": f"Practitioner/{practitioner['id']}"}
        assert role["organization"] == ctx.agency_reference()
        assert role["telecom"] == practitioner["telecom"]
    assert len({r["id"] for r in roles}) == 2
    assert {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1487965412"} .items() <= \
        practitioner["identifier"][1].items()
    assert [c["coding"][0]["code"] for c in practitioner["communication"]] == ["en", "ig"]


def test_credentials_coded_when_mapped_else_text(ctx: MappingContext) -> None:
    practitioner = practitioner_from_staff(samples.staff()[0], ctx)[0]
    qualifications = [q["code"] for q in practitioner["qualification"]]
    assert qualifications[0]["coding"][0]["code"] == "LMSW"
    assert qualifications[2] == {"text": "Certified Trauma Professional"}


def test_skills_become_specialties(ctx: MappingContext) -> None:
    role = practitioner_from_staff(samples.staff()[0], ctx)[1]
    assert [s.get("coding", [{}])[0].get("code") for s in role["specialty"]] == [
        "trauma-informed", "co-occurring", None]
    assert role["specialty"][2] == {"text": "knits"}


def test_physician_credential_is_v2_degree(ctx: MappingContext) -> None:
    practitioner = practitioner_from_staff(samples.staff()[3], ctx)[0]
    assert practitioner["qualification"][0]["code"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": "MD",
        "display": "Doctor of Medicine"}
    assert practitioner["name"][0]["prefix"] == ["Dr."]


def test_unknown_role_names_its_index(ctx: MappingContext) -> None:
    staff = samples.staff()[1]
    staff["roles"] = ["supervisor", "wizard"]
    with pytest.raises(MappingError) as raised:
        practitioner_from_staff(staff, ctx)
    assert raised.value.path == "roles[1]"


def test_organizations(ctx: MappingContext, validator: Validator) -> None:
    resources = [r for o in samples.organizations() for r in organization_from_record(o, ctx)]
    assert_valid(validator, resources)
    agency, access, pcp, school, *_ = resources
    assert agency["type"][0]["coding"][0]["code"] == "prov"
    assert {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}.items() <= \
        agency["identifier"][1].items()
    assert agency["identifier"][2]["system"] == "urn:oid:2.16.840.1.113883.4.4"
    assert access["partOf"] == ctx.agency_reference()
    assert school["type"][0]["coding"][0]["code"] == "edu"
    assert school["identifier"][1] == {"system": ctx.nces_system, "value": "262097005734"}
    assert pcp["telecom"] == [{"system": "fax", "value": "517-555-0199"}]


def test_unknown_organization_kind(ctx: MappingContext) -> None:
    organization = samples.organizations()[0]
    organization["kind"] = "church"
    with pytest.raises(MappingError) as raised:
        organization_from_record(organization, ctx)
    assert raised.value.path == "kind"

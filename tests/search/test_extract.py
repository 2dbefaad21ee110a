"""What reindex() would store for a resource: extraction per parameter type."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.fhir.search import SearchParameterRegistry, extract, normalize
from gateway.fhir.search.dates import FAR_FUTURE
from gateway.fhir.search.extract import Extracted

from .helpers import BASE_URL


def of(registry: SearchParameterRegistry, resource: dict[str, Any], *codes: str) -> Extracted:
    params = [p for p in registry.indexed(resource["resourceType"]) if p.code in codes]
    assert {p.code for p in params} == set(codes)
    return extract(params, resource, BASE_URL)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_token_from_codeable_concept_identifier_code_and_boolean(
        registry: SearchParameterRegistry) -> None:
    condition = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"},
                            {"system": "http://hl7.org/fhir/sid/icd-10", "code": "F32.9"},
                            {"display": "no code, no system"}], "text": "Depression"},
        "identifier": [{"system": "urn:agency", "value": "C-1"}, {"value": "bare"}],
    }
    assert of(registry, condition, "code", "identifier").tokens == {
        ("code", "http://snomed.info/sct", "35489007"),
        ("code", "http://hl7.org/fhir/sid/icd-10", "F32.9"),
        ("identifier", "urn:agency", "C-1"),
        ("identifier", None, "bare"),
    }
    patient = {"resourceType": "Patient", "gender": "female", "active": False}
    assert of(registry, patient, "gender", "active").tokens == {
        ("gender", None, "female"), ("active", None, "false")}


def test_token_from_contact_point_keeps_its_system(registry: SearchParameterRegistry) -> None:
    patient = {"resourceType": "Patient", "telecom": [
        {"system": "email", "value": "elena@example.org"}, {"system": "phone", "value": "555"}]}
    assert of(registry, patient, "email", "phone", "telecom").tokens == {
        ("email", "email", "elena@example.org"), ("phone", "phone", "555"),
        ("telecom", "email", "elena@example.org"), ("telecom", "phone", "555")}


def test_token_values_too_long_for_the_column_are_skipped(
        registry: SearchParameterRegistry) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:s", "value": "x" * 300}]}
    assert of(registry, patient, "identifier").tokens == set()


def test_string_from_human_name_parts_with_accent_folding(
        registry: SearchParameterRegistry) -> None:
    patient = {"resourceType": "Patient", "name": [
        {"family": "Martínez", "given": ["Élena", "María"], "prefix": ["Dr."], "suffix": ["Jr"],
         "text": "Dr. Élena María Martínez Jr"}]}
    found = of(registry, patient, "name", "family", "given")
    assert {(p, n) for p, n, _ in found.strings} == {
        ("name", "martinez"), ("name", "elena"), ("name", "maria"), ("name", "dr."),
        ("name", "jr"), ("name", "dr. elena maria martinez jr"),
        ("family", "martinez"), ("given", "elena"), ("given", "maria")}
    assert ("family", "martinez", "Martínez") in found.strings


def test_string_from_address_parts(registry: SearchParameterRegistry) -> None:
    patient = {"resourceType": "Patient", "address": [
        {"line": ["1 Main St", "Apt 2"], "city": "Zürich", "postalCode": "8000",
         "country": "CH"}]}
    found = of(registry, patient, "address", "address-city")
    assert {(p, e) for p, _, e in found.strings} == {
        ("address", "1 Main St"), ("address", "Apt 2"), ("address", "Zürich"),
        ("address", "8000"), ("address", "CH"), ("address-city", "Zürich")}


def test_normalize_folds_case_and_accents() -> None:
    assert normalize("ÉLÈNA Nuñez-Ødegård") == "elena nunez-odegard"
    # Letters with a built-in stroke fold too: Vietnamese and Polish names.
    assert normalize("Đặng Łukasz") == "dang lukasz"
    assert normalize("Straße") == "strasse"


def test_reference_forms(registry: SearchParameterRegistry) -> None:
    def refs(reference: str) -> set[tuple[Any, ...]]:
        return of(registry, {"resourceType": "Condition", "subject": {"reference": reference}},
                  "subject").references

    assert refs("Patient/p1") == {("subject", "Patient", "p1", None)}
    assert refs("Patient/p1/_history/3") == {("subject", "Patient", "p1", None)}
    assert refs(f"{BASE_URL}/Patient/p1") == {("subject", "Patient", "p1", None)}
    assert refs("http://other.example/fhir/Patient/p1") == {
        ("subject", "Patient", None, "http://other.example/fhir/Patient/p1")}
    assert refs("urn:uuid:0e6a1c8e-7c55-4f0e-9a43-cc2f6a0d1f1b") == {
        ("subject", None, None, "urn:uuid:0e6a1c8e-7c55-4f0e-9a43-cc2f6a0d1f1b")}
    # Not allowed by the parameter's targets (Group | Patient), or contained: not indexed.
    assert refs("Practitioner/x") == set()
    assert refs("#contained") == set()


def test_reference_where_resolve_is_patient(registry: SearchParameterRegistry) -> None:
    def patient_refs(reference: str) -> set[tuple[Any, ...]]:
        return of(registry, {"resourceType": "Condition", "subject": {"reference": reference}},
                  "patient").references

    assert patient_refs("Patient/p1") == {("patient", "Patient", "p1", None)}
    assert patient_refs("Group/g1") == set()


def test_canonical_reference_is_stored_as_url(registry: SearchParameterRegistry) -> None:
    plan = {"resourceType": "CarePlan",
            "instantiatesCanonical": ["http://example.org/PlanDefinition/pd|1.0"]}
    assert of(registry, plan, "instantiates-canonical").references == {
        ("instantiates-canonical", None, None, "http://example.org/PlanDefinition/pd|1.0")}


def test_dates_at_each_precision_and_period_open_ends(registry: SearchParameterRegistry
                                                      ) -> None:
    patient = {"resourceType": "Patient", "birthDate": "1988-04"}
    assert of(registry, patient, "birthdate").dates == {
        ("birthdate", utc(1988, 4, 1), utc(1988, 4, 30, 23, 59, 59, 999999))}
    plan = {"resourceType": "CarePlan", "period": {"start": "2026-02-01"}}
    assert of(registry, plan, "date").dates == {("date", utc(2026, 2, 1), FAR_FUTURE)}
    request = {"resourceType": "ServiceRequest", "occurrenceTiming": {
        "event": ["2024-01-01T09:00:00Z", "2024-01-08T09:00:00Z"],
        "repeat": {"boundsPeriod": {"start": "2024-01-01", "end": "2024-03-31"}}}}
    assert of(registry, request, "occurrence").dates == {
        ("occurrence", utc(2024, 1, 1, 9), utc(2024, 1, 1, 9, 0, 0, 999999)),
        ("occurrence", utc(2024, 1, 8, 9), utc(2024, 1, 8, 9, 0, 0, 999999)),
        ("occurrence", utc(2024, 1, 1), utc(2024, 3, 31, 23, 59, 59, 999999))}
    broken = {"resourceType": "Patient", "birthDate": "not a date"}
    assert of(registry, broken, "birthdate").dates == set()


def test_uri_values(registry: SearchParameterRegistry) -> None:
    subscription = {"resourceType": "Subscription",
                    "channel": {"type": "rest-hook", "endpoint": "https://partner.example/hook"},
                    "meta": {"profile": ["http://example.org/StructureDefinition/p"]}}
    found = of(registry, subscription, "url", "_profile")
    assert found.uris == {("url", "https://partner.example/hook"),
                          ("_profile", "http://example.org/StructureDefinition/p")}


def test_deceased_is_a_boolean_token(registry: SearchParameterRegistry) -> None:
    def deceased(resource: dict[str, Any]) -> set[tuple[Any, ...]]:
        return of(registry, {"resourceType": "Patient", **resource}, "deceased").tokens

    assert deceased({}) == {("deceased", None, "false")}
    assert deceased({"deceasedDateTime": "2020-01-01"}) == {("deceased", None, "true")}
    assert deceased({"deceasedBoolean": True}) == {("deceased", None, "true")}

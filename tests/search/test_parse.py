"""parse_search: values, modifiers, result parameters and the errors it reports."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.fhir.errors import FhirError
from gateway.fhir.search import SearchParameterRegistry, SearchRequest, parse_search
from gateway.fhir.search.parse import DateValue, ReferenceValue, StringValue, TokenValue

from .helpers import BASE_URL, query


def parse(registry: SearchParameterRegistry, resource_type: str, text: str,
          **options: Any) -> SearchRequest:
    settings = {"lenient": False, "default_count": 20, "max_count": 100, "base_url": BASE_URL,
                **options}
    return parse_search(resource_type, query(text), registry, **settings)


def errors(registry: SearchParameterRegistry, resource_type: str, text: str
           ) -> list[dict[str, Any]]:
    with pytest.raises(FhirError) as caught:
        parse(registry, resource_type, text)
    assert caught.value.status == 400
    return caught.value.issues


def test_token_forms(registry: SearchParameterRegistry) -> None:
    request = parse(registry, "Patient",
                    "identifier=urn:s|1,|2,urn:s|,3&identifier=a\\|b&identifier=a\\,b")
    first, second, third = request.criteria
    assert first.values == (TokenValue("urn:s", "1", True), TokenValue(None, "2", True),
                            TokenValue("urn:s", None, True), TokenValue(None, "3", False))
    assert second.values == (TokenValue(None, "a|b", False),)
    assert third.values == (TokenValue(None, "a,b", False),)


def test_string_values_are_normalized(registry: SearchParameterRegistry) -> None:
    (criterion,) = parse(registry, "Patient", "name:exact=Martínez").criteria
    assert criterion.modifier == "exact"
    assert criterion.values == (StringValue("Martínez", "martinez"),)


def test_date_prefixes(registry: SearchParameterRegistry) -> None:
    request = parse(registry, "Patient", "birthdate=ge1980&birthdate=lt1990-06-01")
    low, high = (c.values[0] for c in request.criteria)
    assert isinstance(low, DateValue) and isinstance(high, DateValue)
    assert (low.prefix, low.low.year, low.high.month) == ("ge", 1980, 12)
    assert (high.prefix, high.low.day) == ("lt", 1)
    (approximately,) = parse(registry, "Patient", "birthdate=ap2000-01-01").criteria
    value = approximately.values[0]
    assert isinstance(value, DateValue) and value.low.year < 2000 and value.high.year > 2000


def test_reference_forms(registry: SearchParameterRegistry) -> None:
    request = parse(registry, "Condition", "subject=Patient/p1&subject=p2&subject:Patient=p3"
                    f"&subject={BASE_URL}/Patient/p4&subject=http://other.example/Patient/p5")
    assert [c.values[0] for c in request.criteria] == [
        ReferenceValue("Patient", "p1", None), ReferenceValue(None, "p2", None),
        ReferenceValue("Patient", "p3", None), ReferenceValue("Patient", "p4", None),
        ReferenceValue(None, None, "http://other.example/Patient/p5")]
    assert request.criteria[2].target_types == ("Patient",)


def test_chains(registry: SearchParameterRegistry) -> None:
    (criterion,) = parse(registry, "Condition", "subject:Patient.name=smith").criteria
    assert criterion.target_types == ("Patient",)
    assert [c.param.resource_type for c in criterion.chain] == ["Patient"]
    (across,) = parse(registry, "Task", "owner.identifier=urn:s|1").criteria
    assert {"Practitioner", "Organization", "Patient", "CareTeam"} <= set(across.target_types)


def test_result_parameters(registry: SearchParameterRegistry) -> None:
    request = parse(registry, "Patient", "name=a&_count=500&_offset=20&_sort=-birthdate,_id"
                    "&_total=accurate&_summary=count&_elements=name,Patient.birthDate"
                    "&_include=Patient:organization&_revinclude=Condition:subject"
                    "&_format=json")
    assert (request.count, request.offset, request.total_mode) == (100, 20, "accurate")
    assert [(k.param.code, k.descending) for k in request.sort] == [("birthdate", True),
                                                                    ("_id", False)]
    assert request.summary_count and request.elements == ["name", "birthDate"]
    assert [(i.source_type, i.param.code) for i in request.includes] == [
        ("Patient", "organization")]
    assert [(i.source_type, i.param.code, i.reverse) for i in request.revincludes] == [
        ("Condition", "subject", True)]
    assert request.link_params() == [
        ("name", "a"), ("_sort", "-birthdate,_id"), ("_total", "accurate"),
        ("_summary", "count"), ("_elements", "name,Patient.birthDate"),
        ("_include", "Patient:organization"), ("_revinclude", "Condition:subject"),
        ("_count", "100")]


def test_total_method_alias_used_by_fhirpy(registry: SearchParameterRegistry) -> None:
    assert parse(registry, "Patient", "_totalMethod=count").total_mode == "accurate"
    assert parse(registry, "Patient", "_totalMethod=none").total_mode == "none"


def test_defaults(registry: SearchParameterRegistry) -> None:
    request = parse(registry, "Patient", "name=")
    assert request.criteria == [] and request.count == 20 and request.offset == 0
    assert request.link_params() == [("_count", "20")]


def test_include_wildcard_and_iterate(registry: SearchParameterRegistry) -> None:
    request = parse(registry, "CarePlan", "_include=*&_include:iterate=CareTeam:participant")
    codes = {i.param.code for i in request.includes}
    assert {"subject", "patient", "care-team", "participant"} <= codes
    assert any(i.iterate and i.source_type == "CareTeam" for i in request.includes)


@pytest.mark.parametrize(("resource_type", "text", "name", "code"), [
    ("Patient", "nosuch=1", "nosuch", "not-supported"),
    ("Patient", "name:nosuch=x", "name:nosuch", "not-supported"),
    ("Patient", "identifier:text=x", "identifier:text", "not-supported"),
    ("Patient", "phonetic=smith", "phonetic", "not-supported"),
    ("Patient", "_has:Condition:subject:code=1", "_has:Condition:subject:code", "not-supported"),
    ("Patient", "birthdate=2020-13-01", "birthdate", "invalid"),
    ("Patient", "birthdate=xx2020", "birthdate", "invalid"),
    ("Patient", "identifier=a|b|c", "identifier", "invalid"),
    ("Patient", "active:missing=maybe", "active:missing", "invalid"),
    ("Patient", "_count=-1", "_count", "invalid"),
    ("Patient", "_offset=x", "_offset", "invalid"),
    ("Patient", "_total=some", "_total", "invalid"),
    ("Patient", "_summary=everything", "_summary", "invalid"),
    ("Patient", "_sort=nosuch", "_sort", "invalid"),
    ("Patient", "_sort=organization", "_sort", "invalid"),
    ("Patient", "_elements=nosuch", "_elements", "invalid"),
    ("Patient", "_include=Patient:name", "_include", "invalid"),
    ("Patient", "_include=Condition:subject", "_include", "invalid"),
    ("Patient", "_include=Patient:organization:Patient", "_include", "invalid"),
    ("Patient", "_revinclude=Condition:code", "_revinclude", "invalid"),
    ("Patient", "_revinclude=Task:requester:Practitioner", "_revinclude", "invalid"),
    ("Condition", "subject=Practitioner/1", "subject", "invalid"),
    ("Condition", "subject:Practitioner=1", "subject:Practitioner", "invalid"),
    ("Condition", "subject:Patient=Group/1", "subject:Patient", "invalid"),
    ("Condition", "subject=not a reference", "subject", "invalid"),
    ("Condition", "subject.nosuch=1", "subject.nosuch", "not-supported"),
    ("Condition", "subject.organization.name=x", "subject.organization.name", "not-supported"),
    ("Condition", "code.text=x", "code.text", "invalid"),
    ("Patient", "_count=1&_count=2", "_count", "invalid"),
    ("Patient", "_id=a|b", "_id", "invalid"),
    ("Patient", "_lastUpdated:missing=true", "_lastUpdated:missing", "not-supported"),
])
def test_each_bad_parameter_is_an_issue_naming_it(registry: SearchParameterRegistry,
                                                  resource_type: str, text: str, name: str,
                                                  code: str) -> None:
    issues = errors(registry, resource_type, text)
    assert [(i["code"], i["expression"]) for i in issues] == [(code, [name])]
    assert issues[0]["severity"] == "error"


def test_all_problems_are_reported_together(registry: SearchParameterRegistry) -> None:
    issues = errors(registry, "Patient", "nosuch=1&birthdate=bad&name=ok&_count=x")
    assert [i["expression"] for i in issues] == [["nosuch"], ["birthdate"], ["_count"]]


def test_lenient_ignores_unknown_parameters_with_warnings(registry: SearchParameterRegistry
                                                          ) -> None:
    request = parse(registry, "Patient", "nosuch=1&name=ok", lenient=True)
    assert [c.name for c in request.criteria] == ["name"]
    assert [(w["severity"], w["expression"]) for w in request.warnings] == [
        ("warning", ["nosuch"])]
    assert request.link_params() == [("name", "ok"), ("_count", "20")]
    # Bad values are errors even when lenient.
    with pytest.raises(FhirError):
        parse(registry, "Patient", "birthdate=bad", lenient=True)


def test_unsupported_modifiers_are_errors_even_when_lenient(registry: SearchParameterRegistry
                                                            ) -> None:
    # Dropping "name:fuzzy=x" would return every Patient: wider than asked, so refused.
    for text in ("name:fuzzy=x", "identifier:text=x", "general-practitioner.a.b=1"):
        with pytest.raises(FhirError) as caught:
            parse(registry, "Patient", text, lenient=True)
        assert caught.value.status == 400
        assert caught.value.issues[0]["code"] == "not-supported"


@pytest.mark.parametrize("summary", ["true", "text", "data", "count", "false"])
def test_every_summary_mode_is_understood(registry: SearchParameterRegistry,
                                          summary: str) -> None:
    assert parse(registry, "Patient", f"_summary={summary}").summary == summary


def test_unknown_resource_type(registry: SearchParameterRegistry) -> None:
    with pytest.raises(FhirError) as caught:
        parse(registry, "Observation", "")
    assert caught.value.status == 400

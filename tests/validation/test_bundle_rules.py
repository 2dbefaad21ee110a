"""Bundle rules (R4 bundle.html: bdl-1 to bdl-12, fullUrl form and uniqueness, one self link)."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

from .helpers import located

PATIENT = {"resourceType": "Patient", "id": "p1"}
UUID = "urn:uuid:4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def bundle(kind: str, *entries: dict, **extra) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries), **extra}


@pytest.mark.parametrize(("resource", "problems"), [
    (bundle("collection", {"fullUrl": "http://a.example/fhir/Patient/p1", "resource": PATIENT}),
     set()),
    (bundle("collection", {"fullUrl": "Patient/p1", "resource": PATIENT}),
     {("invalid", "Bundle.entry[0].fullUrl")}),
    (bundle("collection", {"fullUrl": UUID, "resource": PATIENT},
            {"fullUrl": UUID, "resource": PATIENT}),
     {("invariant", "Bundle.entry[1].fullUrl")}),
    (bundle("collection", {"fullUrl": "http://a.example/fhir/Patient/p1/_history/2",
                           "resource": PATIENT}),
     {("invariant", "Bundle.entry[0].fullUrl")}),
    (bundle("transaction", {"fullUrl": UUID, "resource": PATIENT}),
     {("invariant", "Bundle.entry[0]")}),
    (bundle("collection", {"resource": PATIENT, "request": {"method": "POST",
                                                           "url": "Patient"}}),
     {("invariant", "Bundle.entry[0].request")}),
    (bundle("collection", {"resource": PATIENT}, total=1),
     {("invariant", "Bundle.total")}),
    (bundle("collection", {"resource": PATIENT}, link=[
        {"relation": "self", "url": "http://a.example/1"},
        {"relation": "self", "url": "http://a.example/2"}]),
     {("invariant", "Bundle.link")}),
    (bundle("message", {"fullUrl": UUID, "resource": PATIENT}),
     {("invariant", "Bundle.entry[0]")}),
    (bundle("document", {"fullUrl": UUID, "resource": PATIENT}),
     {("invariant", "Bundle.identifier"), ("invariant", "Bundle"),
      ("invariant", "Bundle.entry[0]")}),
])
def test_bundle_rules(validator: Validator, resource: dict, problems: set) -> None:
    assert located(validator.validate(resource)) == problems


def versions_of_p1(*references: str) -> dict:
    """A collection with Patient/p1 twice (versions 1 and 2) and a Goal referring to it."""
    base = "http://a.example/fhir/"
    goal = {"resourceType": "Goal", "lifecycleStatus": "active",
            "description": {"text": "walk"}, "subject": {"reference": references[0]},
            **({"expressedBy": {"reference": references[1]}} if len(references) > 1 else {})}
    return bundle("collection",
                  {"fullUrl": f"{base}Goal/g1", "resource": goal},
                  *({"fullUrl": f"{base}Patient/p1",
                     "resource": {**PATIENT, "meta": {"versionId": v}}} for v in ("1", "2")))


@pytest.mark.parametrize(("resource", "problems"), [
    (versions_of_p1("Patient/p1/_history/1", "Patient/p1/_history/2"), set()),
    (versions_of_p1("http://a.example/fhir/Patient/p1/_history/2"), set()),
    (versions_of_p1("Patient/other"), set()),  # not in the Bundle: not this rule's business
    (versions_of_p1("Patient/p1"), {("invalid", "Bundle.entry[0].resource.subject")}),
    (versions_of_p1("Patient/p1/_history/1", "http://a.example/fhir/Patient/p1/_history/3"),
     {("not-found", "Bundle.entry[0].resource.expressedBy")}),
])
def test_references_to_a_fullurl_that_several_versions_share(
        validator: Validator, resource: dict, problems: set) -> None:
    assert located(validator.validate(resource)) == problems

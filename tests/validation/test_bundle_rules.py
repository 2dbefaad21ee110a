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

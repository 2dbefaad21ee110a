"""Element-level (inline) security labels: finding and removing labelled elements."""
from __future__ import annotations

from gateway.privacy.labels import INLINE_LABEL, labelled_paths, strip_labelled

SUD = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "SUD")


def label(code: str = "SUD") -> dict:
    return {"url": INLINE_LABEL, "valueCoding": {"system": SUD[0], "code": code}}


PLAN = {"resourceType": "CarePlan", "goal": [
    {"reference": "Goal/a", "extension": [label()]}, {"reference": "Goal/b"}],
    "activity": [{"reference": {"reference": "ServiceRequest/s", "extension": [label()]}},
                 {"reference": {"reference": "ServiceRequest/t"}}],
    "supportingInfo": [{"reference": "Goal/a", "extension": [label()]}]}


def test_labelled_elements_are_found_with_their_paths():
    assert labelled_paths(PLAN, [SUD]) == ["goal[0]", "activity[0].reference",
                                           "supportingInfo[0]"]
    assert labelled_paths(PLAN, [(SUD[0], "ETH")]) == []


def test_stripping_removes_list_items_and_objects_and_emptied_lists():
    stripped = strip_labelled(PLAN, [SUD])
    assert stripped["goal"] == [{"reference": "Goal/b"}]
    # An activity left with nothing once its labelled reference went is dropped too.
    assert stripped["activity"] == [{"reference": {"reference": "ServiceRequest/t"}}]
    assert "supportingInfo" not in stripped
    assert PLAN["goal"][0]["reference"] == "Goal/a"  # the original is untouched


def test_other_labels_are_kept():
    assert strip_labelled(PLAN, [(SUD[0], "ETH")]) == PLAN

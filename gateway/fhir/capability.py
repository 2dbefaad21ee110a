"""The CapabilityStatement: built from what the code implements, so it cannot drift."""
from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.fhir.resource_types import SUPPORTED_TYPES
from gateway.fhir.search import SearchParameterRegistry

TYPE_INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "history-type",
                     "create", "search-type")
SYSTEM_INTERACTIONS = ("transaction", "batch")
# Operations beyond $validate, by the resource type they are defined on.
TYPE_OPERATIONS = {"Patient": [
    {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}]}


def capability_statement(base_url: str, registry: SearchParameterRegistry,
                         profiles: dict[str, str], software_date: str) -> dict[str, Any]:
    resources = []
    for resource_type in SUPPORTED_TYPES:
        params = sorted(registry.supported(resource_type), key=lambda p: p.code)
        resources.append({
            "type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "supportedProfile": sorted(url for url, of_type in profiles.items()
                                       if of_type == resource_type),
            "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "searchInclude": [f"{resource_type}:{p.code}" for p in params if p.type == "reference"
                              and not p.code.startswith("_")],
            "searchRevInclude": sorted(
                f"{other}:{p.code}" for other in SUPPORTED_TYPES
                for p in registry.supported(other)
                if p.type == "reference" and resource_type in (p.target or ())),
            "searchParam": [
                {"name": p.code, "definition": p.url, "type": p.type,
                 **({"documentation": p.description} if p.description else {})}
                for p in params
            ],
            "operation": [{"name": "validate",
                           "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"},
                          *TYPE_OPERATIONS.get(resource_type, [])],
        })
        resources[-1] = {k: v for k, v in resources[-1].items() if v != []}
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "publisher": "fhir-care-gateway",
        "kind": "instance",
        "software": {"name": "fhir-care-gateway", "version": __version__},
        "implementation": {"description": "Community mental-health case-management FHIR gateway",
                           "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "OAuth"}]}],
                "description": "Bearer tokens: operator keys, and partner access tokens.",
            },
            "resource": resources,
            "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
        }],
    }

"""The CapabilityStatement: built from what the code implements, so it cannot drift."""
from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.fhir.operations import Operation, OperationRegistry
from gateway.fhir.resource_types import SUPPORTED_TYPES
from gateway.fhir.search import SearchParameterRegistry

TYPE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance",
                     "history-type", "create", "search-type")
SYSTEM_INTERACTIONS = ("transaction", "batch")
# SMART App Launch 2.x: where a client finds the token endpoint in a CapabilityStatement.
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def capability_statement(base_url: str, registry: SearchParameterRegistry,
                         profiles: dict[str, str], software_date: str, *,
                         operations: OperationRegistry, token_url: str,
                         messaging: list[dict[str, Any]] | None = None,
                         instantiates: list[str] | None = None) -> dict[str, Any]:
    """What this server implements, from what is registered: its types and search parameters,
    its interactions, the operations in ``operations``, its messaging and security."""
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
            "conditionalUpdate": True,
            "conditionalDelete": "single",
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
            "operation": [_operation(op) for op in operations
                          if resource_type in op.resource_types],
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
        **({"instantiates": list(instantiates)} if instantiates else {}),
        "rest": [{
            "mode": "server",
            "security": {
                "extension": [{"url": OAUTH_URIS, "extension": [
                    {"url": "token", "valueUri": token_url}]}],
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "description": "SMART Backend Services (client_credentials with a "
                               "private_key_jwt assertion; see "
                               ".well-known/smart-configuration) for partners; bearer "
                               "operator keys for the agency.",
            },
            "resource": resources,
            "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
            "operation": [_operation(op) for op in operations if not op.resource_types],
        }],
        **({"messaging": list(messaging)} if messaging else {}),
    }


def _operation(operation: Operation) -> dict[str, str]:
    return {"name": operation.name,
            "definition": operation.definition or f"{operation.name} (no definition)"}

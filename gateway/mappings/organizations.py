"""organization record -> Organization."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codes import EIN_SYSTEM, NPI_SYSTEM
from .context import MappingContext
from .elements import addresses, codeable, prune, telecom
from .records import expect_type, required
from .terminology import GATEWAY, ORGANIZATION_KIND


def organization_from_record(organization: Mapping[str, Any],
                             ctx: MappingContext) -> list[dict]:
    """The Organization (a list, like every mapping)."""
    organization = expect_type(organization, "organization")
    organization_id = required(organization, "id")
    kind = required(organization, "kind")
    identifiers = organization.get("identifiers") or {}
    terminology = ctx.terminology
    return [prune({
        "resourceType": "Organization",
        "id": ctx.fhir_id("organization", organization_id),
        "identifier": [
            ctx.identifier("organization", organization_id),
            {"type": codeable(terminology.translate(GATEWAY, "npi")), "system": NPI_SYSTEM,
             "value": identifiers.get("npi")} if identifiers.get("npi") else None,
            {"type": codeable(terminology.translate(GATEWAY, "tax-id")), "system": EIN_SYSTEM,
             "value": identifiers.get("tax_id")} if identifiers.get("tax_id") else None,
            {"system": ctx.nces_system, "value": identifiers.get("nces_id")}
            if identifiers.get("nces_id") else None,
        ],
        "active": organization.get("active"),
        "type": [codeable(terminology.translate(ORGANIZATION_KIND, kind, "kind"),
                          terminology.display(ORGANIZATION_KIND, kind))],
        "name": required(organization, "name"),
        "telecom": telecom(organization.get("contacts")),
        "address": addresses(organization.get("addresses")),
        "partOf": ctx.reference("Organization", "organization", organization["part_of"])
        if organization.get("part_of") else None,
    })]

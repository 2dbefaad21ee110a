"""staff record -> Practitioner + one PractitionerRole per role."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codes import NPI_SYSTEM
from .context import MappingContext
from .elements import codeable, human_names, language, prune, telecom
from .records import expect_type, required
from .terminology import CREDENTIAL, GATEWAY, SKILL, TEAM_ROLE


def practitioner_role_local_id(staff_id: str, role: str) -> str:
    """A PractitionerRole is one staff member in one role."""
    return f"{staff_id}/{role}"


def practitioner_from_staff(staff: Mapping[str, Any], ctx: MappingContext) -> list[dict]:
    """The Practitioner, then a PractitionerRole for each of the staff member's roles."""
    staff = expect_type(staff, "staff")
    staff_id = required(staff, "id")
    roles = required(staff, "roles")
    organization = required(staff, "organization")
    terminology = ctx.terminology
    contacts = telecom(staff.get("contacts"))
    practitioner = prune({
        "resourceType": "Practitioner",
        "id": ctx.fhir_id("staff", staff_id),
        "identifier": [
            ctx.identifier("staff", staff_id),
            {"type": codeable(terminology.translate(GATEWAY, "npi")), "system": NPI_SYSTEM,
             "value": staff.get("npi")} if staff.get("npi") else None,
        ],
        "active": staff.get("active"),
        "name": human_names(required(staff, "name")),
        "telecom": contacts,
        "gender": staff.get("gender"),
        # Credentials are free text locally: coded when the map knows them, else kept as text.
        "qualification": [{"code": codeable(terminology.find(CREDENTIAL, credential), credential)}
                          for credential in staff.get("credentials") or ()],
        "communication": [language(tag) for tag in staff.get("languages") or ()],
    })
    resources = [practitioner]
    specialties = [codeable(terminology.find(SKILL, skill),
                            terminology.display(SKILL, skill) or skill)
                   for skill in staff.get("skills") or ()]
    for index, role in enumerate(dict.fromkeys(roles)):
        local_id = practitioner_role_local_id(staff_id, role)
        resources.append(prune({
            "resourceType": "PractitionerRole",
            "id": ctx.fhir_id("practitioner-role", local_id),
            "identifier": [ctx.identifier("practitioner-role", local_id)],
            "active": staff.get("active"),
            "practitioner": ctx.reference("Practitioner", "staff", staff_id),
            "organization": ctx.reference("Organization", "organization", organization),
            "code": [codeable(terminology.translate(TEAM_ROLE, role, f"roles[{index}]"),
                              terminology.display(TEAM_ROLE, role))],
            "specialty": specialties,
            "telecom": contacts,
        }))
    return resources

"""What every mapping needs besides the record: terminology and the agency's settings."""
from __future__ import annotations

from dataclasses import dataclass

from .ids import DEFAULT_IDENTIFIER_BASE, fhir_id, identifier_system
from .terminology import Terminology

# A placeholder: each state has its own Medicaid id system; agencies configure theirs.
DEFAULT_MEDICAID_SYSTEM = "https://fhir-care-gateway.example/medicaid-id"
DEFAULT_NCES_SYSTEM = "https://nces.ed.gov/ccd/school-id"


@dataclass(frozen=True)
class MappingContext:
    """Immutable settings for one agency.

    ``agency_organization`` is the local id of the agency's own organization record: it manages
    care teams, keeps consents and owns tasks that name no one else.
    """

    terminology: Terminology
    agency_organization: str
    identifier_base: str = DEFAULT_IDENTIFIER_BASE
    medicaid_system: str = DEFAULT_MEDICAID_SYSTEM
    nces_system: str = DEFAULT_NCES_SYSTEM

    def fhir_id(self, kind: str, local_id: str) -> str:
        return fhir_id(kind, local_id, self.identifier_base)

    def identifier_system(self, kind: str) -> str:
        return identifier_system(kind, self.identifier_base)

    def identifier(self, kind: str, local_id: str) -> dict:
        """The agency's business identifier for a local record."""
        return {"system": self.identifier_system(kind), "value": local_id}

    def reference(self, resource_type: str, kind: str, local_id: str) -> dict:
        """A literal reference to the resource mapped from local record ``kind``/``local_id``."""
        return {"reference": f"{resource_type}/{self.fhir_id(kind, local_id)}"}

    def agency_reference(self) -> dict:
        return self.reference("Organization", "organization", self.agency_organization)

"""Pure mappings between local case-management records and FHIR R4 resources.

    ctx = MappingContext(Terminology.load(), agency_organization="ORG-1")
    resources = care_plan_from_plan(plan_record, ctx)   # [CarePlan, Goal..., ServiceRequest...]

Every mapping takes a record (a dict that passed ``record_problems``) and returns a list of
resource dicts with deterministic ids; none reads files, clocks or the database (``today`` is a
parameter where it matters). A record that cannot be mapped raises ``MappingError(path, message)``.
"""
from .care_plans import care_plan_from_plan
from .care_teams import CASE_MANAGER_ROLES, care_team_from_assignments
from .consents import consent_from_record, consent_status
from .context import MappingContext
from .errors import MappingError
from .ids import DEFAULT_IDENTIFIER_BASE, fhir_id, identifier_system
from .labels import add_security, substance_use_labels
from .organizations import organization_from_record
from .patients import patient_from_consumer
from .referrals import referral_from_record
from .reverse import consumer_record_from_patient, reference_index, referral_record_from_task
from .staff import practitioner_from_staff
from .terminology import Terminology, TerminologyError

__all__ = [
    "CASE_MANAGER_ROLES", "DEFAULT_IDENTIFIER_BASE", "MappingContext", "MappingError",
    "Terminology", "TerminologyError", "add_security", "care_plan_from_plan",
    "care_team_from_assignments", "consent_from_record", "consent_status",
    "consumer_record_from_patient", "fhir_id", "identifier_system", "organization_from_record",
    "patient_from_consumer", "practitioner_from_staff", "reference_index",
    "referral_from_record", "referral_record_from_task", "substance_use_labels",
]

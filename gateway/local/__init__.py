"""Local case-management records: their formats, and getting them into FHIR."""

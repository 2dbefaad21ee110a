"""FHIR operations, one module each."""

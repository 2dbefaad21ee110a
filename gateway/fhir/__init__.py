"""The FHIR R4 server core: REST routes, storage, search, validation and operations."""

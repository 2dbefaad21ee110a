"""FHIR interoperability gateway for community mental-health case management."""

__version__ = "0.1.0"

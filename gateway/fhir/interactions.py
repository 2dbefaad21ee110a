"""The FHIR interaction each /fhir endpoint performs (metrics labels and AuditEvent subtypes)."""

# Metric labels: the FHIR interaction codes (CapabilityStatement.rest.resource.interaction).
INTERACTIONS = {"fhir.metadata": "capabilities", "fhir.transaction_or_batch": "transaction",
                "fhir.search_type": "search-type", "fhir.create": "create", "fhir.read": "read",
                "fhir.vread": "vread", "fhir.update": "update", "fhir.delete": "delete",
                "fhir.history_type": "history-type", "fhir.history_instance": "history-instance",
                "fhir.validate": "operation-validate",
                "fhir.match": "operation-match"}

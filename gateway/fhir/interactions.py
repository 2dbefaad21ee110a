"""The FHIR interaction each /fhir endpoint performs (metrics labels and AuditEvent subtypes)."""

# Metric labels: the FHIR interaction codes (CapabilityStatement.rest.resource.interaction).
INTERACTIONS = {"fhir.metadata": "capabilities", "fhir.transaction_or_batch": "transaction",
                "fhir.search_type": "search-type", "fhir.create": "create", "fhir.read": "read",
                "fhir.vread": "vread", "fhir.update": "update", "fhir.delete": "delete",
                "fhir.history_type": "history-type", "fhir.history_instance": "history-instance",
                "fhir.operation_system": "operation", "fhir.operation_type": "operation",
                "fhir.operation_instance": "operation", "fhir.patch": "patch",
                "fhir.conditional_patch": "patch", "fhir.conditional_update": "update",
                "fhir.conditional_delete": "delete"}
# The endpoints that serve registered operations ($name); their metric label is the
# operation's own (operation-validate, operation-match, ...).
OPERATION_ENDPOINTS = frozenset({"fhir.operation_system", "fhir.operation_type",
                                 "fhir.operation_instance"})

# The SMART permission (c r u d s, SMART App Launch 2.x scopes) each HTTP method needs.
INTERACTION_PERMISSION = {"GET": "r", "HEAD": "r", "POST": "c", "PUT": "u", "PATCH": "u",
                          "DELETE": "d"}

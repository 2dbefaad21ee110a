"""What the FHIR REST layer needs from the app it runs in.

The app's state (gateway/state.py) provides it; the REST layer reaches it as
``current_app.extensions["gateway"]`` through ``services()``, typed by this Protocol, so the FHIR
core does not import the app's state (which sits above it, see ARCHITECTURE.md).
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from flask import current_app

from gateway.config import Config
from gateway.fhir.access import Requester
from gateway.fhir.hooks import RepositoryHooks
from gateway.fhir.operations import OperationRegistry
from gateway.fhir.repository import Repository
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator


class FhirServices(Protocol):
    config: Config
    validator: Validator
    search_registry: SearchParameterRegistry
    capability_statement: dict[str, Any]
    operations: OperationRegistry
    hooks: RepositoryHooks

    def authenticate(self, authorization: str | None) -> Requester:
        """The caller (else a 401 FhirError)."""
        ...

    def reading(self, requester: Any) -> AbstractContextManager[Repository]: ...

    def writing(self, requester: Any, *, defer_index: bool = False
                ) -> AbstractContextManager[Repository]: ...


def services() -> FhirServices:
    return current_app.extensions["gateway"]

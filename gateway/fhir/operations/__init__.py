"""FHIR operations (``$name``), one module each, found by name in an ``OperationRegistry``.

The REST layer (gateway/fhir/routes.py) serves ``POST [base]/$name``, ``POST [base]/Type/$name``
and ``POST [base]/Type/id/$name`` for whatever is registered; it imports no operation. The
core's own ``$validate`` lives here (validate.py); a domain package registers its operations
when the app is built, as Flask blueprints register routes (gateway/app.py:
``$process-message`` and ``Patient/$match`` from gateway/workflows/). An operation that needs the
app's state is registered with it bound (a closure), so a call carries only the request.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from gateway.fhir.access import Requester
from gateway.fhir.errors import FhirError


@dataclass(frozen=True)
class OperationCall:
    """One invocation: who asks, on what, with which body."""

    requester: Requester
    resource_type: str | None
    resource_id: str | None
    body: Any
    query: dict[str, str]


@dataclass(frozen=True)
class OperationResult:
    """The answer; ``audited``: the operation wrote its own AuditEvent (the request's is then
    not written)."""

    body: Any
    status: int = 200
    audited: bool = False


@dataclass(frozen=True)
class Operation:
    """An operation: its name (without ``$``), the resource types it is defined on (empty: the
    system level), the SMART permission it needs on the type, and the code that answers it."""

    name: str
    run: Callable[[OperationCall], OperationResult]
    resource_types: Collection[str] = field(default_factory=frozenset)
    instance: bool = False  # also at Type/id/$name
    permission: str = "r"
    definition: str | None = None  # its OperationDefinition's canonical URL

    @property
    def label(self) -> str:
        """Its name in metrics (``operation-validate``)."""
        return f"operation-{self.name}"


class OperationRegistry:
    """The operations one app serves."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def register(self, operation: Operation) -> None:
        if operation.name in self._operations:
            raise ValueError(f"operation ${operation.name} is registered twice")
        self._operations[operation.name] = operation

    def find(self, name: str, resource_type: str | None, instance: bool = False
             ) -> Operation:
        """The operation ``$name`` at this level, or a 400 naming what is not supported."""
        operation = self._operations.get(name)
        at_level = operation is not None and (
            (resource_type is None and not operation.resource_types)
            or (resource_type is not None and resource_type in operation.resource_types
                and (operation.instance or not instance)))
        if operation is None:
            raise FhirError(400, "not-supported", f"operation ${name} is not supported")
        if not at_level:
            defined = ", ".join(sorted(operation.resource_types)) or "the system level"
            raise FhirError(400, "not-supported",
                            f"${name} is defined on {defined}, not "
                            f"{resource_type or 'the system level'}"
                            f"{' instances' if instance else ''}")
        return operation

    def __iter__(self):  # noqa: ANN204 - an iterator of Operation
        return iter(self._operations.values())

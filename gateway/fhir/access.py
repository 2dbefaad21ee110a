"""What the storage core needs to know about who asks, and from the consent decision point.

The repository is built for one requester and hands out nothing that requester may not see;
the rules themselves live above the core (gateway/privacy/enforcement.py implements
``AccessControl``, gateway/auth.py's Principal implements ``Requester``), so the core depends
only on these two small interfaces.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import ColumnElement


class Requester(Protocol):
    """Who a repository works for."""

    @property
    def is_operator(self) -> bool:
        """The agency's operators and the gateway itself: may see everything."""
        ...

    def authorize(self, resource_type: str, permission: str) -> None:
        """Raise a 403 FhirError unless the requester's scopes allow ``permission`` (one of
        c r u d s) on ``resource_type``."""
        ...


class AccessControl(Protocol):
    """One requester's view of the store, for one request (the consent decision point)."""

    @property
    def requester(self) -> Requester: ...

    def admit(self, resource_type: str, resource_id: str, content: str | None
              ) -> tuple[bool, str | None]:
        """(whether the requester may see this stored version, the JSON it receives)."""
        ...

    def sql_filter(self, entity: Any, resource_types: Collection[str] | None = None
                   ) -> ColumnElement[bool]:
        """The same decision as a condition on a resource row, for searches."""
        ...

"""What one app instance holds: built once by the app factory, reached through ``gateway_state``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from gateway.audit.writer import AuditWriter
from gateway.auth import Principal, authenticate
from gateway.config import Config
from gateway.db.engine import begin_write
from gateway.fhir.repository import Repository
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator
from gateway.observability import Metrics
from gateway.partners.smart import principal_for_token
from gateway.privacy.enforcement import GrantsCache


@dataclass
class GatewayState:
    config: Config
    engine: Engine
    session_factory: sessionmaker[Session]
    validator: Validator
    search_registry: SearchParameterRegistry
    metrics: Metrics
    capability_statement: dict[str, Any] = field(default_factory=dict)
    grants_cache: GrantsCache = field(default_factory=GrantsCache)
    audit_writer: AuditWriter = field(init=False)

    def __post_init__(self) -> None:
        self.audit_writer = AuditWriter(self)

    def refresh_statistics(self) -> None:
        """ANALYZE the tables a bulk load grows (PostgreSQL; SQLite's planner needs none)."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(
                "ANALYZE resource, resource_version, local_record, search_token, "
                "search_string, search_reference, search_date, search_uri"))

    def close(self) -> None:
        """Finish pending audit writes and release the database connections."""
        self.audit_writer.close()
        self.engine.dispose()

    @contextmanager
    def reading(self, requester: Principal) -> Iterator[Repository]:
        """A repository on a read-only session, showing what ``requester`` may see."""
        with self.session_factory() as session:
            yield self._repository(session, requester)

    @contextmanager
    def writing(self, requester: Principal, *, defer_index: bool = False
                ) -> Iterator[Repository]:
        """A repository whose changes commit together when the block ends without error.

        ``defer_index``: search index rows are written once, before the commit, rather than
        resource by resource (for bulk writers; see IndexWriter).
        """
        with self.session_factory() as session, session.begin():
            begin_write(session)
            repository = self._repository(session, requester)
            if defer_index:
                repository.index.defer()
            yield repository
            repository.index.flush()
        if repository.submitted:
            from gateway.workflows.inbound import take_in

            take_in(self, requester, repository.submitted)

    def _repository(self, session: Session, requester: Principal) -> Repository:
        return Repository(session, self.validator, self.search_registry,
                          self.config.fhir_base_url, requester=requester,
                          grants_cache=self.grants_cache)

    def authenticate(self, authorization: str | None) -> Principal:
        """Who is calling: an operator key or a partner's access token (else a 401)."""
        return authenticate(authorization, self.config, self._partner_token)

    def _partner_token(self, token: str) -> Principal | None:
        # A bare connection for one statement (no ORM session); on PostgreSQL outside a
        # transaction, a BEGIN and a ROLLBACK round trip fewer on every partner request.
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            return principal_for_token(connection, token, datetime.now(UTC))


def gateway_state() -> GatewayState:
    return current_app.extensions["gateway"]


def require_operator(authorization: str | None, what: str) -> Principal:
    """The caller, who must be one of the agency's operators (else 401 or 403 ``what``)."""
    from gateway.fhir.errors import FhirError

    principal = gateway_state().authenticate(authorization)
    if not principal.is_operator:
        raise FhirError(403, "forbidden", f"only the agency's operators may {what}")
    return principal

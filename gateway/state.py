"""What one app instance holds: built once by the app factory, reached through ``gateway_state``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from gateway.audit.writer import AuditWriter
from gateway.auth import SYSTEM, FailureThrottle, Principal, authenticate, bearer_token
from gateway.config import Config
from gateway.db.engine import WRITE_OPTION
from gateway.fhir.errors import FhirError
from gateway.fhir.hooks import RepositoryHooks
from gateway.fhir.operations import OperationRegistry
from gateway.fhir.repository import Repository
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator
from gateway.observability import Metrics
from gateway.partners.smart import principal_for_token
from gateway.privacy.enforcement import AccessPolicy, GrantsCache


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
    # What the domain plugs into every repository's write path (registered by the app factory).
    hooks: RepositoryHooks = field(default_factory=RepositoryHooks)
    # The FHIR operations ($name) the API serves (registered by the app factory).
    operations: OperationRegistry = field(default_factory=OperationRegistry)
    audit_writer: AuditWriter = field(init=False)
    # Sessions whose transactions write (SQLite: BEGIN IMMEDIATE), see writing().
    _write_sessions: sessionmaker[Session] = field(init=False, repr=False)
    # Wrong bearer tokens per source address (this process's own count).
    auth_failures: FailureThrottle = field(init=False)

    def __post_init__(self) -> None:
        self._write_sessions = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)
        self.audit_writer = AuditWriter(self.writing)
        self.auth_failures = FailureThrottle(self.config.auth_max_failures,
                                             self.config.auth_failure_window_seconds)

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
        """A repository on a read-only session, showing what ``requester`` may see. Within
        an HTTP request it reads on the request's connection (see _request_connection)."""
        connection = _request_connection(self.engine)
        if connection is None:
            with self.session_factory() as session:
                yield self.repository(session, requester)
            return
        with Session(bind=connection, expire_on_commit=False) as session:
            yield self.repository(session, requester)

    @contextmanager
    def writing(self, requester: Principal, *, defer_index: bool = False
                ) -> Iterator[Repository]:
        """A repository whose changes commit together when the block ends without error.

        ``defer_index``: search index rows are written once, before the commit, rather than
        resource by resource (for bulk writers; see IndexWriter). Before the commit, what the
        repository holds is written and the ``before_commit`` hooks run; after it, the
        ``after_commit`` hooks (gateway/fhir/hooks.py).
        """
        # The write begins (SQLite: BEGIN IMMEDIATE, taking the write lock) at the block's
        # first statement, not here: what the block does before it (parsing, validation) does
        # not hold other writers up.
        # The request's read transaction ends first: on SQLite a reader's snapshot keeps the
        # commit's WAL checkpoint from finishing, so every later commit would try it again.
        _end_request_transaction()
        with self._write_sessions() as session, session.begin():
            repository = self.repository(session, requester)
            if defer_index:
                repository.index.defer()
            yield repository
            repository.before_commit()
        _end_request_transaction()  # later reads in this request must see this write
        repository.after_commit()

    def repository(self, session: Session, requester: Principal) -> Repository:
        """A repository on ``session`` for ``requester``: the consent decision point as its
        access control, this app's hooks in its write path. The caller owns the transaction
        (and calls ``before_commit``/``after_commit`` around its commit)."""
        base_url = self.config.fhir_base_url
        access = AccessPolicy(requester, session, base_url, grants_cache=self.grants_cache)
        return Repository(session, self.validator, self.search_registry, base_url,
                          access=access, hooks=self.hooks,
                          check_references=requester != SYSTEM)

    def authenticate(self, authorization: str | None) -> Principal:
        """Who is calling: an operator key or a partner's access token (else a 401; a 429
        while the caller's address has sent too many wrong tokens, see FailureThrottle)."""
        source = request.remote_addr if has_request_context() else None
        self.auth_failures.check(source)
        try:
            return authenticate(authorization, self.config, self._partner_token)
        except FhirError as error:
            if error.status == 401 and bearer_token(authorization):  # a wrong token
                self.auth_failures.failed(source)
            raise

    def _partner_token(self, token: str) -> Principal | None:
        connection = _request_connection(self.engine)
        if connection is not None:
            return principal_for_token(connection, token, datetime.now(UTC))
        with self.engine.connect() as connection:
            return principal_for_token(connection, token, datetime.now(UTC))


def gateway_state() -> GatewayState:
    return current_app.extensions["gateway"]


# -- one database connection per HTTP request ------------------------------------------------
# A request's reads (the partner's token, then the repository's queries) share one pooled
# connection and one read transaction, instead of checking a connection out (and pinging it)
# for each. A write in the request ends that read transaction so that later reads see it; the
# connection goes back to the pool when the request ends (release_request_connection, a
# teardown hook the app factory registers).

def _request_connection(engine: Engine) -> Connection | None:
    if not has_request_context():
        return None
    connection = g.get("gateway_connection")
    if connection is None:
        connection = g.gateway_connection = engine.connect()
    return connection


def _end_request_transaction() -> None:
    connection = g.get("gateway_connection") if has_request_context() else None
    if connection is not None and connection.in_transaction():
        connection.rollback()


def release_request_connection(_error: BaseException | None = None) -> None:
    connection = g.pop("gateway_connection", None)
    if connection is not None:
        connection.close()


def require_operator(authorization: str | None, what: str) -> Principal:
    """The caller, who must be one of the agency's operators (else 401 or 403 ``what``)."""
    principal = gateway_state().authenticate(authorization)
    if not principal.is_operator:
        raise FhirError(403, "forbidden", f"only the agency's operators may {what}")
    return principal

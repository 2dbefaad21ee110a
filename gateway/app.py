"""The application factory: every entry point builds the app here, from a Config."""
from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from flask import Flask, Response, g, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from gateway.audit import chain as audit_chain
from gateway.audit.access import account
from gateway.config import Config, check_config, config_from_env
from gateway.console import bp as console_blueprint
from gateway.console import error_page as console_error_page
from gateway.db.engine import ensure_migrated, make_engine, make_session_factory
from gateway.delivery import outbox
from gateway.delivery.metrics import delivery_metrics
from gateway.delivery.routes import bp as deliveries_blueprint
from gateway.fhir.capability import capability_statement
from gateway.fhir.errors import FhirError, issue, outcome
from gateway.fhir.http import error_response, fhir_response
from gateway.fhir.interactions import INTERACTIONS
from gateway.fhir.operations.validate import validate
from gateway.fhir.routes import bp as fhir_blueprint
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator
from gateway.local.routes import bp as local_blueprint
from gateway.observability import make_metrics
from gateway.partners.routes import bp as partners_blueprint
from gateway.partners.smart import token_endpoint
from gateway.state import GatewayState, gateway_state, release_request_connection
from gateway.workflows import (
    inbound,
    match_operation,
    process_message,
    referral_states,
    referral_subject,
)
from gateway.workflows.consent_routes import bp as consents_blueprint
from gateway.workflows.hl7_routes import bp as hl7_blueprint
from gateway.workflows.match_routes import bp as matches_blueprint
from gateway.workflows.referral_routes import bp as referrals_blueprint

log = logging.getLogger(__name__)

HTTP_ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
                    405: "not-supported", 406: "not-supported", 409: "conflict", 410: "deleted",
                    412: "conflict", 413: "too-costly", 415: "not-supported", 422: "processing"}


def create_app(config: Config | None = None) -> Flask:
    config = config or config_from_env()
    check_config(config)
    engine = make_engine(config.database_url)
    if config.require_migrated_database:
        ensure_migrated(engine)
    validator = Validator(config.profiles_dir)
    registry = SearchParameterRegistry.load()
    state = GatewayState(
        config=config,
        engine=engine,
        session_factory=make_session_factory(engine),
        validator=validator,
        search_registry=registry,
        metrics=make_metrics(config.prometheus_multiproc_dir),
    )

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["gateway"] = state
    app.register_blueprint(fhir_blueprint)
    app.register_blueprint(local_blueprint)
    app.register_blueprint(partners_blueprint)
    app.register_blueprint(deliveries_blueprint)
    app.register_blueprint(referrals_blueprint)
    app.register_blueprint(matches_blueprint)
    app.register_blueprint(consents_blueprint)
    app.register_blueprint(hl7_blueprint)
    app.register_blueprint(console_blueprint)
    _register_domain(app, state)
    state.capability_statement = capability_statement(
        config.fhir_base_url, registry, _profile_types(config),
        datetime.now(UTC).strftime("%Y-%m-%d"), operations=state.operations,
        token_url=token_endpoint(config.base_url),
        messaging=[process_message.messaging(config.fhir_base_url)],
        instantiates=[process_message.DAVINCI_RECEIVER])
    _register_operations_endpoints(app)
    _register_error_handlers(app)
    _register_metrics_hooks(app)
    app.teardown_request(release_request_connection)
    return app


def _register_domain(app: Flask, state: GatewayState) -> None:
    """What the domain plugs into the FHIR core (ARCHITECTURE.md): hooks in every repository's
    write path (gateway/fhir/hooks.py), the operations the API serves, and the AuditEvent of
    every API request. The core calls them and imports none of them."""
    referral_states.register(state.hooks)  # before a Task is written: its state machine
    referral_subject.register(state.hooks, state)  # a hospital's new referral: its subject
    outbox.register(state.hooks)  # in the transaction: the deliveries a change causes
    inbound.register(state.hooks, state)  # after the commit: what a partner submitted
    audit_chain.register(state.hooks)  # each AuditEvent's chain link; its lock taken last
    state.operations.register(validate(state.validator))
    state.operations.register(match_operation.operation(state))
    state.operations.register(process_message.operation(state))
    app.after_request_funcs.setdefault(fhir_blueprint.name, []).append(
        account(state.audit_writer))


def _profile_types(config: Config) -> dict[str, str]:
    """Canonical URL -> resource type of each of our profiles in ``profiles/``."""
    types = {}
    for path in sorted(config.profiles_dir.glob("StructureDefinition-*.json")):
        definition = json.loads(path.read_text())
        types[definition["url"]] = definition["type"]
    return types


def _register_operations_endpoints(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        try:
            with gateway_state().engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness check failed: %s", error)
            return Response('{"status":"database unavailable"}', status=503,
                            content_type="application/json")
        return Response('{"status":"ready"}', content_type="application/json")

    @app.get("/metrics")
    def metrics() -> Response:
        state = gateway_state()
        try:
            deliveries = delivery_metrics(state.session_factory)
        except Exception as error:  # noqa: BLE001 - the request metrics still stand
            log.warning("delivery metrics unavailable: %s", error)
            deliveries = b""
        return Response(state.metrics.render() + deliveries,
                        content_type="text/plain; version=0.0.4; charset=utf-8")


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(FhirError)
    def fhir_error(error: FhirError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | tuple[str, int]:
        status = error.code or 500
        if request.path.startswith("/console/"):  # a person's browser: a page, not JSON
            return console_error_page(status, "There is no such page." if status == 404
                                      else error.description or error.name)
        diagnostics = {
            404: f"no such endpoint: {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"the request body is larger than the {app.config['MAX_CONTENT_LENGTH']} "
                 f"bytes this server accepts",
        }.get(status, error.description or error.name)
        headers = {"Allow": ", ".join(error.valid_methods)} \
            if status == 405 and getattr(error, "valid_methods", None) else {}
        return fhir_response(outcome([issue("error", HTTP_ISSUE_CODES.get(status, "exception"),
                                            diagnostics)]), status, headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # The client gets an OperationOutcome, never a traceback; the log keeps the details.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return fhir_response(outcome([issue("fatal", "exception",
                                            "internal server error; the operator log has the "
                                            "details")]), 500)


def _register_metrics_hooks(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.get("started")
        if started is not None and request.endpoint != "metrics":
            operation = g.get("operation")
            interaction = operation.label if operation is not None else INTERACTIONS.get(
                request.endpoint or "", request.endpoint or "unmatched")
            gateway_state().metrics.observe(interaction, response.status_code,
                                            time.perf_counter() - started)
        return response

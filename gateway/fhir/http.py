"""HTTP plumbing for FHIR: content negotiation, request bodies, Prefer, and responses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Request, Response

from gateway.fhir import json_text
from gateway.fhir.errors import FhirError

FHIR_JSON = "application/fhir+json"
JSON_TYPES = (FHIR_JSON, "application/json")
# What `_format` may say for JSON (spec: "json", the mime types, or their shorthands).
JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
FHIR_VERSION = "4.0"


def negotiate(request: Request) -> None:
    """Refuse (406) a request whose `_format` or `Accept` rules out FHIR JSON."""
    requested_format = request.args.get("_format")
    if requested_format is not None:
        if requested_format.split(";")[0].strip().lower() not in JSON_FORMATS:
            raise FhirError(406, "not-supported",
                            f"_format {requested_format!r} is not supported; this server speaks "
                            f"{FHIR_JSON}", "_format")
        return
    accept = request.accept_mimetypes
    # Compare media types without their parameters: "application/fhir+json; fhirVersion=4.0"
    # asks for what we serve.
    served = {*JSON_TYPES, "application/json+fhir", "*/*", "application/*"}
    if not accept or any(value.split(";")[0].strip().lower() in served and quality > 0
                         for value, quality in accept):
        return
    raise FhirError(406, "not-supported",
                    f"none of the Accept types {request.headers.get('Accept')!r} can be served; "
                    f"this server speaks {FHIR_JSON}")


def json_body(request: Request) -> Any:
    """The request's JSON body, or a 415/400 FhirError."""
    mimetype = (request.mimetype or "").lower()
    if mimetype not in (*JSON_TYPES, "application/json+fhir"):
        raise FhirError(415, "not-supported",
                        f"Content-Type {request.content_type or '(none)'!r} is not supported; "
                        f"send {FHIR_JSON}")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise FhirError(400, "invalid", "the request body is empty")
    try:
        return json_text.loads(raw)
    except UnicodeDecodeError:
        raise FhirError(400, "invalid", "the request body is not UTF-8") from None


@dataclass(frozen=True)
class Prefer:
    """The parts of the ``Prefer`` header (RFC 7240) that FHIR defines."""

    return_: str = "representation"  # minimal | representation | OperationOutcome
    lenient: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        values: dict[str, str] = {}
        for part in (header or "").replace(";", ",").split(","):
            name, _, value = part.strip().partition("=")
            if name:
                values[name.strip().lower()] = value.strip().strip('"')
        return_ = values.get("return", "representation")
        if return_ not in ("minimal", "representation", "OperationOutcome"):
            return_ = "representation"
        return cls(return_=return_, lenient=values.get("handling") == "lenient")


def fhir_response(body: str | bytes | dict[str, Any] | None, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, dict):
        body = json_text.dumps(body)
    response = Response(body if body is not None else b"", status=status,
                        content_type=f"{FHIR_JSON}; fhirVersion={FHIR_VERSION}; charset=utf-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: FhirError) -> Response:
    return fhir_response(error.outcome, error.status, error.headers)

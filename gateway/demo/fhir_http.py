"""FHIR over HTTP for the stand-in partner: the media type, JSON bodies, FHIR instants and status
lines, and ``FhirError``, a refused request answered as an OperationOutcome."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Response

from gateway.fhir import json_text
from gateway.fhir.errors import issue, outcome

FHIR_JSON = "application/fhir+json"


def now() -> str:
    """Wall-clock time as FHIR instant, for meta.lastUpdated and the summary page."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_text(status: int) -> str:
    """``201`` -> ``"201 Created"``, as Bundle.entry.response.status wants it."""
    return f"{status} {HTTPStatus(status).phrase}"


def error_outcome(messages: list[str], code: str = "invalid") -> dict[str, Any]:
    """An OperationOutcome with one error issue per message."""
    return outcome([issue("error", code, message) for message in messages])


def fhir_response(status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with the FHIR media type."""
    return Response(json_text.dumps(body), status=status, headers=headers, content_type=FHIR_JSON)


def decode_json(data: bytes) -> tuple[Any, str | None]:
    """Parse a request body once; ``(None, reason)`` when it is not JSON."""
    if not data:
        return None, "the request has no body"
    try:
        return json_text.loads_stored(data), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the body is not JSON: {exc}"


class FhirError(Exception):
    """A request the server refuses; answered as an OperationOutcome with ``status``."""

    def __init__(self, status: int, *messages: str, code: str = "invalid",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = list(messages)
        self.code = code
        self.headers = headers or {}

    def response(self) -> Response:
        """The HTTP answer for this error."""
        return fhir_response(self.status, error_outcome(self.messages, self.code), self.headers)

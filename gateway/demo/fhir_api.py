"""The FHIR interactions the stand-in partner answers: transaction and batch Bundles at the base,
create, update, read, search by patient, and the CapabilityStatement."""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.demo.fhir_http import (
    FHIR_JSON,
    FhirError,
    error_outcome,
    fhir_response,
    now,
    status_text,
)
from gateway.demo.fhir_store import (
    Operation,
    Result,
    Store,
    is_type,
    parse_entry,
    parse_post,
    parse_put,
    references_patient,
    require_bundle,
)
from gateway.fhir import json_text


@dataclass(frozen=True)
class Call:
    """A request with its body parsed once and its URL arguments."""

    request: Request
    body: Any
    body_error: str | None
    args: dict[str, str] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)


class FhirApi:
    """The endpoints, one method per interaction, each taking a ``Call``.

    The base class of ``ReceivingFhirServer``, which routes requests here and provides what
    these use: its ``name``, its ``base_url``, the store and the lock held around the store.
    """

    name: str
    base_url: str
    _lock: threading.Lock
    _store: Store

    def _bundle(self, call: Call) -> Response:
        """POST [base]: a transaction (all or nothing) or a batch (each entry on its own)."""
        bundle = require_bundle(call.body, call.body_error)
        entries = bundle.get("entry", [])
        if bundle["type"] == "transaction":
            results = self._transaction(entries)
            body = [result.entry() for result in results]
        else:
            body = [self._batch_entry(index, entry) for index, entry in enumerate(entries)]
        return fhir_response(200, {
            "resourceType": "Bundle", "id": str(uuid.uuid4()),
            "type": f"{bundle['type']}-response", "entry": body})

    def _transaction(self, entries: list[Any]) -> list[Result]:
        """Validate every entry, then plan and apply them under one lock hold."""
        operations, problems = [], []
        for index, entry in enumerate(entries):
            try:
                operations.append(parse_entry(index, entry))
            except FhirError as exc:
                problems.extend(exc.messages)
        if problems:
            raise FhirError(400, *problems)
        return self._apply(operations, rewrite=True)

    def _apply(self, operations: list[Operation], rewrite: bool) -> list[Result]:
        """Plan (may refuse, changing nothing) then write, atomically with respect to readers."""
        with self._lock:
            planned = self._store.plan(operations, rewrite)
            return [self._store.apply(op) for op in planned]

    def _batch_entry(self, index: int, entry: Any) -> dict[str, Any]:
        """One batch entry; its failure is reported in its own response entry."""
        try:
            (result,) = self._apply([parse_entry(index, entry)], rewrite=False)
        except FhirError as exc:
            return {"response": {"status": status_text(exc.status),
                                 "outcome": error_outcome(exc.messages, exc.code)}}
        return result.entry()

    def _update(self, call: Call) -> Response:
        """PUT [base]/Type/id."""
        if call.body_error is not None:
            raise FhirError(400, call.body_error)
        url = f"{call.args['rtype']}/{call.args['rid']}"
        (result,) = self._apply([parse_put("body", url, call.body)], rewrite=False)
        return self._single_write_response(result)

    def _create(self, call: Call) -> Response:
        """POST [base]/Type, honouring an If-None-Exist header."""
        if call.body_error is not None:
            raise FhirError(400, call.body_error)
        condition = call.request.headers.get("If-None-Exist")
        operation = parse_post("body", call.args["rtype"], call.body, condition)
        (result,) = self._apply([operation], rewrite=False)
        return self._single_write_response(result)

    def _single_write_response(self, result: Result) -> Response:
        """The stored resource, with Location and ETag as FHIR servers send them."""
        with self._lock:
            stored = self._store.resources[(result.rtype, result.rid)]
            body = json_text.dumps(stored)
        headers = {"Location": f"{self.base_url}/{result.location}",
                   "ETag": f'W/"{result.version}"'}
        return Response(body, status=result.status, headers=headers, content_type=FHIR_JSON)

    def _read(self, call: Call) -> Response:
        """GET [base]/Type/id."""
        key = (call.args["rtype"], call.args["rid"])
        with self._lock:
            stored = self._store.resources.get(key)
            if stored is None:
                raise FhirError(404, f"{key[0]}/{key[1]} is not known here", code="not-found")
            body, version = json_text.dumps(stored), self._store.versions[key]
        return Response(body, status=200, content_type=FHIR_JSON,
                        headers={"ETag": f'W/"{version}"'})

    def _search(self, call: Call) -> Response:
        """GET [base]/Type, optionally ``?patient=`` and ``_summary=count``."""
        rtype = call.args["rtype"]
        if not is_type(rtype):
            raise FhirError(400, f"{rtype!r} is not a resource type")
        patient = call.request.args.get("patient")
        with self._lock:
            found = self._store.of_type(rtype)
            if patient:
                target = patient if "/" in patient else f"Patient/{patient}"
                found = [r for r in found if references_patient(r, target)]
            bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                                      "type": "searchset", "total": len(found)}
            if call.request.args.get("_summary") != "count":
                bundle["entry"] = [{"fullUrl": f"{self.base_url}/{rtype}/{r['id']}",
                                    "resource": r, "search": {"mode": "match"}} for r in found]
            text = json_text.dumps(bundle)
        return Response(text, status=200, content_type=FHIR_JSON)

    def _metadata(self, call: Call) -> Response:
        """GET [base]/metadata: just enough CapabilityStatement for a client's handshake."""
        return fhir_response(200, {
            "resourceType": "CapabilityStatement", "status": "active", "date": now(),
            "kind": "instance", "fhirVersion": "4.0.1", "format": [FHIR_JSON, "json"],
            "software": {"name": f"demo partner endpoint {self.name}"},
            "implementation": {"description": f"demo partner {self.name}",
                               "url": self.base_url},
            "rest": [{"mode": "server",
                      "interaction": [{"code": "transaction"}, {"code": "batch"}]}]})

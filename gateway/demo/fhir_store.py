"""The stand-in partner's in-memory FHIR store and the writes of transaction and batch Bundles:
entries parsed into operations, ifNoneExist resolved, ``urn:uuid`` references rewritten, and a
new version only when the content changed."""
from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from gateway.demo.fhir_http import FhirError, now, status_text
from gateway.fhir import json_text

PATIENT_REFERENCE_FIELDS = ("subject", "patient", "for", "beneficiary")

Key = tuple[str, str]
"""``(resourceType, id)``."""


# --- small pure helpers --------------------------------------------------------------------


def is_type(text: str) -> bool:
    """A plausible FHIR resource type name (``Patient``), so URLs like ``a/b/c`` are refused."""
    return 0 < len(text) <= 64 and text[0].isupper() and text.isalpha() and text.isascii()


def _is_id(text: str) -> bool:
    """A FHIR id: 1-64 of ``A-Za-z0-9-.``."""
    return 0 < len(text) <= 64 and text.isascii() and all(c.isalnum() or c in "-." for c in text)


def _split_type_id(url: str) -> Key | None:
    """``"Patient/p1"`` -> ``("Patient", "p1")``; ``None`` for anything else."""
    parts = url.split("/")
    if len(parts) == 2 and is_type(parts[0]) and _is_id(parts[1]):
        return parts[0], parts[1]
    return None


def _content_hash(resource: dict[str, Any]) -> str:
    """Hash of the content without ``meta``, so a re-sent resource with a new lastUpdated still
    counts as the same content."""
    content = {k: v for k, v in resource.items() if k != "meta"}
    text = json_text.dumps(content, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _parse_if_none_exist(text: str) -> tuple[str | None, str]:
    """``identifier=system|value`` -> ``(system, value)``; a bare value matches any system and
    ``|value`` matches identifiers without a system. Other searches are refused rather than
    silently ignored, so a client relying on them notices."""
    name, sep, value = text.partition("=")
    if name != "identifier" or not sep or not value or "&" in value:
        raise FhirError(400, f"unsupported ifNoneExist {text!r}; only identifier=system|value")
    system, pipe, code = unquote(value).rpartition("|")
    return (system if pipe else None), code


def _has_identifier(resource: dict[str, Any], system: str | None, value: str) -> bool:
    """Whether the resource carries the identifier an ifNoneExist asks for."""
    for identifier in resource.get("identifier") or []:
        if not isinstance(identifier, dict) or identifier.get("value") != value:
            continue
        if system is None or identifier.get("system", "") == system:
            return True
    return False


def _rewrite_references(node: Any, mapping: dict[str, str]) -> Any:
    """Replace ``urn:uuid:`` references by the ids this transaction gave their targets, as a
    FHIR server does, so stored resources point at resources that exist."""
    if isinstance(node, dict):
        return {k: (mapping.get(v, v) if k == "reference" and isinstance(v, str)
                    else _rewrite_references(v, mapping)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_references(item, mapping) for item in node]
    return node


def references_patient(resource: dict[str, Any], target: str) -> bool:
    """Whether subject/patient/for/beneficiary points at ``target`` (``Patient/x``)."""
    for name in PATIENT_REFERENCE_FIELDS:
        value = resource.get(name)
        reference = value.get("reference") if isinstance(value, dict) else None
        if isinstance(reference, str) and (reference == target
                                           or reference.endswith("/" + target)):
            return True
    return False


# --- parsed operations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One write from a Bundle entry or a single-resource request, validated but not applied."""

    method: str  # PUT, POST or DELETE
    rtype: str
    rid: str | None  # None for a POST until the transaction gives it an id
    resource: dict[str, Any] | None = None
    if_none_exist: tuple[str | None, str] | None = None
    full_url: str | None = None
    existing: bool = False  # a POST whose ifNoneExist matched: nothing to write


@dataclass(frozen=True)
class Result:
    """What applying one operation did, for the response entry."""

    status: int
    rtype: str
    rid: str
    version: int | None  # None for a DELETE

    @property
    def location(self) -> str | None:
        """``Type/id/_history/N``, the form Bundle.entry.response.location takes."""
        if self.version is None:
            return None
        return f"{self.rtype}/{self.rid}/_history/{self.version}"

    def entry(self) -> dict[str, Any]:
        """The transaction-response / batch-response entry."""
        response: dict[str, Any] = {"status": status_text(self.status)}
        if self.version is not None:
            response["location"] = self.location
            response["etag"] = f'W/"{self.version}"'
        return {"response": response}


def _require_resource(where: str, resource: Any, rtype: str) -> dict[str, Any]:
    """The resource of a write, checked against the type in its URL."""
    if not isinstance(resource, dict):
        raise FhirError(400, f"{where}: no resource")
    if "resourceType" not in resource:
        raise FhirError(400, f"{where}: the resource has no resourceType")
    if resource["resourceType"] != rtype:
        raise FhirError(400, f"{where}: resourceType {resource['resourceType']!r} does not "
                             f"match the URL type {rtype!r}")
    return resource


def parse_put(where: str, url: str, resource: Any) -> Operation:
    """A PUT ``Type/id``: create or replace that resource."""
    key = _split_type_id(url)
    if key is None:
        raise FhirError(400, f"{where}: PUT url must be Type/id, got {url!r}")
    body = _require_resource(where, resource, key[0])
    if body.get("id", key[1]) != key[1]:
        raise FhirError(400, f"{where}: resource id {body['id']!r} does not match {url!r}")
    return Operation("PUT", key[0], key[1], {**body, "id": key[1]})


def parse_post(where: str, url: str, resource: Any, if_none_exist: str | None) -> Operation:
    """A POST ``Type``: create with a new id unless ifNoneExist finds one."""
    if not is_type(url):
        raise FhirError(400, f"{where}: POST url must be a resource type, got {url!r}")
    body = _require_resource(where, resource, url)
    condition = _parse_if_none_exist(if_none_exist) if if_none_exist else None
    return Operation("POST", url, None, body, condition)


def _parse_delete(where: str, url: str) -> Operation:
    """A DELETE ``Type/id``."""
    key = _split_type_id(url)
    if key is None:
        raise FhirError(400, f"{where}: DELETE url must be Type/id, got {url!r}")
    return Operation("DELETE", key[0], key[1])


def parse_entry(index: int, entry: Any) -> Operation:
    """Validate one Bundle entry into an operation, or raise saying what is wrong with it."""
    where = f"entry[{index}]"
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict):
        raise FhirError(400, f"{where}: no request")
    method, url = request.get("method"), request.get("url")
    if not isinstance(url, str):
        raise FhirError(400, f"{where}: request.url is missing")
    if method == "PUT":
        operation = parse_put(where, url, entry.get("resource"))
    elif method == "POST":
        operation = parse_post(where, url, entry.get("resource"), request.get("ifNoneExist"))
    elif method == "DELETE":
        operation = _parse_delete(where, url)
    else:
        raise FhirError(400, f"{where}: unsupported request.method {method!r}")
    full_url = entry.get("fullUrl")
    return dataclasses.replace(operation, full_url=full_url if isinstance(full_url, str) else None)


def require_bundle(body: Any, error: str | None) -> dict[str, Any]:
    """The posted Bundle, or a 400 saying why it is not a transaction or batch."""
    if error is not None:
        raise FhirError(400, error)
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise FhirError(400, "POST to the base accepts only a Bundle")
    if body.get("type") not in ("transaction", "batch"):
        raise FhirError(400, f"Bundle.type must be transaction or batch, got {body.get('type')!r}")
    if not isinstance(body.get("entry", []), list):
        raise FhirError(400, "Bundle.entry must be a list")
    return body


# --- the in-memory store -------------------------------------------------------------------


class Store:
    """Resources and the record of changes. Not locked: the server holds its lock around it."""

    def __init__(self) -> None:
        self.resources: dict[Key, dict[str, Any]] = {}
        self.hashes: dict[Key, str] = {}
        self.versions: dict[Key, int] = {}
        self.applied: list[tuple[str, str, str]] = []
        self.deleted: list[Key] = []
        self.duplicates = 0

    def put(self, rtype: str, rid: str, resource: dict[str, Any]) -> Result:
        """Create or replace; a new version only when the content (less meta) changed."""
        key = (rtype, rid)
        digest = _content_hash(resource)
        if self.hashes.get(key) == digest:
            self.duplicates += 1
            return Result(200, rtype, rid, self.versions[key])
        created = key not in self.resources
        version = self.versions.get(key, 0) + 1
        meta = {**(resource.get("meta") or {}), "versionId": str(version), "lastUpdated": now()}
        self.resources[key] = {**resource, "meta": meta}
        self.hashes[key] = digest
        self.versions[key] = version
        self.applied.append((rtype, rid, digest))
        return Result(201 if created else 200, rtype, rid, version)

    def delete(self, rtype: str, rid: str) -> Result:
        """Remove if present; deleting an absent resource is not an error in FHIR."""
        key = (rtype, rid)
        if self.resources.pop(key, None) is not None:
            self.hashes.pop(key, None)
            self.deleted.append(key)
        return Result(200, rtype, rid, None)

    def find_identifier(self, rtype: str, system: str | None, value: str) -> list[str]:
        """Ids of the stored resources of a type carrying an identifier."""
        return [rid for (t, rid), resource in self.resources.items()
                if t == rtype and _has_identifier(resource, system, value)]

    def of_type(self, rtype: str) -> list[dict[str, Any]]:
        """Every stored resource of a type, in insertion order."""
        return [r for (t, _), r in self.resources.items() if t == rtype]

    def plan(self, operations: list[Operation], rewrite: bool) -> list[Operation]:
        """Give POSTs their ids (or their ifNoneExist match) before anything is written, so a
        failing condition leaves the store untouched, then resolve ``urn:uuid`` references."""
        planned = [self._plan_one(op) for op in operations]
        mapping = {op.full_url: f"{op.rtype}/{op.rid}" for op in planned
                   if op.full_url and op.full_url.startswith("urn:") and op.rid}
        if not rewrite or not mapping:
            return planned
        return [dataclasses.replace(op, resource=_rewrite_references(op.resource, mapping))
                if op.resource is not None else op for op in planned]

    def _plan_one(self, op: Operation) -> Operation:
        """Fix the id of a POST: the single ifNoneExist match, or a fresh uuid."""
        if op.method != "POST":
            return op
        if op.if_none_exist is None:
            return dataclasses.replace(op, rid=str(uuid.uuid4()))
        matches = self.find_identifier(op.rtype, *op.if_none_exist)
        if len(matches) > 1:
            raise FhirError(412, f"ifNoneExist matches {len(matches)} {op.rtype} resources",
                            code="duplicate")
        if matches:
            return dataclasses.replace(op, rid=matches[0], existing=True)
        return dataclasses.replace(op, rid=str(uuid.uuid4()))

    def apply(self, op: Operation) -> Result:
        """Write one planned operation."""
        assert op.rid is not None, "operations are planned before they are applied"
        if op.method == "DELETE":
            return self.delete(op.rtype, op.rid)
        if op.existing:
            return Result(200, op.rtype, op.rid, self.versions[(op.rtype, op.rid)])
        assert op.resource is not None
        return self.put(op.rtype, op.rid, {**op.resource, "id": op.rid})

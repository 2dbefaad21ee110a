"""Deterministic FHIR ids and the agency's business identifiers.

A resource's id is a UUID v5 of its kind and local id, in a namespace derived from the agency's
identifier system, so the same record always maps to the same id (updates stay updates) and two
agencies with different identifier systems never collide.
"""
from __future__ import annotations

import re
import uuid
from functools import lru_cache

DEFAULT_IDENTIFIER_BASE = "https://fhir-care-gateway.example/agency-id"
_KIND = re.compile(r"[a-z][a-z0-9-]*")


@lru_cache(maxsize=16)
def _namespace(identifier_base: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, identifier_base)


def fhir_id(kind: str, local_id: str, identifier_base: str = DEFAULT_IDENTIFIER_BASE) -> str:
    """The FHIR id of the resource for local record ``local_id`` of ``kind`` (e.g. "consumer").

    A lowercase UUID: 36 characters of ``[a-f0-9-]``, always a valid FHIR id.
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError(f"invalid id kind {kind!r}")
    if not isinstance(local_id, str) or not local_id:
        raise ValueError(f"a {kind} needs a non-empty local id, not {local_id!r}")
    return str(uuid.uuid5(_namespace(identifier_base), f"{kind}|{local_id}"))


def identifier_system(kind: str, identifier_base: str = DEFAULT_IDENTIFIER_BASE) -> str:
    """``https://fhir-care-gateway.example/agency-id/<kind>`` for the default base."""
    return f"{identifier_base.rstrip('/')}/{kind}"

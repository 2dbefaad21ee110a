"""Builders for the FHIR data types the mappings share (names, telecom, addresses, ...)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .codes import BCP47_SYSTEM

# Local contact kinds are a subset of ContactPoint.system.
_TELECOM_SYSTEMS = {"phone": "phone", "sms": "sms", "email": "email", "fax": "fax"}
_NO_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})")


def prune(value: Any) -> Any:
    """Drop None, empty strings, lists and objects (FHIR forbids empty elements, ele-1), keeping
    false and 0."""
    if isinstance(value, dict):
        pruned = {key: prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if not _empty(item)}
    if isinstance(value, list):
        return [item for item in (prune(item) for item in value) if not _empty(item)]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def human_names(name: Mapping[str, Any]) -> list[dict]:
    """The official name, plus the name the person goes by as a ``usual`` name."""
    official = {
        "use": "official",
        "family": name.get("family"),
        "given": list(name.get("given") or []),
        "prefix": [name["prefix"]] if name.get("prefix") else None,
        "suffix": [name["suffix"]] if name.get("suffix") else None,
    }
    names = [official]
    if name.get("preferred"):
        names.append({"use": "usual", "family": name.get("family"), "given": [name["preferred"]]})
    return prune(names)


def display_name(name: Mapping[str, Any]) -> str:
    """"Preferred-or-first-given Family", for Reference.display and titles."""
    given = name.get("preferred") or next(iter(name.get("given") or []), "")
    return " ".join(part for part in (given, name.get("family")) if part)


def telecom(contacts: Iterable[Mapping[str, Any]] | None) -> list[dict]:
    return prune([{"system": _TELECOM_SYSTEMS[contact["kind"]], "value": contact["value"],
                   "use": contact.get("use")} for contact in contacts or ()])


def addresses(items: Iterable[Mapping[str, Any]] | None) -> list[dict]:
    return prune([{"use": item.get("use"), "line": list(item.get("lines") or []),
                   "city": item.get("city"), "state": item.get("state"),
                   "postalCode": item.get("postal_code")} for item in items or ()])


def codeable(coding: Mapping[str, Any] | None, text: str | None = None) -> dict:
    """A CodeableConcept of one Coding (or text alone)."""
    return prune({"coding": [dict(coding)] if coding else None, "text": text})


def language(tag: str) -> dict:
    return {"coding": [{"system": BCP47_SYSTEM, "code": tag}]}


def period(start: str | None, end: str | None = None) -> dict | None:
    return prune({"start": start, "end": end}) or None


def fhir_datetime(value: str | None) -> str | None:
    """A local date-time (seconds optional) as a FHIR dateTime (seconds required)."""
    if value and _NO_SECONDS.fullmatch(value):
        time_end = 16  # YYYY-MM-DDThh:mm
        return f"{value[:time_end]}:00{value[time_end:]}"
    return value

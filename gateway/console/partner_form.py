"""The partner registration form: the options of ``gateway partners register`` / ``partners
add --id`` as form fields, read into ``registry.from_options`` (which checks them as it does
for the CLI); each problem is reported against the field it is about."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.partners.registry import KINDS, OUTBOUND_METHODS, Partner, PartnerError, from_options

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELDS = ("id", "type", "name", "organization", "fhir_base", "drop_folder", "auth", "token",
          "token_url", "client_id", "purposes", "resource_types", "hl7_facility",
          "mllp_sources", "hl7_timezone", "hl7_charset", "identifier_systems", "jwks_url",
          "jwks", "submits")
# PartnerError paths (registry's names) -> the form's fields.
PATHS = {"id": "id", "type": "type", "name": "name", "organization": "organization",
         "client_id": "client_id", "fhir_base": "fhir_base",
         "endpoints.mllp_sources": "mllp_sources", "endpoints.hl7_timezone": "hl7_timezone",
         "endpoints.hl7_charset": "hl7_charset", "outbound_auth.token": "token",
         "outbound_auth": "token_url", "outbound_auth.method": "auth",
         "resource_types": "resource_types", "submits": "submits", "jwks_url": "jwks_url",
         "jwks": "jwks", "purposes": "purposes",
         "patient_identifier_systems": "identifier_systems"}


@dataclass
class PartnerForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    partner: Partner | None = None


def read_form(form: Mapping[str, str]) -> PartnerForm:
    """The form's values, and the Partner they describe or the errors by field."""
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    result = PartnerForm(values)
    errors = result.errors
    for name, value in values.items():
        if CONTROL.search(value.replace("\n", "").replace("\r", "").replace("\t", "")):
            errors[name] = "Remove the control characters from this field."
    if errors:
        return result
    if not values["id"]:
        errors["id"] = "Enter the partner's id (letters, digits, dots and dashes)."
    elif not ID.match(values["id"]):
        errors["id"] = "Use 1 to 64 letters, digits, dots and dashes, starting with a letter " \
                       "or digit."
    if values["type"] not in KINDS:
        errors["type"] = "Choose what kind of partner this is."
    if not values["name"]:
        errors["name"] = "Enter the partner's name."
    if values["auth"] not in OUTBOUND_METHODS:
        values["auth"] = "none"
    jwks: dict[str, Any] | None = None
    if values["jwks"]:
        try:
            jwks = json.loads(values["jwks"])
        except json.JSONDecodeError as error:
            errors["jwks"] = f"This is not JSON ({error.msg}, line {error.lineno})."
        else:
            if not isinstance(jwks, dict):
                errors["jwks"] = 'Paste a JWK Set: {"keys": [...]}.'
    if errors:
        return result
    try:
        result.partner = from_options(
            partner_id=values["id"], kind=values["type"], name=values["name"],
            organization=values["organization"] or None,
            fhir_base=values["fhir_base"] or None, drop_folder=values["drop_folder"] or None,
            auth_method=values["auth"], token=values["token"] or None,
            token_url=values["token_url"] or None, client_id=values["client_id"] or None,
            purposes=_list(values["purposes"]), resource_types=_list(values["resource_types"]),
            hl7_facility=values["hl7_facility"] or None,
            mllp_sources=_list(values["mllp_sources"]),
            hl7_timezone=values["hl7_timezone"] or None,
            hl7_charset=values["hl7_charset"] or None,
            identifier_systems=_list(values["identifier_systems"]),
            jwks_url=values["jwks_url"] or None, jwks=jwks, submits=_list(values["submits"]))
    except PartnerError as error:
        errors[field_of(error.path)] = _sentence(error.message)
    return result


def field_of(path: str) -> str:
    """The form field a PartnerError path is about (``jwks.keys[0]`` -> ``jwks``)."""
    if path in PATHS:
        return PATHS[path]
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return PATHS.get(head, "id")


def _list(text: str) -> tuple[str, ...]:
    return tuple(item for item in re.split(r"[\s,]+", text) if item)


def _sentence(message: str) -> str:
    message = message.replace("--", "")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")

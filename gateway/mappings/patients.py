"""consumer record -> Patient (+ RelatedPerson for the guardian)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codes import EXT_APPLICATION_DATE, EXT_ELIGIBILITY, EXT_INTERPRETER_REQUIRED
from .context import MappingContext
from .elements import addresses, codeable, human_names, language, prune, telecom
from .people import GUARDIAN, related_person
from .records import expect_type, required
from .terminology import ELIGIBILITY, GATEWAY


def patient_from_consumer(consumer: Mapping[str, Any], ctx: MappingContext) -> list[dict]:
    """The consumer's Patient, then a RelatedPerson for the guardian if there is one."""
    consumer = expect_type(consumer, "consumer")
    consumer_id = required(consumer, "id")
    identifiers = required(consumer, "identifiers")
    name = required(consumer, "name")
    required(name, "family", "name")
    terminology = ctx.terminology
    patient = prune({
        "resourceType": "Patient",
        "id": ctx.fhir_id("consumer", consumer_id),
        "extension": _extensions(consumer, ctx),
        "identifier": [
            ctx.identifier("consumer", consumer_id),
            {"use": "usual", "type": codeable(terminology.translate(GATEWAY, "agency-number")),
             "system": ctx.identifier_system("agency-number"),
             "value": required(identifiers, "agency_number", "identifiers")},
            {"type": codeable(terminology.translate(GATEWAY, "medicaid-id")),
             "system": ctx.medicaid_system, "value": identifiers.get("medicaid_id")}
            if identifiers.get("medicaid_id") else None,
        ],
        "active": consumer.get("active"),
        "name": human_names(name),
        "telecom": telecom(consumer.get("contacts")),
        "gender": consumer.get("gender"),
        "birthDate": required(consumer, "birth_date"),
        "address": addresses(consumer.get("addresses")),
        "communication": [{"language": language(consumer["language"]), "preferred": True}]
        if consumer.get("language") else None,
        "managingOrganization": ctx.agency_reference(),
    })
    resources = [patient]
    guardian = consumer.get("guardian")
    if guardian:
        # Whatever the guardian is to the consumer (mother, aunt...), they are also GUARD.
        extra_ids = (ctx.identifier("person", guardian["id"]),) if guardian.get("id") else ()
        resources.append(related_person(
            ctx, kind=GUARDIAN, local_id=consumer_id, consumer_id=consumer_id, person=guardian,
            path="guardian", extra_codes=(GUARDIAN,), extra_identifiers=extra_ids))
    return resources


def _extensions(consumer: Mapping[str, Any], ctx: MappingContext) -> list[dict]:
    extensions: list[dict] = []
    if isinstance(consumer.get("interpreter_needed"), bool):
        extensions.append({"url": EXT_INTERPRETER_REQUIRED,
                           "valueBoolean": consumer["interpreter_needed"]})
    for index, item in enumerate(consumer.get("eligibility") or ()):
        group = ctx.terminology.translate(ELIGIBILITY, item.get("group"),
                                          f"eligibility[{index}].group")
        extensions.append({"url": EXT_ELIGIBILITY, "extension": prune([
            {"url": "group", "valueCoding": group},
            {"url": "since", "valueDate": item.get("since")} if item.get("since") else None,
        ])})
    if consumer.get("application_date"):
        extensions.append({"url": EXT_APPLICATION_DATE,
                           "valueDate": consumer["application_date"]})
    return extensions

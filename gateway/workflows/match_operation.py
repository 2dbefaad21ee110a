"""``Patient/$match`` (http://hl7.org/fhir/OperationDefinition/Patient-match).

The body is a Parameters with ``resource`` (the Patient to match, 1..1), ``onlyCertainMatches``
(boolean) and ``count`` (a positive integer; the server's default is ``DEFAULT_COUNT``, its most
``MAX_COUNT``). The answer is a searchset Bundle of the stored Patients it may be, best first,
each entry's ``search`` carrying ``mode`` "match", the ``score`` and the match-grade extension,
then an OperationOutcome entry (``search.mode`` "outcome") saying why each scored as it did. The
scoring is gateway/workflows/patient_matching.py, the same the inbound hospital messages use.

With ``onlyCertainMatches`` only a certain match is returned, and only when it is the one
certain match: if two records are certain, which one is meant is for a person to decide, and
the answer has none (the outcome says so).

The caller reads as itself: a partner finds only the Patients its consents let it see, scored
in the form it is shown (minimum necessary), and trusts only the identifiers it is shown
(patient_matching.trusted_systems). Only the Patients returned are disclosures: those read to be
scored and not returned are left out of the request's AuditEvent.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from gateway.auth import Disclosures, Principal
from gateway.fhir.errors import FhirError, issue, outcome
from gateway.fhir.operations import Operation, OperationCall, OperationResult
from gateway.fhir.validation import Validator, has_errors
from gateway.partners.registry import PartnerRegistry
from gateway.state import GatewayState
from gateway.workflows.patient_matching import (
    Candidate,
    find_candidates,
    sole_certain,
    trusted_systems,
)

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
DEFAULT_COUNT = 10
MAX_COUNT = 100
PARAMETERS = ("resource", "onlyCertainMatches", "count")


@dataclass(frozen=True)
class MatchRequest:
    patient: dict[str, Any]
    only_certain: bool = False
    count: int = DEFAULT_COUNT


def operation(state: GatewayState) -> Operation:
    """``Patient/$match``, answered from ``state``'s store. It finds Patients as a search
    does, so the token needs search permission on Patient."""

    def run(call: OperationCall) -> OperationResult:
        return OperationResult(match_operation(state, cast(Principal, call.requester),
                                               call.body))

    return Operation("match", run, resource_types=frozenset({"Patient"}), permission="s",
                     definition="http://hl7.org/fhir/OperationDefinition/Patient-match")


def match_operation(state: GatewayState, requester: Principal, body: Any) -> dict[str, Any]:
    """The answer to ``POST [base]/Patient/$match`` with ``body``: a searchset Bundle, or a
    400 FhirError naming the parameter at fault."""
    asked = match_request(state.validator, body)
    # Scoring reads candidates that are not returned: their decisions go to a scratch record,
    # and only what is returned joins the request's accounting of disclosures.
    scratch = replace(requester, disclosures=Disclosures())
    with state.reading(scratch) as repository:
        partner_systems = ([system for partner in PartnerRegistry(repository.session).all()
                            for system in partner.patient_identifier_systems]
                           if requester.is_operator else [])
        candidates = find_candidates(repository, asked.patient,
                                     trusted_systems=trusted_systems(requester, partner_systems),
                                     limit=MAX_COUNT)
    returned, notes = selected(candidates, asked)
    if requester.disclosures is not None and scratch.disclosures is not None:
        account(requester.disclosures, scratch.disclosures, returned)
    return match_bundle(state.config.fhir_base_url, returned, notes)


def match_request(validator: Validator, body: Any) -> MatchRequest:
    """The operation's parameters, checked: a 400 FhirError with the parameter's path."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError(400, "invalid", "$match takes a Parameters resource with the Patient "
                                        "to match as its 'resource' parameter", "Parameters")
    parameters = body.get("parameter")
    if not isinstance(parameters, list):
        raise FhirError(400, "required", "Parameters must carry a 'resource' parameter",
                        "Parameters.parameter")
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, parameter in enumerate(parameters):
        path = f"Parameters.parameter[{index}]"
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name not in PARAMETERS:
            raise FhirError(400, "not-supported",
                            f"unknown $match parameter {name!r}; expected one of "
                            f"{', '.join(PARAMETERS)}", f"{path}.name")
        if name in found:
            raise FhirError(400, "invalid", f"the {name} parameter may appear only once", path)
        found[name] = (index, parameter)
    if "resource" not in found:
        raise FhirError(400, "required", "Parameters must carry a 'resource' parameter (the "
                                         "Patient to match)", "Parameters.parameter")
    index, parameter = found["resource"]
    patient = parameter.get("resource")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        kind = patient.get("resourceType") if isinstance(patient, dict) else None
        raise FhirError(400, "invalid", f"the resource parameter must be a Patient, not "
                                        f"{kind or 'nothing'}",
                        f"Parameters.parameter[{index}].resource")
    only_certain = False
    if "onlyCertainMatches" in found:
        index, parameter = found["onlyCertainMatches"]
        only_certain = parameter.get("valueBoolean")
        if not isinstance(only_certain, bool):
            raise FhirError(400, "invalid", "onlyCertainMatches must be a valueBoolean",
                            f"Parameters.parameter[{index}].valueBoolean")
    count = DEFAULT_COUNT
    if "count" in found:
        index, parameter = found["count"]
        count = parameter.get("valueInteger")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FhirError(400, "invalid", "count must be a positive valueInteger",
                            f"Parameters.parameter[{index}].valueInteger")
    problems = [i for i in validator.validate(body, expected_type="Parameters")
                if has_errors([i])]
    if problems:
        raise FhirError(400, problems[0].code, "the Patient to match is not valid: "
                        f"{problems[0].diagnostics}", issues=[i.to_issue() for i in problems])
    return MatchRequest(patient, only_certain, min(count, MAX_COUNT))


def selected(candidates: list[Candidate], asked: MatchRequest
             ) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """What to return of ``candidates`` (best first), and the notes of the outcome entry."""
    notes: list[dict[str, Any]] = []
    if asked.only_certain:
        sole = sole_certain(candidates)
        if sole is None and candidates and candidates[0].grade == "certain":
            notes.append(issue("warning", "multiple-matches",
                               "more than one record matches with certainty; none is returned "
                               "when only certain matches are asked for"))
        candidates = [sole] if sole is not None else []
    returned = candidates[:asked.count]
    notes += [issue("information", "informational",
                    f"Patient/{c.patient_id}: {c.grade} ({c.score:.2f}): "
                    f"{', '.join(c.reasons)}") for c in returned]
    return returned, notes


def account(request: Disclosures, scratch: Disclosures, returned: list[Candidate]) -> None:
    """Into the request's accounting: the Patients returned, and anything refused."""
    for candidate in returned:
        request.disclosed.append(f"Patient/{candidate.patient_id}")
        request.patients.add(candidate.patient_id)
    request.denied.extend(scratch.denied)
    request.reasons.extend(scratch.reasons[:max(0, 20 - len(request.reasons))])


def match_bundle(fhir_base: str, returned: list[Candidate], notes: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{
        "fullUrl": f"{fhir_base}/Patient/{c.patient_id}",
        "resource": c.patient,
        "search": {"extension": [{"url": MATCH_GRADE, "valueCode": c.grade}],
                   "mode": "match", "score": c.score},
    } for c in returned]
    if notes:
        entries.append({"resource": outcome(notes), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "total": len(returned),
                              "link": [{"relation": "self", "url": f"{fhir_base}/Patient/$match"}]}
    if entries:
        bundle["entry"] = entries
    return bundle

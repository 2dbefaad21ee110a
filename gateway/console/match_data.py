"""What the match review pages show: the person as the hospital's message describes them
beside each candidate consumer, and each candidate's score explained field by field with
the weights of gateway/workflows/patient_matching.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.console.referral_data import person_name
from gateway.fhir.errors import FhirError
from gateway.fhir.repository import Repository
from gateway.workflows.match_review import Review
from gateway.workflows.patient_matching import WEIGHTS


@dataclass(frozen=True)
class FieldScore:
    field: str
    in_message: str
    on_record: str
    outcome: str  # agrees | partly agrees (why) | differs | not compared
    points: int


@dataclass(frozen=True)
class CandidateView:
    patient_id: str
    name: str
    score: float
    grade: str
    fields: list[FieldScore]
    other_reasons: list[str]  # identifiers, "inactive record" and the like


@dataclass(frozen=True)
class ReviewPage:
    review: Review
    person: dict[str, Any]  # the Patient as the message has it
    candidates: list[CandidateView]


def explain(reasons: list[str], element: str) -> tuple[str, int]:
    """How one field counted in a candidate's score: the outcome in words, and its points."""
    agree, partial, disagree = WEIGHTS[element]
    for reason in reasons:
        if reason == element:
            return "agrees", agree
        if reason.startswith(f"{element} ("):
            return f"partly agrees {reason[len(element) + 1:]}", partial
        if reason == f"{element} differs":
            return "differs", disagree
    return "not compared (missing on one side)", 0


def review_page(repository: Repository, review: Review, person: dict[str, Any]) -> ReviewPage:
    candidates = []
    for candidate in review.candidates:
        patient_id = str(candidate.get("patient_id"))
        try:
            stored = repository.read("Patient", patient_id).json()
        except FhirError:
            stored = {}
        reasons = [str(r) for r in candidate.get("reasons", [])]
        fields = []
        for element in WEIGHTS:
            outcome, points = explain(reasons, element)
            fields.append(FieldScore(element, shown(person, element), shown(stored, element),
                                     outcome, points))
        others = [r for r in reasons if not any(
            r == e or r.startswith((f"{e} (", f"{e} differs")) for e in WEIGHTS)]
        candidates.append(CandidateView(patient_id, person_name(stored) or patient_id,
                                        float(candidate.get("score", 0)),
                                        str(candidate.get("grade", "")), fields, others))
    return ReviewPage(review, person, candidates)


def shown(patient: dict[str, Any], element: str) -> str:
    """One field of a Patient as a person reads it."""
    names = patient.get("name") or [{}]
    if element == "family name":
        return ", ".join(n.get("family", "") for n in names if n.get("family"))
    if element == "given name":
        return ", ".join(" ".join(n.get("given", [])) for n in names if n.get("given"))
    if element == "birth date":
        return str(patient.get("birthDate") or "")
    if element == "gender":
        return str(patient.get("gender") or "")
    if element == "phone":
        return ", ".join(t.get("value", "") for t in patient.get("telecom", [])
                         if t.get("system") == "phone")
    addresses = patient.get("address") or []
    if element == "address line":
        return "; ".join(", ".join(a.get("line", [])) for a in addresses if a.get("line"))
    if element == "postal code":
        return ", ".join(a.get("postalCode", "") for a in addresses if a.get("postalCode"))
    return ""

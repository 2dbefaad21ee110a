"""What the decision point decided during one request: the content of its AuditEvent."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class _Decided(Protocol):
    permitted: bool
    patient_id: str | None
    reason: str


@dataclass
class Disclosures:
    """What a policy decided during one request: for the accounting of disclosures."""

    disclosed: list[str] = field(default_factory=list)  # "Type/id"
    denied: list[str] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)

    def add(self, reference: str, decision: _Decided) -> None:
        (self.disclosed if decision.permitted else self.denied).append(reference)
        if decision.patient_id:
            self.patients.add(decision.patient_id)
        if not decision.permitted and len(self.reasons) < 20:
            self.reasons.append(f"{reference}: {decision.reason}")

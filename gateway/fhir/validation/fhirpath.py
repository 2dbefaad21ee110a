"""FHIRPath invariants (``ElementDefinition.constraint``), evaluated with fhirpathpy."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.invocations import invocation_registry
from fhirpathpy.engine.nodes import FP_DateTime, FP_Time, ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from gateway.fhir.validation.temporal import compare as temporal_compare
from gateway.fhir.validation.temporal import moment

R4_MODEL = models["r4"]
SEVERITIES = ("error", "warning")


class InvariantError(ValueError):
    """An invariant that cannot be compiled."""


class _RaiseOnError(ErrorListener):
    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802
        raise InvariantError(f"syntax error at column {column}: {msg}")


def check_syntax(expression: str) -> None:
    """Raise InvariantError unless ``expression`` is syntactically valid FHIRPath."""
    # fhirpathpy's own parser recovers from syntax errors silently and evaluates what is left.
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_RaiseOnError())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_RaiseOnError())
    parser.entireExpression()


@dataclass(frozen=True)
class Invariant:
    """One compiled constraint; ``holds`` raises if evaluation fails."""

    key: str
    severity: str  # "error" | "warning"
    human: str
    expression: str
    _evaluate: Callable = field(repr=False, compare=False)

    def holds(self, node: object, resource: Mapping, path: str, *,
              empty_holds: bool = False) -> bool:
        """Whether the invariant holds on ``node`` (an instance of element ``path``).
        ``empty_holds``: an empty result means the rule does not apply (the base spec's rules,
        such as ref-1 on a Reference with only a display)."""
        context = {"resource": resource, "rootResource": resource}
        # Typing the node by its element path lets fhirpathpy resolve choices such as value[x].
        target = node if node is resource else ResourceNode.create_node(node, path)
        result = self._evaluate(target, context)
        # As the official validator: a single boolean is the answer, empty fails, else passes.
        if len(result) == 1 and isinstance(result[0], bool):
            return result[0]
        return bool(result) or (empty_holds and not result)


def compile_invariant(constraint: Mapping) -> Invariant:
    """An Invariant from an ElementDefinition.constraint; raise InvariantError if unusable."""
    key, expression = constraint.get("key"), constraint.get("expression")
    if not isinstance(key, str) or not isinstance(expression, str):
        raise InvariantError("a constraint needs a key and a FHIRPath expression")
    severity = constraint.get("severity", "error")
    if severity not in SEVERITIES:
        raise InvariantError(f"{key}: severity must be one of {SEVERITIES}, not {severity!r}")
    try:
        check_syntax(expression)
    except InvariantError as exc:
        raise InvariantError(f"{key}: {exc}") from exc
    # fhirpathpy rebuilds its user table on every evaluation, so the temporal comparisons are
    # handed only to invariants that order values (equality of two date elements in an
    # invariant is rare and stays the library's).
    options = _TEMPORAL_OPTIONS if ("<" in expression or ">" in expression) else _OPTIONS
    return Invariant(key, severity, constraint.get("human", key), expression,
                     fhirpathpy.compile(expression, model=R4_MODEL, options=options))


def _quiet_trace(*_: object) -> None:
    """trace() in an invariant (ref-1 has two) writes nothing: fhirpathpy prints by default."""


def _has_value(inputs: list) -> list[bool]:
    """FHIRPath ``hasValue()`` (fhirpathpy lacks it): one primitive value."""
    return [len(inputs) == 1 and isinstance(inputs[0], str | int | float | bool | Decimal)
            and not isinstance(inputs[0], dict)]


def _resolve(inputs: list) -> list[ResourceNode]:
    """FHIRPath ``resolve()`` without a server (fhirpathpy lacks it): what the reference's type
    says, so ``resolve() is Practitioner`` and ``ofType(...)`` answer as far as they can
    offline; a reference whose type is not written resolves to nothing (the rule passes)."""
    resolved = []
    for item in inputs:
        text = item.get("reference") if isinstance(item, dict) else item
        if isinstance(text, str):
            head = text.split("?")[0].rstrip("/").split("/")
            if len(head) >= 4 and head[-4][:1].isupper() and head[-2] == "_history":
                head = head[:-2]
            if len(head) >= 2 and head[-2][:1].isupper():
                stub = {"resourceType": head[-2], "id": head[-1]}
                resolved.append(ResourceNode.create_node(stub, head[-2]))
    return resolved


# fhirpathpy 2.2.4 compares date, dateTime, instant and time elements as their JSON text:
# "18:25:29.900Z" sorts before "18:25:29Z" ('.' < 'Z') and "10:00+02:00" is not "08:00Z", so
# Task inv-1 (lastModified >= authoredOn) refused valid Tasks; its own temporal values compare
# correctly but parse with dateutil at every comparison (~0.4 ms). The comparison operators
# below compare such values as FHIRPath §6.1-6.2 defines (temporal.py) and leave every other
# comparison to the library. fhirpathpy calls a user-table operator with the left operand's
# bare values (its element type already dropped) and the right operand's nodes: the right one
# tells the type, and a text left operand is read as the same type, as the library does.
_TEMPORAL_TYPES = frozenset({"date", "dateTime", "instant", "time"})
_ORDER = {"<": lambda c: c < 0, ">": lambda c: c > 0, "<=": lambda c: c <= 0,
          ">=": lambda c: c >= 0, "=": lambda c: c == 0, "!=": lambda c: c != 0}


def _temporal_text(item: object, typed: bool) -> str | None:
    """The text of a temporal operand: a typed element, a library temporal value, or (when
    ``typed``: the other operand is temporal) a plain string."""
    if isinstance(item, FP_DateTime | FP_Time):
        return item.asStr
    if isinstance(item, ResourceNode):
        return item.data if item.path in _TEMPORAL_TYPES and isinstance(item.data, str) \
            else None
    return item if typed and isinstance(item, str) else None


def _temporal_comparison(operator: str) -> dict:
    base = invocation_registry[operator]
    holds = _ORDER[operator]

    def compare(left_values: list, right: list) -> object:
        if len(left_values) == 1 and len(right) == 1:
            right_text = _temporal_text(right[0], typed=False)
            left_text = _temporal_text(left_values[0], typed=right_text is not None)
            if right_text is None and left_text is not None:
                right_text = _temporal_text(right[0], typed=True)
            if left_text is not None and right_text is not None:
                left_moment, right_moment = moment(left_text), moment(right_text)
                if left_moment is not None and right_moment is not None:
                    order = temporal_compare(left_moment, right_moment)
                    return [] if order is None else [holds(order)]
        return base["fn"](None, left_values, right)

    return {**base, "fn": compare}


_FUNCTIONS = {"hasValue": {"fn": _has_value}, "resolve": {"fn": _resolve}}
_OPTIONS = {"traceFn": _quiet_trace, "userInvocationTable": _FUNCTIONS}
_TEMPORAL_OPTIONS = {"traceFn": _quiet_trace, "userInvocationTable": {
    **_FUNCTIONS, **{operator: _temporal_comparison(operator) for operator in _ORDER}}}

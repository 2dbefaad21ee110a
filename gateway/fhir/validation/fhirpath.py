"""FHIRPath invariants (``ElementDefinition.constraint``), evaluated with fhirpathpy."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

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

    def holds(self, node: object, resource: Mapping, path: str) -> bool:
        """Whether the invariant holds on ``node`` (an instance of element ``path``)."""
        context = {"resource": resource, "rootResource": resource}
        # Typing the node by its element path lets fhirpathpy resolve choices such as value[x].
        target = node if node is resource else ResourceNode.create_node(node, path)
        result = self._evaluate(target, context)
        # As the official validator: a single boolean is the answer, empty fails, else passes.
        if len(result) == 1 and isinstance(result[0], bool):
            return result[0]
        return bool(result)


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
    return Invariant(key, severity, constraint.get("human", key), expression,
                     fhirpathpy.compile(expression, model=R4_MODEL))

"""A compiler for the FHIRPath subset used by the R4 search parameter expressions.

An expression is compiled once per resource type, against that type's StructureDefinition, into
a few *branches*: straight-line lists of JSON steps ending in a value of one known FHIR type.
Supported: member paths, ``|`` unions, ``x as T`` / ``.as(T)`` / ``.ofType(T)`` (choice types
included), ``.where(resolve() is T)``, ``.where(field = 'literal')`` and the boolean shape
``X.exists() and X != false``. Anything else raises ``UnsupportedExpression``, so a parameter is
only offered when its values are extracted exactly as the specification defines them.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.fhir.search.references import reference_type
from gateway.fhir.search.structure import StructureModel

_GENERIC_ROOTS = frozenset({"Resource", "DomainResource"})


class UnsupportedExpression(ValueError):
    """The expression uses FHIRPath this compiler does not implement."""


# --- parsing -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)|(?P<op>!=|[.()|\[\]=,]))"
)


@dataclass(frozen=True)
class Node:
    """A parsed FHIRPath node: ``kind`` plus children (immutable, comparable)."""

    kind: str  # name, member, call (with focus), function (without), as, is, union, and, ...
    value: Any = None
    children: tuple[Node, ...] = ()


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise UnsupportedExpression(f"cannot read {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over FHIRPath precedence: and < (=, !=) < | < (as, is) < postfix."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self) -> Node:
        node = self._and()
        if self.position != len(self.tokens):
            raise UnsupportedExpression(f"unexpected {self.tokens[self.position][1]!r}")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (value is not None and token[1] != value):
            raise UnsupportedExpression(f"expected {value or 'more'}")
        self.position += 1
        return token

    def _at(self, value: str) -> bool:
        token = self._peek()
        return token is not None and token[1] == value and token[0] in ("op", "ident")

    def _and(self) -> Node:
        node = self._equality()
        while self._at("and"):
            self._take()
            node = Node("and", None, (node, self._equality()))
        return node

    def _equality(self) -> Node:
        node = self._union()
        if self._at("=") or self._at("!="):
            operator = self._take()[1]
            node = Node("eq" if operator == "=" else "ne", None, (node, self._union()))
        return node

    def _union(self) -> Node:
        items = [self._type_operation()]
        while self._at("|"):
            self._take()
            items.append(self._type_operation())
        return items[0] if len(items) == 1 else Node("union", None, tuple(items))

    def _type_operation(self) -> Node:
        node = self._postfix()
        while self._at("as") or self._at("is"):
            operator = self._take()[1]
            node = Node(operator, self._type_name(), (node,))
        return node

    def _type_name(self) -> str:
        kind, text = self._take()
        if kind != "ident":
            raise UnsupportedExpression(f"expected a type name, got {text!r}")
        if text == "FHIR" and self._at("."):
            self._take()
            kind, text = self._take()
        return text.strip("`")

    def _postfix(self) -> Node:
        node = self._primary()
        while True:
            if self._at("."):
                self._take()
                node = self._invocation(node)
            elif self._at("["):
                self._take()
                index = self._and()
                self._take("]")
                node = Node("index", None, (node, index))
            else:
                return node

    def _primary(self) -> Node:
        token = self._peek()
        if token is None:
            raise UnsupportedExpression("unexpected end")
        kind, text = token
        if text == "(" and kind == "op":
            self._take()
            node = self._and()
            self._take(")")
            return node
        if kind == "string":
            self._take()
            return Node("literal", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "number":
            raise UnsupportedExpression("number literals are not supported")
        if kind == "ident" and text in ("true", "false"):
            self._take()
            return Node("literal", text == "true")
        return self._invocation(None)

    def _invocation(self, base: Node | None) -> Node:
        kind, text = self._take()
        if kind != "ident":
            raise UnsupportedExpression(f"expected a name, got {text!r}")
        name = text.strip("`")
        if self._at("("):
            self._take()
            arguments: list[Node] = []
            if not self._at(")"):
                arguments.append(self._and())
                while self._at(","):
                    self._take()
                    arguments.append(self._and())
            self._take(")")
            if base is None:
                return Node("function", name, tuple(arguments))
            return Node("call", name, (base, *arguments))
        return Node("name", name) if base is None else Node("member", name, (base,))


def parse_expression(text: str) -> Node:
    """Parse a FHIRPath expression of the supported subset."""
    return _Parser(text).parse()


# --- compiling -----------------------------------------------------------------------------

GET, EQUALS, REFERS_TO = "get", "equals", "refers-to"


@dataclass(frozen=True)
class Branch:
    """JSON steps from the resource to values of one FHIR ``type``."""

    steps: tuple[tuple[str, str, Any], ...]  # (GET, key, None) | (EQUALS, key, literal) | ...
    type: str


@dataclass(frozen=True)
class CompiledExpression:
    """A compiled search expression: evaluate() yields (FHIR type, JSON value) pairs."""

    branches: tuple[Branch, ...]
    truthy: bool = False  # ``X.exists() and X != false``: one boolean for the whole resource

    def evaluate(self, resource: dict[str, Any]) -> list[tuple[str, Any]]:
        values: list[tuple[str, Any]] = []
        for branch in self.branches:
            values.extend((branch.type, item) for item in _walk(branch.steps, resource))
        if self.truthy:
            present = [value for _, value in values if value is not False]
            return [("boolean", bool(present))]
        return values


def _walk(steps: tuple[tuple[str, str, Any], ...], resource: dict[str, Any]) -> list[Any]:
    items: list[Any] = [resource]
    for operation, key, argument in steps:
        if operation == GET:
            found: list[Any] = []
            for item in items:
                value = item.get(key) if isinstance(item, dict) else None
                if isinstance(value, list):
                    found.extend(v for v in value if v is not None)
                elif value is not None:
                    found.append(value)
            items = found
        elif operation == EQUALS:
            items = [i for i in items if isinstance(i, dict) and i.get(key) == argument]
        else:  # REFERS_TO
            items = [i for i in items if reference_type(i) == argument]
        if not items:
            return items
    return items


@dataclass(frozen=True)
class _State:
    steps: tuple[tuple[str, str, Any], ...]
    type: str
    owner: tuple[str, str] | None  # where this value's children are declared


def compile_expression(text: str, resource_type: str, model: StructureModel
                       ) -> CompiledExpression:
    """Compile ``text`` for resources of ``resource_type`` (parts for other types drop out)."""
    node = parse_expression(text)
    root = _State((), resource_type, (resource_type, resource_type))
    compiler = _Compiler(model, resource_type, root)
    truthy_path = _truthy_shape(node)
    if truthy_path is not None:
        states = compiler.states(truthy_path)
        return CompiledExpression(tuple(Branch(s.steps, s.type) for s in states), truthy=True)
    states = compiler.states(node)
    return CompiledExpression(tuple(Branch(s.steps, s.type) for s in states))


def _truthy_shape(node: Node) -> Node | None:
    """``X`` when ``node`` is ``X.exists() and X != false``."""
    if node.kind != "and":
        return None
    left, right = node.children
    if (left.kind == "call" and left.value == "exists" and len(left.children) == 1
            and right.kind == "ne" and right.children[1] == Node("literal", False)
            and right.children[0] == left.children[0]):
        return left.children[0]
    raise UnsupportedExpression("boolean expressions other than 'X.exists() and X != false'")


class _Compiler:
    def __init__(self, model: StructureModel, resource_type: str, root: _State) -> None:
        self.model = model
        self.resource_type = resource_type
        self.root = root

    def states(self, node: Node) -> list[_State]:
        handler = getattr(self, "_" + node.kind, None)
        if handler is None:
            raise UnsupportedExpression(f"'{node.kind}' is not supported")
        result: list[_State] = handler(node)
        return result

    def _name(self, node: Node) -> list[_State]:
        if node.value == self.resource_type or node.value in _GENERIC_ROOTS:
            return [self.root]
        if node.value[:1].isupper():
            return []  # a path for another resource type: nothing on this one
        raise UnsupportedExpression(f"path must start with a type, not {node.value!r}")

    def _union(self, node: Node) -> list[_State]:
        return [state for child in node.children for state in self.states(child)]

    def _member(self, node: Node) -> list[_State]:
        return list(self._members(self.states(node.children[0]), node.value))

    def _members(self, states: list[_State], name: str) -> Iterator[_State]:
        for state in states:
            element = self.model.child(state.owner, name) if state.owner else None
            if element is None:
                raise UnsupportedExpression(f"{state.type} has no element {name!r}")
            for type_code in element.types:
                key = name + type_code[0].upper() + type_code[1:] if element.choice else name
                owner = element.children
                if owner is None and self.model.has_children((type_code, type_code)):
                    owner = (type_code, type_code)
                yield _State(state.steps + ((GET, key, None),), type_code, owner)

    def _as(self, node: Node) -> list[_State]:
        return self._of_type(self.states(node.children[0]), node.value)

    def _of_type(self, states: list[_State], type_name: str) -> list[_State]:
        kept = [state for state in states if state.type == type_name]
        if states and not kept:
            raise UnsupportedExpression(f"no value of type {type_name}")
        return kept

    def _call(self, node: Node) -> list[_State]:
        base, *arguments = node.children
        if node.value in ("as", "ofType") and len(arguments) == 1 and arguments[0].kind == "name":
            return self._of_type(self.states(base), arguments[0].value)
        if node.value == "where" and len(arguments) == 1:
            return self._where(self.states(base), arguments[0])
        raise UnsupportedExpression(f"function {node.value}() is not supported")

    def _where(self, states: list[_State], condition: Node) -> list[_State]:
        if (condition.kind == "is" and condition.children[0].kind == "function"
                and condition.children[0].value == "resolve"
                and len(condition.children[0].children) == 0):
            for state in states:
                if state.type != "Reference":
                    raise UnsupportedExpression("resolve() on a value that is not a Reference")
            return [_State(s.steps + ((REFERS_TO, "", condition.value),), s.type, s.owner)
                    for s in states]
        if (condition.kind == "eq" and condition.children[0].kind == "name"
                and condition.children[1].kind == "literal"):
            name, literal = condition.children[0].value, condition.children[1].value
            kept = []
            for state in states:
                element = self.model.child(state.owner, name) if state.owner else None
                if element is None or element.choice or element.children is not None:
                    raise UnsupportedExpression(f"where() on {name!r} of {state.type}")
                kept.append(_State(state.steps + ((EQUALS, name, literal),), state.type,
                                   state.owner))
            return kept
        raise UnsupportedExpression("where() conditions other than resolve() is T / field = 'x'")

"""Rules of the definitional resources that their R4 invariants do not state, checked as HL7's
validator checks them (its SearchParameterValidator, StructureDefinitionValidator and
CapabilityStatement checks):

1. a composite SearchParameter defines two or more components (search.html#composite);
2. each branch of a SearchParameter's expression starts at one of its base types;
3. a SearchParameter ``derivedFrom`` one of the specification's keeps its type and its bases;
4. a CapabilityStatement's ``searchParam`` of a specification SearchParameter has its type;
5. each path in a StructureDefinition's differential is an element of the type it constrains
   (a choice may be named for one of its types: ``Observation.valueQuantity``).

Only the specification's own SearchParameters are known (``search-parameter-types.json``); one
from elsewhere is not compared with anything.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .definitions import load_definitions
from .model import Kind, Model, TypeNode
from .primitives import show

Report = Callable[[str, str, str], None]  # (code, diagnostics, expression)

# The abstract bases: a parameter on them applies to every resource type.
ANY_RESOURCE = frozenset({"Resource", "DomainResource"})
_LEADING_NAME = re.compile(r"\(*\s*([A-Za-z][A-Za-z0-9]*)")


@lru_cache(maxsize=1)
def search_parameter_types() -> dict[str, dict[str, Any]]:
    """The R4 SearchParameters' type and base, by canonical URL."""
    return load_definitions("search-parameter-types.json")


def check_definitional(resource: Mapping, expression: str, report: Report,
                       model: Model) -> None:
    """Apply the rules above that concern ``resource``'s type."""
    rule = _RULES.get(resource.get("resourceType"))  # type: ignore[arg-type]
    if rule is not None:
        rule(resource, expression, report, model)


def _known_parameter(url: object) -> dict[str, Any] | None:
    return search_parameter_types().get(url.split("|")[0]) if isinstance(url, str) else None


def _search_parameter(sp: Mapping, expression: str, report: Report, model: Model) -> None:
    kind, bases = sp.get("type"), sp.get("base")
    bases = [b for b in bases if isinstance(b, str)] if isinstance(bases, list) else []
    components = sp.get("component")
    if kind == "composite" and not (isinstance(components, list) and len(components) >= 2):
        report("invariant", "When the SearchParameter has a type of 'composite', then the "
               "SearchParameter must define two or more components", expression)
    text = sp.get("expression")
    if isinstance(text, str) and bases and not ANY_RESOURCE & set(bases):
        for branch in _branches(text):
            match = _LEADING_NAME.match(branch)
            name = match.group(1) if match else None
            if name in model.all_resource_types and name not in bases \
                    and name not in ANY_RESOURCE:
                report("invalid", f"The search expression {show(text, 200)} starts at {name}, "
                       f"which is not a base of this SearchParameter ({', '.join(bases)})",
                       f"{expression}.expression")
                break
    derived_from = sp.get("derivedFrom")
    parent = _known_parameter(derived_from)
    if parent is None:
        return
    if isinstance(kind, str) and kind != parent["type"]:
        report("invalid", f"The type {kind} is different to the type {parent['type']} of "
               f"{derived_from}, the SearchParameter this is derived from", expression)
    for base in bases:
        if base not in parent["base"] and not ANY_RESOURCE & set(parent["base"]):
            report("invalid", f"The resource type {base} is not listed as a base in the "
                   f"SearchParameter this is derived from ({derived_from})", expression)


def _branches(text: str) -> list[str]:
    """The top-level ``|`` branches of a FHIRPath expression (not inside brackets or quotes)."""
    branches, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(text[start:index].strip())
            start = index + 1
    branches.append(text[start:].strip())
    return branches


def _capability_statement(cs: Mapping, expression: str, report: Report, model: Model) -> None:
    rests = cs.get("rest")
    for r, rest in enumerate(rests if isinstance(rests, list) else ()):
        if not isinstance(rest, dict):
            continue
        _search_params(rest, f"{expression}.rest[{r}]", report)
        resources = rest.get("resource")
        for i, resource in enumerate(resources if isinstance(resources, list) else ()):
            if isinstance(resource, dict):
                _search_params(resource, f"{expression}.rest[{r}].resource[{i}]", report)


def _search_params(holder: Mapping, expression: str, report: Report) -> None:
    params = holder.get("searchParam")
    for index, param in enumerate(params if isinstance(params, list) else ()):
        if not isinstance(param, dict):
            continue
        definition = _known_parameter(param.get("definition"))
        kind = param.get("type")
        if definition is not None and isinstance(kind, str) and kind != definition["type"]:
            report("invalid", f"Type mismatch: the SearchParameter {param['definition']} has "
                   f"type {definition['type']}, but the type here is {kind}",
                   f"{expression}.searchParam[{index}]")


def _structure_definition(sd: Mapping, expression: str, report: Report, model: Model) -> None:
    differential = sd.get("differential")
    type_name = sd.get("type")
    if sd.get("derivation") != "constraint" or not isinstance(differential, dict) \
            or not isinstance(type_name, str) or type_name not in model.types:
        return  # a specialization or logical model defines its own paths
    elements = differential.get("element")
    for index, element in enumerate(elements if isinstance(elements, list) else ()):
        path = element.get("path") if isinstance(element, dict) else None
        if not isinstance(path, str):
            continue
        problem = _path_problem(path, type_name, model)
        if problem is not None:
            report("structure", problem, f"{expression}.differential.element[{index}].path")


def _path_problem(path: str, type_name: str, model: Model) -> str | None:
    """Why ``path`` is not an element of ``type_name``, or None."""
    segments = path.split(".")
    if segments[0] != type_name:
        return f"The path {show(path)} must start with {type_name}, the type constrained"
    node: TypeNode | None = model.types[type_name]
    walked = type_name
    for segment in segments[1:]:
        if node is None:
            return None  # inside a resource or a choice of several types: not followed
        element = node.elements.get(segment)
        if element is not None:
            variants = element.variants
        else:
            prop = node.props.get(segment)
            if prop is None or prop.sibling or not prop.element.choice:
                choice = next((e for e in node.choices if segment.startswith(e.base_name)),
                              None)
                if choice is not None:
                    return (f"The path must be '{walked}.{choice.name}' not '{walked}.{segment}' "
                            f"when the type list is not constrained")
                return f"The path {show(path)} names no element of {type_name} ({segment})"
            variants = (prop,)
        walked = f"{walked}.{segment}"
        node = _child_node(variants, model)
    return None


def _child_node(variants: tuple, model: Model) -> TypeNode | None:
    if len(variants) != 1:
        return None
    prop = variants[0]
    if prop.kind is Kind.PRIMITIVE:
        return model.element_node  # a primitive's children are Element's: id, extension
    if prop.kind is Kind.RESOURCE:
        return None
    return prop.node


_RULES: dict[str, Callable[[Mapping, str, Report, Model], None]] = {
    "SearchParameter": _search_parameter,
    "CapabilityStatement": _capability_statement,
    "StructureDefinition": _structure_definition,
}

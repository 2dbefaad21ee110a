"""Validate a resource's JSON against the base R4 model in one walk.

Checks structure (unknown elements, arrays vs single values, nulls and empties), cardinality,
choice types, primitive formats, required bindings, Reference targets, and the structural R4
invariants (ele-1, ext-1; ref-1 and dom-2 to dom-5 through ``contained``). Expressions follow
the official validator: ``CarePlan.activity[0].detail.status``, an index on every array item, and
the JSON property name for a choice (``Extension.valueString``); a missing element is located
where it would be.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import lru_cache

from . import base_invariants
from .bundle_rules import check_bundle
from .contained import ContainedScope, check_contained_resource
from .definition_rules import check_definitional
from .definitions import core_extensions, structure_definitions
from .issues import ValidationIssue
from .model import ElementDef, Kind, Model, Prop, TypeNode
from .primitives import a_json_type, show
from .references import reference_target
from .terminology import Terminology, code_problem, codeable_concept_problem, coding_problem

# Where HL7's own 4.0.1 definitions use a core extension outside its declared context (the
# snapshots put structuredefinition-fhir-type on ElementDefinition.type): accepted there too,
# as HL7's validator does.
CONTEXT_EXCEPTIONS = {
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type":
        ("ElementDefinition.type",),
}
# Primitive types whose "#id" value names a contained resource (R4 dom-3).
LOCAL_URI_TYPES = frozenset({"canonical", "uri", "url"})
# Deeper than any real resource (a Bundle of CarePlans is ~15 levels); stops runaway recursion
# through Extension.extension, Consent.provision.provision and the like.
MAX_DEPTH = 64


# Extensions whose meaning the gateway knows besides R4's core ones: its own (its profiles and
# mappings) and those of the IGs it implements (DS4P inline security labels, read by the
# decision point). A sub-extension's relative URL is its parent's to define.
UNDERSTOOD_EXTENSIONS = (
    "http://fhir-care-gateway.example/", "https://fhir-care-gateway.example/",
    "http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label")


class Walker:
    """One validation run: walk once, then read ``issues`` and ``embedded``."""

    def __init__(self, model: Model, terminology: Terminology) -> None:
        self.model = model
        self.terminology = terminology
        self.issues: list[ValidationIssue] = []
        self.embedded: list[tuple[dict, str]] = []  # nested resources and their expressions
        self._scope: ContainedScope | None = None  # of the resource being walked
        self._root: dict | None = None  # the top-level resource (%resource of invariants)
        # What each object being walked is (its type, or backbone path, and the element that
        # holds it), innermost last: the context an extension on it is used in.
        self._holders: list[frozenset[str]] = []
        self._via: frozenset[str] = frozenset()
        self._extension = model.types["Extension"]

    def _error(self, code: str, diagnostics: str, expression: str) -> None:
        self.issues.append(ValidationIssue("error", code, diagnostics, expression))

    # Resources

    def resource(self, resource: object, expression: str | None, depth: int = 0,
                 contained_index: int | None = None) -> None:
        """Validate a resource; ``expression`` None means top level (named by its type)."""
        if not isinstance(resource, dict):
            self._error("structure", f"A resource must be a JSON object, not "
                        f"{a_json_type(resource)}", expression or "Resource")
            return
        resource_type = resource.get("resourceType")
        node = self._resource_node(resource_type, expression or "Resource")
        if node is None:
            return
        if expression is None:
            expression = node.name
            self._root = resource
        else:
            self.embedded.append((resource, expression))
        if contained_index is not None and self._scope is not None:
            # Local references inside a contained resource resolve against its container.
            check_contained_resource(resource, expression, self._error)
            outer, self._scope.current = self._scope.current, contained_index
            self._object(node, resource, expression, depth)
            self._scope.current = outer
            return
        outer_scope, self._scope = self._scope, ContainedScope(resource)
        self._object(node, resource, expression, depth)
        if node.name == "Bundle":
            check_bundle(resource, expression, self._error)
        check_definitional(resource, expression, self._error, self.model)
        self._scope.check_unreferenced(resource, expression, self._error)
        self._scope = outer_scope

    def _resource_node(self, resource_type: object, expression: str) -> TypeNode | None:
        if resource_type is None:
            self._error("structure", "The resource has no resourceType", expression)
        elif not isinstance(resource_type, str):
            self._error("structure", f"resourceType must be a string, not "
                        f"{a_json_type(resource_type)}", expression)
        elif resource_type in self.model.resources:
            return self.model.resources[resource_type]
        elif resource_type in self.model.all_resource_types:
            self._error("not-supported", f"Resource type {show(resource_type)} is not supported "
                        f"by this server", expression)
        else:
            self._error("not-supported", f"Unknown resource type {show(resource_type)}",
                        expression)
        return None

    # Objects

    def _object(self, node: TypeNode, obj: dict, expression: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self._error("too-costly", f"Content is nested more than {MAX_DEPTH} levels deep "
                        f"and was not validated further", expression)
            return
        if not obj:
            self._error("structure", "Empty objects are not allowed; an element must have a "
                        "value or children (ele-1)", expression)
            return
        self._holders.append(_with_ancestors(node.name) | self._via)
        self._via = frozenset()
        try:
            self._object_content(node, obj, expression, depth)
        finally:
            self._holders.pop()

    def _object_content(self, node: TypeNode, obj: dict, expression: str, depth: int) -> None:
        props = node.props
        choice_types: dict[ElementDef, str] | None = None
        for key, value in obj.items():
            prop = props.get(key)
            if prop is None:
                if not (node.is_resource and key == "resourceType"):
                    self._unknown(node, key, expression)
                continue
            element = prop.element
            if element.choice:
                if choice_types is None:
                    choice_types = {}
                first = choice_types.setdefault(element, prop.type_code)
                if first != prop.type_code:
                    self._error("structure", f"Only one type of {element.path} may be present, "
                                f"but both {element.base_name}{first[0].upper()}{first[1:]} and "
                                f"{prop.json_name} are", f"{expression}.{prop.json_name}")
                    continue
            if prop.sibling:
                self._sibling(prop, obj, value, f"{expression}.{prop.json_name}", depth)
            else:
                self._property(prop, obj, value, f"{expression}.{key}", depth)
        for element in node.required:
            if not any(name in obj for name in element.json_names):
                self._error("required", f"{element.path} is required (minimum cardinality "
                            f"{element.min}) but missing",
                            f"{expression}.{element.base_name}")
        if node.constraints:
            self._invariants(node.constraints, obj, node.name, expression)
        if node is self._extension:
            self._extension_rule(obj, expression)

    def _invariants(self, constraints: tuple, value: object, path: str, expression: str
                    ) -> None:
        """The R4 base invariants of ``value`` (an instance of ``path``)."""
        root = self._root if self._root is not None else value
        for invariant in base_invariants.invariants_of(constraints):
            verdict = base_invariants.check(invariant, value, root, path)
            if verdict is False:
                self.issues.append(ValidationIssue(
                    invariant.severity, "invariant", f"{invariant.key}: {invariant.human}",
                    expression))
            elif isinstance(verdict, str):
                self.issues.append(ValidationIssue(
                    "warning", "invariant",
                    f"{invariant.key} could not be evaluated here ({verdict})", expression))

    def _attachment(self, value: dict, expression: str) -> None:
        """Attachment.size is the number of bytes of the content: with the data inline, they
        must agree (R4 datatypes.html#Attachment)."""
        data, size = value.get("data"), value.get("size")
        if not isinstance(data, str) or type(size) is not int:
            return
        try:
            actual = len(base64.b64decode(data, validate=False))
        except (binascii.Error, ValueError):
            return  # the base64Binary check reports it
        if actual != size:
            self._error("value", f"Attachment.size is {size} but the data is {actual} bytes",
                        f"{expression}.size")

    def _unknown(self, node: TypeNode, key: object, expression: str) -> None:
        if not isinstance(key, str):
            self._error("structure", f"Property name {show(key)} is not a string", expression)
            return
        for element in node.choices:
            stem = element.base_name
            if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
                allowed = ", ".join(p.json_name for p in element.variants)
                self._error("structure", f"{show(key)} is not an allowed type for "
                            f"{element.path}; use one of: {allowed}", f"{expression}.{key}")
                return
        self._error("structure", f"Unknown element {show(key)} in {node.name}",
                    f"{expression}.{key}")

    def _extension_rule(self, obj: dict, expression: str) -> None:
        has_value = any(key.startswith("value") for key in obj if isinstance(key, str))
        if has_value == ("extension" in obj):
            found = "both" if has_value else "neither"
            self._error("invariant", "ext-1: Must have either extensions or value[x], not both "
                        f"(this extension has {found})", expression)
        url = obj.get("url")
        definition = core_extensions().get(url) if isinstance(url, str) else None
        if definition is None and isinstance(url, str) and ":" in url \
                and not url.startswith(UNDERSTOOD_EXTENSIONS):
            # Accepted (agencies and IGs define their own), but not silently: its meaning is
            # not understood here, and nothing beyond its structure was checked.
            self.issues.append(ValidationIssue(
                "warning", "not-supported", f"The extension {show(url, 200)} is not one this "
                f"server knows (an R4 core extension or the gateway's own); only its structure "
                f"was checked", expression))
        if definition is None or len(self._holders) < 2:
            return  # not an extension the R4 specification defines: its definition is unknown
        holder = self._holders[-2]
        contexts = [*definition["contexts"], *CONTEXT_EXCEPTIONS.get(obj["url"], ())]
        if contexts and not any(context in holder or context == "Element"
                                for context in contexts):
            self._error("structure", f"The extension {obj['url']} may be used on "
                        f"{', '.join(contexts)} only, not here ({', '.join(sorted(holder))})",
                        expression)
        value_types = definition["value_types"]
        for key in obj:
            if isinstance(key, str) and key.startswith("value") and key != "value":
                found = key[5].lower() + key[6:]
                if found not in value_types:
                    allowed = ", ".join(value_types) or "none (a complex extension)"
                    self._error("structure", f"The extension {obj['url']} takes a value of "
                                f"type {allowed}, not {found}", f"{expression}.{key}")

    # Properties

    def _property(self, prop: Prop, obj: dict, value: object, expression: str,
                  depth: int) -> None:
        element = prop.element
        if element.max == 0:
            self._error("structure", f"{element.path} is not allowed here (maximum "
                        f"cardinality 0)", expression)
            return
        if not element.repeats:
            if isinstance(value, list):
                self._error("structure", f"{element.path} has maximum cardinality 1, so it "
                            f"must not be a JSON array", expression)
                return
            self._item(prop, value, expression, depth, None)
            return
        if not isinstance(value, list):
            self._error("structure", f"{element.path} repeats, so it must be a JSON array, "
                        f"not {a_json_type(value)}", expression)
            return
        if not value:
            self._error("structure", "Empty arrays are not allowed; omit the element instead",
                        expression)
            return
        if element.max is not None and len(value) > element.max:
            self._error("structure", f"{element.path} allows at most {element.max} items, "
                        f"found {len(value)}", expression)
        siblings = obj.get("_" + prop.json_name) if prop.kind is Kind.PRIMITIVE else None
        for index, item in enumerate(value):
            if item is None and isinstance(siblings, list) and index < len(siblings) \
                    and siblings[index] is not None:
                continue  # the item has only extensions, held at the same index of "_name"
            self._item(prop, item, f"{expression}[{index}]", depth, index)

    def _item(self, prop: Prop, value: object, expression: str, depth: int,
              index: int | None) -> None:
        if value is None:
            self._error("structure", "null is not allowed here; omit the element instead",
                        expression)
            return
        if prop.element.constraints:
            self._invariants(prop.element.constraints, value, prop.element.path, expression)
        kind = prop.kind
        if kind is Kind.PRIMITIVE:
            problem = prop.primitive.check(value)  # type: ignore[union-attr]
            if problem is not None:
                # An object or array where a primitive belongs is a shape error, not a bad value.
                code = "structure" if isinstance(value, dict | list) else "value"
                self._error(code, problem, expression)
            elif prop.element.binding is not None:
                expansion = self.terminology.get(prop.element.binding)
                if expansion is not None:
                    problem = code_problem(value, expansion)  # type: ignore[arg-type]
                    if problem is not None:
                        self._error("code-invalid", problem, expression)
            elif prop.type_code in LOCAL_URI_TYPES and isinstance(value, str) \
                    and value.startswith("#") and self._scope is not None:
                # dom-3: a canonical or uri "#id" refers to a contained resource as well.
                self._scope.referenced.add(value[1:])
            return
        if not isinstance(value, dict):
            self._error("structure", f"Expected a JSON object for {prop.type_code} but found "
                        f"{a_json_type(value)}", expression)
            return
        if kind is Kind.RESOURCE:
            contained = index if prop.element.name == "contained" else None
            self.resource(value, expression, depth + 1, contained)
            return
        if len(value) == 1 and "id" in value:
            self._error("structure", "An element must have a value or children, not only an "
                        "id (ele-1)", expression)
        self._via = frozenset({prop.element.path})
        self._object(prop.node, value, expression, depth + 1)  # type: ignore[arg-type]
        type_code = prop.type_code
        if type_code == "Attachment":
            self._attachment(value, expression)
        if type_code == "Reference":
            self._reference(prop, value, expression)
        elif prop.element.binding is not None and type_code in ("Coding", "CodeableConcept"):
            self._binding(prop, value, expression)

    def _sibling(self, prop: Prop, obj: dict, value: object, expression: str,
                 depth: int) -> None:
        """The ``_name`` property: the id and extensions of a primitive (or of each item)."""
        if not prop.element.repeats:
            if isinstance(value, list):
                self._error("structure", f"_{prop.json_name} must be a JSON object, because "
                            f"{prop.element.path} does not repeat", expression)
            elif value is None:
                self._error("structure", "null is not allowed here; omit the element instead",
                            expression)
            else:
                self._via = frozenset({prop.element.path, prop.type_code})
                self._primitive_element(value, expression, depth)
            return
        if not isinstance(value, list):
            self._error("structure", f"_{prop.json_name} must be a JSON array, because "
                        f"{prop.element.path} repeats", expression)
            return
        values = obj.get(prop.json_name)
        if isinstance(values, list) and len(values) != len(value):
            self._error("structure", f"_{prop.json_name} has {len(value)} items but "
                        f"{prop.json_name} has {len(values)}; they must align", expression)
        for index, item in enumerate(value):
            if item is not None:
                self._via = frozenset({prop.element.path, prop.type_code})
                self._primitive_element(item, f"{expression}[{index}]", depth)
            elif not isinstance(values, list) or index >= len(values) or values[index] is None:
                self._error("structure", "null is only allowed where the matching value in "
                            f"{prop.json_name} is present", f"{expression}[{index}]")

    def _primitive_element(self, value: object, expression: str, depth: int) -> None:
        if not isinstance(value, dict):
            self._error("structure", f"Expected a JSON object with id or extension but found "
                        f"{a_json_type(value)}", expression)
            return
        self._object(self.model.element_node, value, expression, depth + 1)

    # Bindings and references

    def _binding(self, prop: Prop, value: Mapping, expression: str) -> None:
        expansion = self.terminology.get(prop.element.binding)  # type: ignore[arg-type]
        if expansion is None:
            return
        if prop.type_code == "Coding":
            problem = coding_problem(value, expansion)
        else:
            problem = codeable_concept_problem(value, expansion)
        if problem is not None:
            self._error("code-invalid", problem, expression)

    def _reference(self, prop: Prop, value: Mapping, expression: str) -> None:
        reference = value.get("reference")
        target: str | None = None
        if isinstance(reference, str) and reference:
            if reference.startswith("#"):
                target = (self._scope.resolve(reference, expression, self._error)
                          if self._scope is not None else None)
            else:
                target, problem = reference_target(reference, self.model.all_resource_types)
                if problem is not None:
                    self._error("value", problem, f"{expression}.reference")
        declared = value.get("type")
        if isinstance(declared, str) and declared in self.model.all_resource_types:
            if target is not None and target != declared:
                self._error("value", f"Reference.type {show(declared)} does not match the "
                            f"reference {show(reference)}", f"{expression}.type")
            target = target or declared
        if target is not None and prop.targets is not None and target not in prop.targets:
            self._error("structure", f"{prop.element.path} may not refer to a {target} "
                        f"(allowed: {', '.join(sorted(prop.targets))})", expression)


@lru_cache(maxsize=4096)
def _with_ancestors(name: str) -> frozenset[str]:
    """A type name with the types it specializes (Age -> Quantity -> Element), so an extension
    whose context is a base type may be used on its specializations; a backbone path as is."""
    structures = structure_definitions()
    names = {name}
    while name in structures:
        base = (structures[name].get("baseDefinition") or "").rsplit("/", 1)[-1]
        if not base or base in names:
            break
        names.add(base)
        name = base
    return frozenset(names)

"""Compile trimmed R4 StructureDefinition snapshots into per-type lookup trees.

Each complex type, resource and backbone element becomes a ``TypeNode`` whose ``props`` map every
JSON property name that may appear in it (``status``, ``valueQuantity``, ``_birthDate``) straight
to a ``Prop``, so validating an object costs one dict lookup per property. Nodes point at each
other (Identifier -> Reference -> Identifier), so they are plain slotted classes filled in by the
compiler and treated as immutable afterwards.
"""
from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from functools import lru_cache

from .definitions import structure_definitions, value_set_expansions
from .primitives import SYSTEM_PREFIX, PrimitiveType, compile_primitives

SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
RESOURCE_TYPES_VALUE_SET = "http://hl7.org/fhir/ValueSet/resource-types"
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"


class Kind(enum.Enum):
    PRIMITIVE = "primitive"
    COMPLEX = "complex"
    RESOURCE = "resource"


class ElementDef:
    """One element of a type: cardinality, binding and the JSON properties it appears as."""

    __slots__ = ("path", "name", "min", "max", "repeats", "choice", "binding", "json_names",
                 "variants", "summary", "constraints")

    def __init__(self, path: str, name: str, min_: int, max_: int | None, repeats: bool,
                 binding: str | None, summary: bool = False) -> None:
        self.path = path  # definition path, e.g. "CarePlan.activity.detail.status"
        self.name = name  # "status", or "value[x]" for a choice
        self.min = min_
        self.max = max_  # None when unbounded ("*")
        self.repeats = repeats  # represented as a JSON array
        self.choice = name.endswith("[x]")
        self.binding = binding  # URL of the required value set, if any
        self.json_names: tuple[str, ...] = ()  # every property name incl. "_" siblings
        self.variants: tuple[Prop, ...] = ()  # one per allowed type, siblings excluded
        self.summary = summary  # isSummary: part of a _summary=true answer
        # Invariants of each value of this element, where it is not a backbone element (those
        # are its TypeNode's).
        self.constraints: tuple[Mapping, ...] = ()

    @property
    def base_name(self) -> str:
        """The name without ``[x]``: the stem of a choice element's property names."""
        return self.name[:-3] if self.choice else self.name

    def __repr__(self) -> str:
        return f"ElementDef({self.path})"


class Prop:
    """One JSON property name: its element, the type it carries, and how to check the value."""

    __slots__ = ("element", "json_name", "type_code", "kind", "node", "primitive", "targets",
                 "sibling")

    def __init__(self, element: ElementDef, json_name: str, type_code: str, kind: Kind,
                 primitive: PrimitiveType | None = None,
                 targets: frozenset[str] | None = None, sibling: bool = False) -> None:
        self.element = element
        self.json_name = json_name
        self.type_code = type_code
        self.kind = kind
        self.node: TypeNode | None = None  # children of a complex value, linked after compiling
        self.primitive = primitive
        self.targets = targets  # allowed Reference target types; None = any
        self.sibling = sibling  # the "_name" property holding a primitive's id and extensions

    def __repr__(self) -> str:
        return f"Prop({self.element.path}:{self.json_name})"


class TypeNode:
    """The allowed content of one JSON object: a data type, resource or backbone element."""

    __slots__ = ("name", "props", "elements", "required", "choices", "is_resource",
                 "constraints")

    def __init__(self, name: str, is_resource: bool = False) -> None:
        self.name = name  # type name or backbone path, e.g. "Period", "CarePlan.activity"
        # The invariants (ElementDefinition.constraint) of every object of this shape.
        self.constraints: tuple[Mapping, ...] = ()
        self.props: dict[str, Prop] = {}
        self.elements: dict[str, ElementDef] = {}  # by element name, "value[x]" for choices
        self.required: tuple[ElementDef, ...] = ()
        self.choices: tuple[ElementDef, ...] = ()
        self.is_resource = is_resource

    def __repr__(self) -> str:
        return f"TypeNode({self.name})"


class Model:
    """Every compiled type of the supported R4 subset, keyed by type name."""

    __slots__ = ("types", "resources", "primitives", "element_node", "all_resource_types")

    def __init__(self, types: dict[str, TypeNode], resources: dict[str, TypeNode],
                 primitives: dict[str, PrimitiveType], all_resource_types: frozenset[str]) -> None:
        self.types = types  # complex data types and resources
        self.resources = resources  # the concrete resource types this gateway validates
        self.primitives = primitives
        self.element_node = types["Element"]  # the shape of a primitive's "_name" sibling
        self.all_resource_types = all_resource_types  # every R4 resource type name


def _parse_max(value: str) -> int | None:
    return None if value == "*" else int(value)


def _type_code(type_: Mapping, is_resource_id: bool) -> str:
    code = type_.get("code", "")
    if not code.startswith(SYSTEM_PREFIX):
        return code
    if is_resource_id:
        # 4.0.1 types Resource.id as System.String, but the spec defines it as an ``id``.
        return "id"
    for extension in type_.get("extension", []):
        if extension.get("url") == FHIR_TYPE_EXTENSION:
            return extension["valueUrl"]
    return "string"


def _targets(type_: Mapping) -> frozenset[str] | None:
    names = {url.rsplit("/", 1)[-1] for url in type_.get("targetProfile", [])
             if url.startswith(SD_PREFIX)}
    if not names or "Resource" in names:
        return None
    return frozenset(names)


def _required_binding(element: Mapping) -> str | None:
    binding = element.get("binding") or {}
    if binding.get("strength") != "required" or not binding.get("valueSet"):
        return None
    return binding["valueSet"].split("|")[0]


class _Compiler:
    """Builds the TypeNodes of all structures; one use per model."""

    def __init__(self, structures: Mapping[str, Mapping],
                 primitives: dict[str, PrimitiveType]) -> None:
        self.structures = structures
        self.primitives = primitives
        self.types: dict[str, TypeNode] = {}
        self.links: list[tuple[Prop, str]] = []  # (prop, type name) to link once all exist
        self.content_links: list[tuple[Prop, dict[str, TypeNode], str]] = []

    def compile(self) -> dict[str, TypeNode]:
        compiled = [(name, sd) for name, sd in self.structures.items()
                    if sd["kind"] in ("complex-type", "resource")]
        for name, sd in compiled:  # shells first: types refer to each other
            self.types[name] = TypeNode(name, is_resource=sd["kind"] == "resource")
        for name, sd in compiled:
            self._structure(self.types[name], sd)
        for prop, type_name in self.links:
            prop.node = self.types[type_name]
        for prop, by_path, path in self.content_links:
            prop.node = by_path[path]
        return self.types

    def _structure(self, root: TypeNode, sd: Mapping) -> None:
        elements = [e for e in sd["elements"] if "sliceName" not in e]
        children: dict[str, list[Mapping]] = defaultdict(list)
        for element in elements[1:]:
            children[element["path"].rpartition(".")[0]].append(element)
        by_path: dict[str, TypeNode] = {elements[0]["path"]: root}
        root.constraints = tuple(elements[0].get("constraint", ()))
        self._fill(root, elements[0]["path"], children, by_path, sd["kind"] == "resource")

    def _fill(self, node: TypeNode, path: str, children: Mapping[str, list[Mapping]],
              by_path: dict[str, TypeNode], is_resource_root: bool) -> None:
        for element in children.get(path, []):
            name = element["path"].rpartition(".")[2]
            max_ = _parse_max(element["max"])
            definition = ElementDef(
                path=element["path"], name=name, min_=element["min"], max_=max_,
                repeats=element["max"] not in ("0", "1"), binding=_required_binding(element),
                summary=bool(element.get("isSummary")))
            node.elements[name] = definition
            inline = None
            if element["path"] in children:  # a backbone element defined in place
                inline = TypeNode(element["path"])
                inline.constraints = tuple(element.get("constraint", ()))
                by_path[element["path"]] = inline
                self._fill(inline, element["path"], children, by_path, False)
            else:
                definition.constraints = tuple(element.get("constraint", ()))
            self._props(node, definition, element, inline, by_path,
                        is_resource_id=is_resource_root and name == "id")
        node.required = tuple(e for e in node.elements.values() if e.min > 0)
        node.choices = tuple(e for e in node.elements.values() if e.choice)

    def _props(self, node: TypeNode, definition: ElementDef, element: Mapping,
               inline: TypeNode | None, by_path: dict[str, TypeNode],
               is_resource_id: bool) -> None:
        variants: list[Prop] = []
        names: list[str] = []
        if "contentReference" in element:  # e.g. Bundle.entry.link -> #Bundle.link
            prop = Prop(definition, definition.name, "BackboneElement", Kind.COMPLEX)
            self.content_links.append((prop, by_path, element["contentReference"].lstrip("#")))
            variants.append(prop)
        for type_ in element.get("type", []):
            system_typed = type_.get("code", "").startswith(SYSTEM_PREFIX)
            code = _type_code(type_, is_resource_id)
            json_name = definition.base_name + (code[0].upper() + code[1:]
                                                if definition.choice else "")
            if code in self.primitives:
                variants.append(Prop(definition, json_name, code, Kind.PRIMITIVE,
                                     primitive=self.primitives[code]))
                # Element.id and Extension.url are XML attributes: they cannot carry extensions.
                if not system_typed or is_resource_id:
                    sibling = Prop(definition, json_name, code, Kind.COMPLEX, sibling=True)
                    self.links.append((sibling, "Element"))
                    node.props["_" + json_name] = sibling
                    names.append("_" + json_name)
            elif code == "Resource" or self.structures.get(code, {}).get("kind") == "resource":
                variants.append(Prop(definition, json_name, code, Kind.RESOURCE))
            else:
                prop = Prop(definition, json_name, code, Kind.COMPLEX, targets=_targets(type_))
                if inline is not None:
                    prop.node = inline
                else:
                    profiled = [url.rsplit("/", 1)[-1] for url in type_.get("profile", [])]
                    # A profiled type (Range.low is a SimpleQuantity) is checked by its profile.
                    target = next((p for p in profiled if p in self.structures), code)
                    self.links.append((prop, target))
                variants.append(prop)
        for prop in variants:
            node.props[prop.json_name] = prop
            names.append(prop.json_name)
        definition.variants = tuple(variants)
        definition.json_names = tuple(names)


def compile_model(structures: Mapping[str, Mapping],
                  all_resource_types: frozenset[str]) -> Model:
    """Compile StructureDefinitions (as in structure-definitions.json) into a Model."""
    primitives = compile_primitives(structures)
    types = _Compiler(structures, primitives).compile()
    resources = {name: node for name, node in types.items()
                 if node.is_resource and not structures[name].get("abstract")}
    return Model(types, resources, primitives, all_resource_types)


@lru_cache(maxsize=1)
def base_model() -> Model:
    """The compiled model of the generated R4 definitions, built once per process."""
    expansion = value_set_expansions().get(RESOURCE_TYPES_VALUE_SET) or {}
    return compile_model(structure_definitions(),
                         frozenset(expansion.get(RESOURCE_TYPES_SYSTEM, ())))

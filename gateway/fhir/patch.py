"""The two bodies of FHIR's ``PATCH`` (R4 http.html#patch): what a patch does to a resource.

- **JSON Patch** (RFC 6902, ``application/json-patch+json``), applied by the ``jsonpatch``
  library; a failed ``test`` operation or a path that is not there is a 422.
- **FHIRPath Patch** (R4 fhirpatch.html, a ``Parameters`` resource): each ``operation``
  parameter has a ``type`` (add, insert, delete, replace, move), a FHIRPath ``path`` and, as
  the type needs, ``name``, ``value`` (a ``value[x]``, or parts for a complex value), ``index``,
  ``source`` and ``destination``. Paths are evaluated with fhirpathpy. The specification's
  rules are kept: a path must select exactly one element (for delete: at most one, none is no
  error), ``insert`` and ``move`` work on a list, ``add`` adds a named child to the element.

- **JSON Merge Patch** (RFC 7386, ``application/merge-patch+json``), and a JSON object that is
  not a Parameters sent as FHIR JSON: a partial resource whose elements replace the stored
  ones (``null`` removes one). R4 does not define it; clients such as fhirpy send their patches
  this way, and it means only one thing, so it is taken rather than refused.

All are pure functions from (resource, patch) to the patched resource; the repository stores
the result as an update, validated like any other (gateway/fhir/repository.py).
"""
from __future__ import annotations

import copy
import re
from typing import Any

import jsonpatch
from fhirpathpy import evaluate

from gateway.fhir.errors import FhirError
from gateway.fhir.validation.model import base_model

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
OPERATION_TYPES = ("add", "insert", "delete", "replace", "move")
# Where each dict of the working copy is, so a FHIRPath result can be found again (fhirpathpy
# returns copies, not the objects themselves).
_LOCATION = "\x00location"
# A path whose last step is a plain element name, optionally indexed: Patient.name[0].given
_LAST_STEP = re.compile(r"^(?P<parent>.+)\.(?P<name>[A-Za-z][A-Za-z0-9_]*)"
                        r"(?:\[(?P<index>\d+)\])?$")

Location = tuple[str | int, ...]


def apply_json_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    """``resource`` with the RFC 6902 ``operations`` applied (a 400/422 FhirError if not)."""
    if not isinstance(operations, list):
        raise FhirError(400, "invalid", "a JSON Patch body is an array of operations")
    try:
        patched = jsonpatch.JsonPatch(operations).apply(resource)
    except jsonpatch.InvalidJsonPatch as error:
        raise FhirError(400, "invalid", f"the JSON Patch is not valid: {error}") from None
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPatchTestFailed,
            jsonpatch.JsonPointerException) as error:
        raise FhirError(422, "processing", f"the JSON Patch cannot be applied: {error}") from None
    if not isinstance(patched, dict):
        raise FhirError(422, "processing", "the JSON Patch replaced the whole resource")
    return patched


def apply_merge_patch(resource: dict[str, Any], patch: Any) -> dict[str, Any]:
    """``resource`` with the RFC 7386 merge ``patch`` applied."""
    if not isinstance(patch, dict):
        raise FhirError(400, "invalid", "a merge patch is a JSON object")
    return _merged(resource, patch)


def _merged(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


def apply_fhirpath_patch(resource: dict[str, Any], parameters: Any) -> dict[str, Any]:
    """``resource`` with the FHIRPath Patch ``parameters`` applied, operation by operation."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise FhirError(400, "invalid", "a FHIRPath Patch body is a Parameters resource",
                        "Parameters")
    result = copy.deepcopy(resource)
    for index, parameter in enumerate(parameters.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, dict) or parameter.get("name") != "operation":
            raise FhirError(400, "invalid", "every parameter of a FHIRPath Patch is an "
                                            "'operation'", where)
        _apply(result, _operation(parameter, where), where)
    return result


def _operation(parameter: dict[str, Any], where: str) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    for part in parameter.get("part") or []:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise FhirError(400, "invalid", "an operation's parts need names", f"{where}.part")
        name = part["name"]
        if name == "value":
            parts["value"] = _value_of(part, where)
        else:
            values = [v for k, v in part.items() if k.startswith("value")]
            parts[name] = values[0] if values else None
    kind = parts.get("type")
    if kind not in OPERATION_TYPES:
        raise FhirError(400, "invalid", f"operation type {kind!r} is not one of "
                                        f"{', '.join(OPERATION_TYPES)}", f"{where}.part")
    if not isinstance(parts.get("path"), str):
        raise FhirError(400, "required", "an operation needs a path", f"{where}.part")
    return parts


def _value_of(part: dict[str, Any], where: str) -> Any:
    """A value part: its ``value[x]``, or the complex value its own parts make up."""
    values = [v for k, v in part.items() if k.startswith("value") and k != "value"]
    if values:
        return values[0]
    if "resource" in part:
        return part["resource"]
    if part.get("part"):
        return {p["name"]: _value_of(p, where) for p in part["part"]
                if isinstance(p, dict) and isinstance(p.get("name"), str)}
    raise FhirError(400, "required", "a value part carries no value", f"{where}.part")


def _apply(resource: dict[str, Any], operation: dict[str, Any], where: str) -> None:
    kind, path = operation["type"], operation["path"]
    if kind == "delete":
        found = _find(resource, path, where)
        if len(found) > 1:
            raise _error(f"delete: {path!r} selects {len(found)} elements; it must select one",
                         where)
        if found:
            _remove(resource, found[0])
        return
    if kind == "add":
        name = operation.get("name")
        if not isinstance(name, str) or "value" not in operation:
            raise FhirError(400, "required", "add needs a name and a value", where)
        location = _one(resource, path, where)
        target = _get(resource, location)
        if not isinstance(target, dict):
            raise _error(f"add: {path!r} is not an element that can have children", where)
        if isinstance(target.get(name), list):
            target[name].append(operation["value"])
        elif name in target:
            raise _error(f"add: {path!r} already has a {name!r}", where)
        else:
            value = operation["value"]
            target[name] = [value] if _repeats(resource, location, name) else value
        return
    if kind == "replace":
        if "value" not in operation:
            raise FhirError(400, "required", "replace needs a value", where)
        _set(resource, _one(resource, path, where), operation["value"])
        return
    target = _get(resource, _one(resource, path, where, collection=True))
    if not isinstance(target, list):
        raise _error(f"{kind}: {path!r} is not a list", where)
    if kind == "insert":
        index = operation.get("index")
        if not isinstance(index, int) or not 0 <= index <= len(target):
            raise _error(f"insert: index {index!r} is outside the list (0..{len(target)})",
                         where)
        target.insert(index, operation.get("value"))
        return
    source, destination = operation.get("source"), operation.get("destination")
    if not (isinstance(source, int) and isinstance(destination, int)
            and 0 <= source < len(target) and 0 <= destination < len(target)):
        raise _error(f"move: source {source!r} or destination {destination!r} is outside "
                     f"the list", where)
    target.insert(destination, target.pop(source))


def _one(resource: dict[str, Any], path: str, where: str, *, collection: bool = False
         ) -> Location:
    found = _find(resource, path, where, collection=collection)
    if len(found) != 1:
        raise _error(f"{path!r} selects {len(found)} elements; it must select exactly one",
                     where)
    return found[0]


def _find(resource: dict[str, Any], path: str, where: str, *, collection: bool = False
          ) -> list[Location]:
    """Where the elements ``path`` selects are (``collection``: the list itself)."""
    step = _LAST_STEP.match(path)
    if step is not None:
        # Name the element through its parent: FHIRPath returns primitives as bare values.
        parents = _evaluate_marked(resource, step["parent"], where)
        name, index = step["name"], step["index"]
        found: list[Location] = []
        for parent in parents:
            value = _get(resource, parent).get(name) if isinstance(_get(resource, parent),
                                                                     dict) else None
            if value is None:
                continue
            if index is not None:
                if isinstance(value, list) and int(index) < len(value):
                    found.append((*parent, name, int(index)))
            elif isinstance(value, list) and not collection:
                found += [(*parent, name, i) for i in range(len(value))]
            else:
                found.append((*parent, name))
        return found
    return _evaluate_marked(resource, path, where)


def _evaluate_marked(resource: dict[str, Any], path: str, where: str) -> list[Location]:
    try:
        results = evaluate(_marked(resource, ()), path)
    except Exception as error:  # noqa: BLE001 - fhirpathpy raises many kinds for a bad path
        raise FhirError(400, "invalid", f"the path {path!r} is not valid FHIRPath: {error}",
                        where) from None
    locations = []
    for item in results:
        if not isinstance(item, dict) or _LOCATION not in item:
            raise _error(f"{path!r} selects a value that is not an element of the resource",
                         where)
        locations.append(tuple(item[_LOCATION]))
    return locations


def _repeats(resource: dict[str, Any], location: Location, name: str) -> bool:
    """Whether element ``name`` of the element at ``location`` repeats (an array in JSON), by
    the R4 definitions; an element they do not know is taken as single."""
    node = base_model().types.get(str(resource.get("resourceType")))
    for step in location:
        if isinstance(step, int):
            continue
        prop = node.props.get(step) if node is not None else None
        node = prop.node if prop is not None else None
    prop = node.props.get(name) if node is not None else None
    return prop is not None and prop.element.repeats


def _marked(node: Any, location: Location) -> Any:
    if isinstance(node, dict):
        marked = {key: _marked(value, (*location, key)) for key, value in node.items()}
        marked[_LOCATION] = list(location)
        return marked
    if isinstance(node, list):
        return [_marked(item, (*location, index)) for index, item in enumerate(node)]
    return node


def _get(resource: Any, location: Location) -> Any:
    node = resource
    for step in location:
        node = node[step]
    return node


def _set(resource: dict[str, Any], location: Location, value: Any) -> None:
    if not location:
        raise FhirError(422, "processing", "a patch cannot replace the whole resource")
    _get(resource, location[:-1])[location[-1]] = value


def _remove(resource: dict[str, Any], location: Location) -> None:
    if not location:
        raise FhirError(422, "processing", "a patch cannot delete the whole resource")
    parent = _get(resource, location[:-1])
    del parent[location[-1]]
    # An emptied list goes with its element: FHIR JSON has no empty arrays.
    if isinstance(parent, list) and not parent and len(location) >= 2:
        _remove(resource, location[:-1])


def _error(message: str, where: str) -> FhirError:
    return FhirError(422, "processing", f"FHIRPath Patch: {message}", where)

"""The one error a mapping raises for a record it cannot map."""
from __future__ import annotations


class MappingError(ValueError):
    """A record (or FHIR resource, inbound) that cannot be mapped, at a field path such as
    ``services[2].service``, the same path style as ``record_problems``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def at(prefix: str, path: str) -> str:
    """Join field paths: ``at("services[0]", "service")`` is ``services[0].service``."""
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"

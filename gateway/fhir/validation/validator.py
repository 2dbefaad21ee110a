"""The validator used by the REST API, ``$validate`` and the ``gateway validate`` CLI."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from gateway.config import Config

from .conformance import check_profile
from .definitions import value_set_expansions
from .issues import ValidationIssue
from .issues import has_errors as _has_errors
from .model import base_model
from .primitives import show
from .profiles import ProfileSet, load_profiles
from .terminology import Terminology
from .walker import Walker

log = logging.getLogger(__name__)


def default_profiles_dir() -> Path:
    """The repository's ``profiles/`` directory (``Config.profiles_dir``)."""
    return Config().profiles_dir  # Config: the one place that knows where the project lives


class Validator:
    """Validates resources (parsed JSON) against base R4 and our profiles.

    Construction compiles the base definitions (shared, once per process) and loads the profiles;
    ``validate`` is then safe to call from many threads.
    """

    def __init__(self, profiles_dir: Path | None = None) -> None:
        """Load ``profiles_dir/*.json`` (default: the project's ``profiles/``, if present).

        Raises ProfileError for a profile that cannot be used and FileNotFoundError for an
        explicitly given directory that does not exist.
        """
        self._model = base_model()
        terminology = Terminology(value_set_expansions())
        if profiles_dir is None:
            profiles_dir = default_profiles_dir()
            if not profiles_dir.is_dir():
                profiles_dir = None
        elif not profiles_dir.is_dir():
            raise FileNotFoundError(f"profiles directory {profiles_dir} does not exist")
        self._profiles = (load_profiles(profiles_dir, self._model, terminology)
                          if profiles_dir is not None else ProfileSet({}, terminology))
        self._terminology = self._profiles.terminology

    def known_profiles(self) -> list[str]:
        """Canonical URLs of the profiles this validator can apply."""
        return sorted(self._profiles.profiles)

    @staticmethod
    def has_errors(issues: Sequence[ValidationIssue]) -> bool:
        """Whether any issue is an error or fatal."""
        return _has_errors(issues)

    def validate(self, resource: object, *, expected_type: str | None = None,
                 profiles: Sequence[str] = ()) -> list[ValidationIssue]:
        """Every problem with ``resource``; never raises.

        Applies base R4, then the known profiles in ``meta.profile`` (unknown ones: a warning)
        and those in ``profiles`` (unknown ones: an error). Nested resources (contained, Bundle
        entries, Parameters) are checked against their own ``meta.profile`` too.
        """
        try:
            return self._validate(resource, expected_type,
                                  (profiles,) if isinstance(profiles, str) else tuple(profiles))
        except Exception:  # the last line of defence: a validator bug must not become a 500
            log.exception("validator failed")
            return [ValidationIssue("fatal", "exception", "The validator failed unexpectedly; "
                                    "the resource could not be validated", "")]

    def _validate(self, resource: object, expected_type: str | None,
                  requested: tuple[str, ...]) -> list[ValidationIssue]:
        walker = Walker(self._model, self._terminology)
        walker.resource(resource, None)
        issues = walker.issues
        if not isinstance(resource, dict):
            return issues  # already the single "not an object" error
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in self._model.resources:
            return issues  # already the single resourceType error
        if expected_type is not None and resource_type != expected_type:
            issues.insert(0, ValidationIssue(
                "error", "invalid", f"Expected a {expected_type} resource but got a "
                f"{resource_type}", resource_type))
        issues.extend(self._profile_issues(resource, resource_type, requested))
        for nested, expression in walker.embedded:
            if nested.get("resourceType") in self._model.resources:
                issues.extend(self._profile_issues(nested, expression, ()))
        return issues

    def _profile_issues(self, resource: dict, expression: str,
                        requested: tuple[str, ...]) -> list[ValidationIssue]:
        issues: list[ValidationIssue] = []
        known = self._profiles.profiles
        urls: list[str] = []
        meta = resource.get("meta")
        declared = meta.get("profile") if isinstance(meta, dict) else None
        for index, url in enumerate(declared if isinstance(declared, list) else ()):
            if not isinstance(url, str):
                continue  # the base walk reported it
            if url.split("|")[0] in known:
                urls.append(url.split("|")[0])
            else:
                issues.append(ValidationIssue(
                    "warning", "not-supported", f"Profile {show(url, 200)} is not known to "
                    f"this server; only the base specification and known profiles were checked",
                    f"{expression}.meta.profile[{index}]"))
        for url in requested:
            if isinstance(url, str) and url.split("|")[0] in known:
                urls.append(url.split("|")[0])
            else:
                issues.append(ValidationIssue(
                    "error", "not-supported", f"Unknown profile {show(url, 200)}; known "
                    f"profiles: {', '.join(sorted(known)) or 'none'}", expression))
        for url in dict.fromkeys(urls):  # each profile once, in order
            profile = known[url]
            if profile.type != resource["resourceType"]:
                issues.append(ValidationIssue(
                    "error", "invalid", f"Profile {url} applies to {profile.type} resources, "
                    f"not {resource['resourceType']}", expression))
                continue
            issues.extend(check_profile(profile, resource, expression, self._model))
        return issues

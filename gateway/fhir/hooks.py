"""Named points in the repository's write path, where the domain plugs in.

The storage core calls these hooks and imports none of them (as HAPI FHIR's interceptors and
Medplum's repository events work): the app factory registers the domain's hooks on the app's
``RepositoryHooks`` when the app is built (gateway/app.py), and every repository of that app
runs them.

- ``before_transaction(requester, bundle)``: a ``transaction`` Bundle is about to be parsed
  and its entries authorized; a hook returns the Bundle to process instead (the referral
  workflow turns the Patient a hospital sends with its referral into the Task's contained
  match probe, so that the hospital's Patient is matched, never stored as sent).
- ``before_write(repository, resource_type, previous, resource)``: a create or update is about
  to be validated and stored; ``previous`` is the current version's JSON text (None: there is
  none). A hook refuses the write by raising FhirError (the referral Task's state machine).
- ``stored(repository, changes)``: versions were written, in the writer's transaction (the
  transactional outbox, the audit chain, what a partner submitted). A single write passes one
  change, the bulk import a chunk's worth.
- ``before_commit(repository)``: the transaction's writes are done and it is about to commit
  (held rows are written here). Hooks run in ``order``: the audit chain's runs last, so its
  lock is held only until the commit.
- ``after_commit(repository)``: the transaction committed (the workflows that take in what a
  partner submitted).

A hook that keeps state for one transaction keeps it in ``repository.extensions``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Change:
    """One new version: its content (None: deleted), the version before it (its JSON text;
    None when there was none or it was a deletion), and whether this created the resource."""

    resource_type: str
    id: str
    content: dict[str, Any] | None
    previous: str | None
    last_updated: datetime
    created: bool


# Each hook's first argument is the Repository (typed Any here: repository.py imports this
# module, and a hook module annotates it as Repository itself).
BeforeWrite = Callable[[Any, str, "str | None", Any], None]
Stored = Callable[[Any, Sequence[Change]], None]
TransactionHook = Callable[[Any], None]
BeforeTransaction = Callable[[Any, dict[str, Any]], dict[str, Any]]


@dataclass
class RepositoryHooks:
    """The hooks one app's repositories run (built once, by the app factory)."""

    before_transaction: list[BeforeTransaction] = field(default_factory=list)
    before_write: list[BeforeWrite] = field(default_factory=list)
    stored: list[Stored] = field(default_factory=list)
    _before_commit: list[tuple[int, TransactionHook]] = field(default_factory=list)
    after_commit: list[TransactionHook] = field(default_factory=list)

    def on_before_commit(self, hook: TransactionHook, *, order: int = 0) -> None:
        """Run ``hook`` before each commit; lower ``order`` first."""
        self._before_commit.append((order, hook))
        self._before_commit.sort(key=lambda item: item[0])

    @property
    def before_commit(self) -> list[TransactionHook]:
        return [hook for _, hook in self._before_commit]

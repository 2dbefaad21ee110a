"""What partners create here, taken in once their write has committed (a hook of the
repository that the app factory registers: ``register``), by partner kind. Court and probation
orders go to court_orders.py; hospitals' referrals (a Task with its ServiceRequest) to
hospital_referrals.py. A failure is logged and leaves the submission as it was stored (an
operator finds it in the queue of received orders): the partner's write stands."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from gateway.auth import Principal
from gateway.fhir.hooks import Change, RepositoryHooks
from gateway.fhir.repository import Repository
from gateway.partners.registry import PartnerRegistry
from gateway.state import GatewayState
from gateway.workflows import court_orders, hospital_referrals

log = logging.getLogger(__name__)
# Where a repository keeps what its partner created in the transaction.
SUBMITTED = "submitted"


def register(hooks: RepositoryHooks, state: GatewayState) -> None:
    """Collect what a partner creates in a transaction; take it in once it has committed."""
    hooks.stored.append(_collect_submitted)
    hooks.after_commit.append(lambda repository: _take_in_submitted(state, repository))


def _collect_submitted(repository: Repository, changes: Sequence[Change]) -> None:
    if repository.access.requester.is_operator:
        return
    submitted = repository.extensions.setdefault(SUBMITTED, [])
    submitted += [change.content for change in changes
                  if change.created and change.content is not None]


def _take_in_submitted(state: GatewayState, repository: Repository) -> None:
    submitted = repository.extensions.get(SUBMITTED)
    if submitted:
        take_in(state, cast(Principal, repository.access.requester), submitted)


def take_in(state: GatewayState, requester: Principal, submitted: list[dict[str, Any]]) -> None:
    with state.session_factory() as session:
        partner = PartnerRegistry(session).get(requester.name)
    if partner is None:
        return
    try:
        if partner.kind == "court":
            court_orders.receive(state, partner, submitted)
        elif partner.kind == "hospital":
            hospital_referrals.receive(state, partner, submitted)
    except Exception:  # noqa: BLE001 - the partner's write committed; see the module docstring
        log.exception("taking in what partner %s submitted failed", partner.id)

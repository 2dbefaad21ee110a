"""What partners create here, taken in once their write has committed
(GatewayState.writing), by partner kind. Court and probation orders go to court_orders.py;
hospitals' referrals (a Task with its ServiceRequest) to hospital_referrals.py. A failure is
logged and leaves the submission as it was stored (an operator finds it in the queue of
received orders): the partner's write stands."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateway.auth import Principal
from gateway.partners.registry import PartnerRegistry

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)


def take_in(state: GatewayState, requester: Principal, submitted: list[dict[str, Any]]) -> None:
    from gateway.workflows import court_orders, hospital_referrals

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

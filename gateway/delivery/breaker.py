"""A circuit breaker per partner: stop hammering a partner that is down, and probe it.

Closed: sends go through. After ``threshold`` consecutive transient failures it opens: the
worker leaves that partner's deliveries queued (no attempt counted) until ``cooldown`` has
passed; then one probe is let through (half-open). A success closes it; a failure opens it
again for twice as long (up to ``max_cooldown``). Kept per worker process: each worker learns
on its own, within ``threshold`` sends, that a partner is down.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None
    cooldown: float = 0.0
    probing: bool = False


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown: float = 5.0, max_cooldown: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        self._partners: dict[str, _State] = {}

    def allows(self, partner_id: str) -> bool:
        """Whether a send to ``partner_id`` may go now (a half-open breaker allows one)."""
        state = self._partners.get(partner_id)
        if state is None or state.open_until is None:
            return True
        if self.clock() < state.open_until or state.probing:
            return False
        state.probing = True
        return True

    def open_partners(self) -> list[str]:
        """Partners whose deliveries should not even be claimed now."""
        now = self.clock()
        return [partner_id for partner_id, state in self._partners.items()
                if state.open_until is not None and (now < state.open_until or state.probing)]

    def succeeded(self, partner_id: str) -> None:
        self._partners.pop(partner_id, None)

    def failed(self, partner_id: str) -> None:
        """A transient failure (a permanent 4xx says the partner is up: not counted)."""
        state = self._partners.setdefault(partner_id, _State())
        state.failures += 1
        if state.open_until is not None:  # the probe failed
            state.cooldown = min(self.max_cooldown, state.cooldown * 2)
        elif state.failures >= self.threshold:
            state.cooldown = self.cooldown
        else:
            return
        state.open_until = self.clock() + state.cooldown
        state.probing = False

    def retry_at(self, partner_id: str) -> float | None:
        """When (on this breaker's clock) the partner may be tried again; None: now."""
        state = self._partners.get(partner_id)
        return state.open_until if state is not None else None

"""Fault injection for the stand-in partner: the failures and delays the tests queue, taken one
write request at a time, so a partner can fail, answer slowly or be down the way real ones are."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Misbehaviour queued by the tests; only write requests (POST/PUT) consume it."""

    fail_count: int = 0
    fail_status: int = 503
    fail_retry_after: str | None = None
    always_status: int | None = None
    always_retry_after: str | None = None
    delay_count: int = 0
    delay_seconds: float = 0.0

    def take(self) -> tuple[float, tuple[int, str | None] | None]:
        """Consume this request's share: ``(seconds to delay, (status, Retry-After) or None)``."""
        delay = 0.0
        if self.delay_count > 0:
            self.delay_count -= 1
            delay = self.delay_seconds
        if self.always_status is not None:
            return delay, (self.always_status, self.always_retry_after)
        if self.fail_count > 0:
            self.fail_count -= 1
            return delay, (self.fail_status, self.fail_retry_after)
        return delay, None

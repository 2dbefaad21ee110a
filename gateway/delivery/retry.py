"""What to do after a send: done, try again later (and when), or give up (dead letter).

Pure functions of the attempt's result, so the worker's policy reads in one place and is tested
without a network: timeouts, refused connections, 5xx, 408 and 429 are transient (retried with
exponential backoff and jitter, honouring ``Retry-After``); any other 4xx is permanent (the
partner will answer the same again: dead at once); after ``max_attempts`` an entry is dead
whatever the cause.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

TRANSIENT_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class SendResult:
    """How one send ended: an HTTP status (None when no answer came) and what went wrong."""

    status: int | None
    error: str | None = None
    retry_after: str | None = None  # the Retry-After header, as sent

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    base_seconds: float = 2.0
    cap_seconds: float = 15 * 60.0
    max_retry_after_seconds: float = 60 * 60.0

    def delay(self, attempts: int, result: SendResult, now: datetime,
              rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempts + 1``: the partner's Retry-After when it
        gave one (capped), else a random wait between half and all of an exponentially growing
        window (half at least, so retries never bunch up at zero)."""
        asked = retry_after_seconds(result.retry_after, now)
        if asked is not None:
            return min(asked, self.max_retry_after_seconds)
        window = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return (rng or random).uniform(window / 2, window)

    def gives_up(self, attempts: int, result: SendResult) -> bool:
        """Whether an entry that has now failed ``attempts`` times is dead."""
        return not result.transient or attempts >= self.max_attempts


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())

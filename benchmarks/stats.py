"""Latency summaries."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencySummary:
    """Seconds; ``count`` samples."""

    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(samples: Sequence[float]) -> LatencySummary:
    ordered = sorted(samples)
    if not ordered:
        return LatencySummary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return LatencySummary(len(ordered), percentile(ordered, 0.50), percentile(ordered, 0.95),
                          percentile(ordered, 0.99), sum(ordered) / len(ordered), ordered[-1])

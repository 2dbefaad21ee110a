"""Prometheus metrics: request counts and latencies by interaction and status.

Each app gets its own registry (tests build many apps); under gunicorn with several workers
the multiprocess collector aggregates the workers' values for ``/metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    multiprocess_dir: str | None

    def observe(self, interaction: str, status: int, seconds: float) -> None:
        self.requests.labels(interaction=interaction, status=str(status)).inc()
        self.latency.labels(interaction=interaction, status=str(status)).observe(seconds)

    def render(self) -> bytes:
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)


def make_metrics(multiprocess_dir: str | None) -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter("gateway_http_requests", "HTTP requests by interaction and status",
                       ["interaction", "status"], registry=registry)
    latency = Histogram("gateway_http_request_seconds",
                        "HTTP request latency by interaction and status",
                        ["interaction", "status"], buckets=LATENCY_BUCKETS, registry=registry)
    return Metrics(registry, requests, latency, multiprocess_dir)

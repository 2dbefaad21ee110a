"""Delivery figures for ``/metrics``, read from the queue at scrape time.

Workers are separate processes (``gateway deliver``), and the queue in the database is the
truth about them, so the figures are taken from it whenever Prometheus scrapes: queue depth
and age of the oldest pending delivery per partner, and deliveries by outcome per partner.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from gateway.delivery import queue


class DeliveryCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            figures = queue.figures(session, datetime.now(UTC))
        depth = GaugeMetricFamily("gateway_delivery_queue_depth",
                                  "Deliveries pending, per partner", labels=["partner"])
        oldest = GaugeMetricFamily("gateway_delivery_oldest_pending_seconds",
                                   "Age of the oldest pending delivery, per partner",
                                   labels=["partner"])
        outcomes = GaugeMetricFamily("gateway_deliveries",
                                     "Deliveries by state (sent, dead, withheld, pending), "
                                     "per partner", labels=["partner", "state"])
        for partner, figure in sorted(figures.items()):
            depth.add_metric([partner], figure.pending)
            oldest.add_metric([partner], figure.oldest_pending_seconds)
            for state in queue.STATUSES:
                outcomes.add_metric([partner, state], figure.by_status.get(state, 0))
        yield depth
        yield oldest
        yield outcomes


def delivery_metrics(sessions: sessionmaker[Session]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeliveryCollector(sessions))
    return generate_latest(registry)

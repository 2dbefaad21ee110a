"""How big and how long: the full run and the ``--quick`` smoke run."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Dataset sizes (CareTeams, each with its own Patient) and measurement durations."""

    name: str
    small: int            # stored CareTeams for the first search-latency measurement
    base: int             # stored CareTeams for throughput and create measurements
    large: int            # stored CareTeams for the second search-latency measurement
    duration: float       # seconds measured per throughput run
    warmup: float         # seconds of load before measuring
    latency_samples: int  # sequential requests per search-latency measurement
    validator_seconds: float
    processes: int = 2    # load-generator processes
    threads: int = 4      # keep-alive connections per process (2 x 4 = gunicorn's 2 x 4 slots)
    seed_batch: int = 2000
    rounds: int = 2       # gateway and floor alternate this many times per measurement
    consent_rounds: int = 6  # operator and partner alternate this many times (issue 16: >= 5;
    #                          even, so each side goes first equally often)
    import_consumers: int = 10_000  # generated agency for `gateway import` (~11 records each)
    mapping_consumers: int = 1_000  # generated agency for the in-process mapping rate
    delivery_consumers: int = 5_000  # queued deliveries the workers drain (PostgreSQL)
    delivery_workers: int = 2        # `gateway deliver` worker processes
    delivery_batch: int = 20         # deliveries claimed at a time (`gateway deliver`'s default)
    delivery_timeout: float = 600.0  # give up on the drain after this many seconds
    delivery_profile: int = 1_000    # on a miss: drain this many more under cProfile
    inbound_consumers: int = 10_000  # generated agency the hospital messages are matched in
    inbound_messages: int = 3_000    # measured messages per transport (FHIR, MLLP)
    inbound_warmup: int = 100        # messages per transport before measuring
    inbound_senders: int = 4         # concurrent hospital connections
    inbound_timeout: float = 120.0   # stop sending after this many seconds per phase
    inbound_profile: int = 200       # on a miss: take this many more in process, cProfiled

    @property
    def connections(self) -> int:
        return self.processes * self.threads


FULL = Plan("full", small=1_000, base=10_000, large=100_000, duration=20.0, warmup=3.0,
            latency_samples=1_000, validator_seconds=8.0)
QUICK = Plan("quick", small=100, base=500, large=2_000, duration=3.0, warmup=1.0,
             latency_samples=200, validator_seconds=2.0, seed_batch=500, rounds=1,
             import_consumers=300, mapping_consumers=100, delivery_consumers=300,
             delivery_timeout=180.0, delivery_profile=200, inbound_consumers=300,
             inbound_messages=200, inbound_warmup=20, inbound_timeout=120.0,
             inbound_profile=50)

# Targets (fractions of the reference, or the largest allowed ratio); issue 16's table.
READ_TARGET = 0.33                     # GET CareTeam/{id}: gateway / the read floor
SEARCH_TARGET = 0.20                   # GET CareTeam?patient=: gateway / the read floor
CREATE_TARGET = 0.40                   # POST CareTeam: gateway / the storage floor
VALIDATE_TARGET = 0.70                 # Validator.validate / fhir.resources, in process
LATENCY_RATIO_TARGET = 2.0
IMPORT_SECONDS_TARGET = 300.0          # first import of the agency, per database
IMPORT_RSS_TARGET = 1024 ** 3          # peak resident memory of the import process
CONSENT_COST_TARGET = 0.10             # added p50 latency of a partner's consent-checked search
CONSENT_MIN_ROUNDS = 5                 # alternating slices each side, at the least
REIMPORT_SPEEDUP_TARGET = 5.0          # first import time / re-import (unchanged) time
DELIVERY_RATE_TARGET = 500.0           # deliveries/s drained by the workers
DELIVERY_RATIO_TARGET = 0.50           # drain rate / a plain requests loop's rate
INBOUND_RATE_TARGET = 80.0             # hospital messages/s taken in, 4 senders
INBOUND_P99_TARGET_MS = 200.0          # p99 latency of one message, milliseconds

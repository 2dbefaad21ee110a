"""A closed-loop HTTP load generator: processes x threads, one keep-alive connection each.

All workers start together, load for ``warmup`` seconds, then count and time every request
that completes in the next ``duration`` seconds. Traffic goes to 127.0.0.1 only and is bounded
by time and by ``max_requests`` per connection.
"""
from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from benchmarks.stats import LatencySummary, summarize

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class LoadSpec:
    port: int
    calls: Sequence[Call]  # cycled through; each connection starts at a different offset
    headers: dict[str, str]
    expect: int            # the status every response must have
    duration: float
    warmup: float
    processes: int
    threads: int
    max_requests: int = 1_000_000


@dataclass
class WorkerResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    answered: int = 0  # responses with the expected status, warm-up and stragglers included


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    first_error: str
    latency: LatencySummary
    answered: int = 0  # every response with the expected status, warm-up included
    slices: tuple[LoadResult, ...] = ()  # run_interleaved: each slice on its own, in order

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the load once and summarize it."""
    return _combine([_collect(spec)], spec.duration)


def run_interleaved(specs: dict[str, LoadSpec], rounds: int) -> dict[str, LoadResult]:
    """Load each target in turn, ``rounds`` times, each slice ``duration / rounds`` long (after
    its own warm-up): drifting background load on a shared machine then hits all targets alike.
    The order turns round every other round (A B, B A, A B, ...), so neither side always goes
    first. Each result keeps its slices (``LoadResult.slices``, in round order)."""
    parts: dict[str, list[WorkerResult]] = {name: [] for name in specs}
    for order in interleaving(list(specs), rounds):
        for name in order:
            spec = specs[name]
            parts[name].append(_collect(replace(spec, duration=spec.duration / rounds)))
    return {name: _combine(parts[name], specs[name].duration, rounds > 1) for name in specs}


def interleaving(names: list[str], rounds: int) -> list[list[str]]:
    """The order of each round: as given, then reversed, alternately."""
    return [names if n % 2 == 0 else names[::-1] for n in range(rounds)]


def _collect(spec: LoadSpec) -> WorkerResult:
    """Run the load from ``spec.processes`` fresh processes and merge what they measured."""
    start_at = time.time() + 1.5  # time for every process to start and connect
    context = multiprocessing.get_context("spawn")
    jobs = [(spec, start_at, n) for n in range(spec.processes)]
    timeout = spec.warmup + spec.duration + 120
    with context.Pool(spec.processes) as pool:
        results = pool.starmap_async(_process_main, jobs).get(timeout=timeout)
    return _merge(results)


def _merge(results: list[WorkerResult]) -> WorkerResult:
    merged = WorkerResult()
    for result in results:
        merged.latencies += result.latencies
        merged.errors += result.errors
        merged.answered += result.answered
        merged.first_error = merged.first_error or result.first_error
    return merged


def _combine(parts: list[WorkerResult], seconds: float, keep_slices: bool = False
             ) -> LoadResult:
    merged = _merge(parts)
    slices = (tuple(_combine([part], seconds / len(parts)) for part in parts)
              if keep_slices else ())
    return LoadResult(len(merged.latencies), seconds, merged.errors, merged.first_error,
                      summarize(merged.latencies), merged.answered, slices)


def _process_main(spec: LoadSpec, start_at: float, process_number: int) -> WorkerResult:
    results = [WorkerResult() for _ in range(spec.threads)]
    threads = [threading.Thread(target=_connection_loop,
                                args=(spec, start_at, process_number * spec.threads + n, result))
               for n, result in enumerate(results)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _merge(results)


def _connection_loop(spec: LoadSpec, start_at: float, worker: int, result: WorkerResult) -> None:
    calls = spec.calls
    offset = worker * max(1, len(calls) // (spec.processes * spec.threads))
    measure_from = start_at + spec.warmup
    stop_at = measure_from + spec.duration
    time.sleep(max(0.0, start_at - time.time()))
    connection = http.client.HTTPConnection(HOST, spec.port, timeout=30)
    clock = time.perf_counter
    wall_offset = time.time() - clock()  # perf_counter -> wall-clock seconds
    try:
        for n in range(spec.max_requests):
            call = calls[(offset + n) % len(calls)]
            began = clock()
            if began + wall_offset >= stop_at:
                break
            try:
                connection.request(call.method, call.path, call.body, spec.headers)
                response = connection.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                status, body = 0, repr(error).encode()
                connection.close()
                connection = http.client.HTTPConnection(HOST, spec.port, timeout=30)
            ended = clock()
            if status != spec.expect:
                result.errors += 1
                result.first_error = result.first_error or (
                    f"{call.method} {call.path} -> {status}: {body[:300]!r}")
                continue
            result.answered += 1
            if began + wall_offset >= measure_from and ended + wall_offset <= stop_at:
                result.latencies.append(ended - began)
    finally:
        connection.close()


def sequential_latencies(port: int, calls: Sequence[Call], headers: dict[str, str],
                         expect: int = 200, warmup: int = 50, max_seconds: float = 90.0
                         ) -> LatencySummary:
    """One connection, one request at a time: latency without queueing. Stops early (fewer
    samples) after ``max_seconds``."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    latencies: list[float] = []
    deadline = time.perf_counter() + max_seconds
    try:
        for n, call in enumerate([*calls[:warmup], *calls]):
            began = time.perf_counter()
            if began > deadline:
                break
            connection.request(call.method, call.path, call.body, headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - began
            if response.status != expect:
                raise RuntimeError(f"{call.method} {call.path} -> {response.status}: "
                                   f"{body[:300]!r}")
            if n >= warmup:
                latencies.append(elapsed)
    finally:
        connection.close()
    return summarize(latencies)


def fetch(port: int, call: Call, headers: dict[str, str]
          ) -> tuple[int, dict[str, str], bytes]:
    """One request: status, headers and body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(call.method, call.path, call.body, headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()

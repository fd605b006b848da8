"""Load at a concurrency: `total` requests over keep-alive connections, with their latencies,
statuses, errors and the throughput."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from typing import Callable

from benchmarks.http_requests import Req, send


@dataclass
class LoadResult:
    latencies: list[float]
    wall: float
    errors: int
    statuses: dict[int, int]

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def merged(parts: list[LoadResult]) -> LoadResult:
    """Several runs of one case as one result (their latencies together, walls added)."""
    statuses: dict[int, int] = {}
    for part in parts:
        for status, n in part.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return LoadResult(
        [t for part in parts for t in part.latencies],
        sum(part.wall for part in parts),
        sum(part.errors for part in parts),
        statuses,
    )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[rank]


def run_load(
    port: int, make_request: Callable[[int, int], Req], total: int, concurrency: int, expected: tuple[int, ...]
) -> LoadResult:
    """`total` requests over `concurrency` keep-alive connections; make_request(worker, i) builds each."""
    counter = iter(range(total))
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        barrier.wait()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                req = make_request(index, i)
                started = time.perf_counter()
                try:
                    status = send(conn, req)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    with lock:
                        errors[0] += 1
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status not in expected:
                        errors[0] += 1
                mine.append(elapsed)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return LoadResult(latencies, time.perf_counter() - started, errors[0], statuses)

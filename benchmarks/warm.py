"""2 + 3: warm latency p50/p99 of get, list and setup at concurrency 1 and 16 (`shared.cli serve`
with the fake providers, against hello on the same werkzeug threaded server), and setup
throughput with the embedded backends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import BENCH_DIR, ROOT, Profile, progress
from benchmarks.http_requests import Req, path_for, send_once
from benchmarks.load import LoadResult, merged, run_load
from benchmarks.processes import Processes, create_orgs, free_port

ROUNDS = 6  # warm latency: each case's requests in this many interleaved rounds


def wait_until_answers(proc: subprocess.Popen[bytes], port: int, req: Req, what: str, stderr_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {stderr_path.read_text()[-2000:]}")
        try:
            send_once(port, req, timeout=5)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer in 60 s") from None
            time.sleep(0.02)


def bench_warm(procs: Processes, profile: Profile, workdir: Path) -> dict[str, Any]:
    from tests.support.live_service import service_env
    from tests.support.provider_servers import ProviderServers, openai_key

    concurrencies = (1, 16)
    with ProviderServers() as providers:
        data_dir = workdir / "warm-data"
        port = free_port()
        env = service_env(
            data_dir, port, providers, LOG_LEVEL="INFO", VALIDATION_RATE_LIMIT="1000000/1", PYTHONPATH=str(ROOT)
        )
        env = {k: v for k, v in env.items() if k not in ("BIGQUERY_EMULATOR_HOST",)}
        slugs = [f"bench_{i}" for i in range(max(concurrencies))]
        keys = create_orgs(env, slugs)

        hello_port = free_port()
        hello_log, service_log = workdir / "hello.stderr", workdir / "serve.stderr"
        hello = procs.start([sys.executable, str(BENCH_DIR / "serve_hello.py"), str(hello_port)], env, hello_log)
        server = procs.start([sys.executable, "-m", "shared.cli", "serve"], env, service_log)
        try:
            wait_until_answers(hello, hello_port, Req("GET", "/"), "hello server", hello_log)
            wait_until_answers(server, port, Req("GET", path_for("list_integrations", slugs[0])), "serve", service_log)

            auth = {"X-API-Key": keys[0]}
            first_key = providers.openai.set(openai_key(), "valid")
            status = send_once(
                port,
                Req(
                    "POST",
                    path_for("setup_integration", slugs[0]) + "?wait=true",
                    json.dumps({"credential": first_key}).encode(),
                    {**auth, "Content-Type": "application/json"},
                ),
            )
            if status != 200:
                raise RuntimeError(f"warm-up setup answered {status}")

            get_req = Req("GET", path_for("get_integration", slugs[0]), None, auth)
            list_req = Req("GET", path_for("list_integrations", slugs[0]), None, auth)
            hello_req = Req("GET", "/")
            cases: list[tuple[str, int, Callable[[int, int], Req], int, tuple[int, ...]]] = [
                ("hello", hello_port, lambda w, i: hello_req, profile.warm_requests, (200,)),
                ("get", port, lambda w, i: get_req, profile.warm_requests, (200,)),
                ("list", port, lambda w, i: list_req, profile.warm_requests, (200,)),
            ]
            results: dict[str, dict[int, LoadResult]] = {"hello": {}, "get": {}, "list": {}, "setup": {}}
            for concurrency in concurrencies:
                # Interleaved rounds (hello, get, list, hello, ...): the machine's speed drifts
                # within seconds on a shared host, and a ratio is only fair if both sides see the same.
                rounds = ROUNDS if profile.warm_requests >= ROUNDS * 50 else 1
                parts: dict[str, list[LoadResult]] = {label: [] for label, *_ in cases}
                for label, target_port, make, _total, expected in cases:
                    run_load(target_port, make, profile.warmup, concurrency, expected)
                for _ in range(rounds):
                    for label, target_port, make, total, expected in cases:
                        parts[label].append(run_load(target_port, make, total // rounds, concurrency, expected))
                for label in parts:
                    results[label][concurrency] = merged(parts[label])
                progress(f"warm latency: get/list/hello at concurrency {concurrency}")

            for concurrency in concurrencies:
                # The full path: a new key every time (the same key again is a no-op), one org per worker.
                fresh = [
                    [providers.openai.set(openai_key(), "valid") for _ in range(profile.setup_requests)]
                    for _ in range(concurrency)
                ]

                def make_setup(worker: int, i: int, fresh: list[list[str]] = fresh) -> Req:
                    body = json.dumps({"credential": fresh[worker][i]}).encode()
                    return Req(
                        "POST",
                        path_for("setup_integration", slugs[worker]),
                        body,
                        {"X-API-Key": keys[worker], "Content-Type": "application/json"},
                    )

                results["setup"][concurrency] = run_load(port, make_setup, profile.setup_requests, concurrency, (202,))
                progress(f"warm latency: setup at concurrency {concurrency}")
                time.sleep(0.5)  # let the queued validations settle before the next run
        finally:
            procs.stop(server)
            procs.stop(hello)

    table: dict[str, Any] = {}
    for label, by_concurrency in results.items():
        for concurrency, result in by_concurrency.items():
            table[f"{label}@{concurrency}"] = {
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "requests": len(result.latencies),
                "errors": result.errors,
                "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
                "throughput_rps": result.throughput,
            }
    return table

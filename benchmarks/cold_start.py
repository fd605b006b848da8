"""1 + 4: cold start (process start to first answer, per function, with the functions-framework
CLI) and peak RSS (VmHWM of its processes after the cold start and a few requests)."""

from __future__ import annotations

import http.client
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ALL_FUNCTIONS, FF_CLI, HELLO, HELLO_SOURCE, ROOT, VALIDATOR, Profile, progress
from benchmarks.http_requests import authenticated_request, first_request, send, send_once
from benchmarks.processes import Processes, create_orgs, embedded_env, free_port, group_peak_rss_mib


def ff_command(name: str, port: int) -> list[str]:
    source = HELLO_SOURCE if name == HELLO else ROOT / "functions" / name / "main.py"
    command = [FF_CLI, f"--target={name}", f"--source={source}", "--host", "127.0.0.1", "--port", str(port)]
    if name == VALIDATOR:
        command += ["--signature-type", "cloudevent"]
    return command


def cold_start_once(
    procs: Processes, name: str, env: dict[str, str], api_key: str, rss_requests: int, workdir: Path
) -> tuple[float, float, int]:
    """(seconds to the first answer, peak RSS MiB after a few more requests, first status)."""
    port = free_port()
    stderr_path = workdir / f"{name}.stderr"
    started = time.perf_counter()
    proc = procs.start(ff_command(name, port), env, stderr_path)
    try:
        deadline = started + 60
        request = first_request(name)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {stderr_path.read_text()[-2000:]}")
            try:
                status = send_once(port, request)
                break
            except OSError:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{name} did not answer in 60 s") from None
                time.sleep(0.002)
        elapsed = time.perf_counter() - started
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(rss_requests):
                send(conn, authenticated_request(name, api_key))
        finally:
            conn.close()
        return elapsed, group_peak_rss_mib(proc.pid), status
    finally:
        procs.stop(proc)


def bench_cold_start(procs: Processes, profile: Profile, workdir: Path) -> dict[str, dict[str, Any]]:
    data_dir = workdir / "cold-data"
    env = embedded_env(data_dir)
    # The store and keyring exist already, as they do for a deployed function.
    (api_key,) = create_orgs(env, ["bench_cold"])
    names = [HELLO] + ALL_FUNCTIONS
    times: dict[str, list[float]] = {n: [] for n in names}
    rss: dict[str, list[float]] = {n: [] for n in names}
    statuses: dict[str, int] = {}
    for run in range(profile.cold_runs):
        # Interleaved so that drift in machine load hits every function alike.
        for name in names:
            seconds, peak, status = cold_start_once(procs, name, env, api_key, profile.rss_requests, workdir)
            times[name].append(seconds)
            rss[name].append(peak)
            statuses[name] = status
        progress(f"cold start: run {run + 1}/{profile.cold_runs}")
    return {
        n: {
            "cold_start_s": statistics.median(times[n]),
            "cold_start_runs": times[n],
            "peak_rss_mib": max(rss[n]),
            "first_status": statuses[n],
        }
        for n in names
    }

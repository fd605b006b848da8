"""Benchmarks: every figure next to a bare functions-framework hello function measured in the same run.

    .venv/bin/python benchmarks/run.py            # the full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # a few iterations (the smoke test)
    .venv/bin/python benchmarks/run.py --json out.json

Sections (see docs/performance.md for what each measures and the figures):
  1. cold start: process start to first answer, per function, with the functions-framework CLI
  2. warm latency p50/p99 of get, list and setup at concurrency 1 and 16 (`shared.cli serve`)
  3. setup throughput with the embedded backends at concurrency 16
  4. peak RSS per function (VmHWM of its processes after the cold start and a few requests)
  5. import time per function (`-X importtime`) and: no google-cloud client library imported
  6. BigQuery jobs per request on bqemulator, counted at the client (benchmarks/bigquery_jobs.py)

A benchmark, not a test: it prints a table with PASS/FAIL against the targets and exits 0
unless something could not be measured (a function that does not start...), or with
`--strict` when a target fails. Everything binds 127.0.0.1; every process started here runs in
its own process group and is killed on exit, Ctrl-C included.

This file is the entry point; each section lives in its own module of the benchmarks package
(benchmarks/__init__.py lists them).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bigquery_jobs import bench as bench_bigquery_jobs  # noqa: E402 - after the path set-up
from benchmarks.cold_start import bench_cold_start  # noqa: E402
from benchmarks.common import FULL, QUICK  # noqa: E402
from benchmarks.import_time import bench_imports, import_probe_once  # noqa: E402
from benchmarks.processes import Processes, embedded_env  # noqa: E402
from benchmarks.report import report  # noqa: E402
from benchmarks.warm import bench_warm  # noqa: E402

# embedded_env and import_probe_once are here for tests/unit/test_benchmarks_smoke.py, which
# loads this file and probes one function with them.
__all__ = ["embedded_env", "import_probe_once", "main"]


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations (smoke test)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--no-bigquery", action="store_true", help="leave out section 6 (BigQuery jobs per request)")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL

    signal.signal(signal.SIGTERM, _raise_interrupt)
    procs = Processes()
    started = time.monotonic()
    print(
        f"Benchmarks ({'quick' if args.quick else 'full'}) on {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}; each figure against a bare functions-framework hello function.",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="integrations-bench-") as tmp:
            workdir = Path(tmp)
            imports = bench_imports(profile, workdir)
            cold = bench_cold_start(procs, profile, workdir)
            warm = bench_warm(procs, profile, workdir)
            procs.stop_all()
            checks = report(cold, imports, warm)
            jobs = None if args.no_bigquery else bench_bigquery_jobs(workdir / "bigquery_jobs.json")
    except KeyboardInterrupt:
        print("\ninterrupted: every process started here was stopped", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()

    if jobs is not None:
        checks["bigquery_jobs"] = all(r["pass"] is not False for r in jobs)
    print(
        f"\n{time.monotonic() - started:.0f} s; reproduce with: .venv/bin/python benchmarks/run.py"
        f"{' --quick' if args.quick else ''}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "profile": "quick" if args.quick else "full",
                    "cold_start_and_rss": cold,
                    "imports": imports,
                    "warm": warm,
                    "bigquery_jobs": jobs,
                    "targets": checks,
                },
                indent=2,
            )
        )
    return 1 if args.strict and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

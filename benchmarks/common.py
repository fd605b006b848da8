"""What every benchmark shares: the repository, the functions measured, the bare hello
baseline, and how many runs each profile makes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from shared.web import ROUTES

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
HELLO = "hello"
HELLO_SOURCE = BENCH_DIR / "hello" / "main.py"
VALIDATOR = "validate_credential"
FF_CLI = str(Path(sys.executable).parent / "functions-framework")
CLOUD_ENV_PREFIXES = ("STORE_", "KMS_", "QUEUE_", "PUBSUB_", "BIGQUERY_", "BQ_", "GCP_", "GOOGLE_", "VALIDATOR_")

HTTP_FUNCTIONS = list(ROUTES)
ALL_FUNCTIONS = HTTP_FUNCTIONS + [VALIDATOR]


@dataclass(frozen=True)
class Profile:
    cold_runs: int
    import_runs: int
    warm_requests: int
    setup_requests: int
    warmup: int
    rss_requests: int


FULL = Profile(cold_runs=7, import_runs=3, warm_requests=600, setup_requests=300, warmup=30, rss_requests=20)
QUICK = Profile(cold_runs=1, import_runs=1, warm_requests=40, setup_requests=32, warmup=5, rss_requests=3)


def progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)

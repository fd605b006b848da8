"""`benchmarks/run.py --quick` runs end to end and prints every row; no timing is asserted.

The one hard check is functional: on embedded defaults no Google Cloud client library
(google.cloud.bigquery, kms, pubsub, grpc...) is imported by any function.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.web import ROUTES

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = [*ROUTES, "validate_credential"]


def _section(output: str, title_start: str) -> str:
    for block in output.split("\n## ")[1:]:
        if block.startswith(title_start):
            return block
    raise AssertionError(f"section {title_start!r} missing from:\n{output}")


@pytest.mark.slow
def test_quick_benchmark_prints_every_row_and_imports_no_google_cloud(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--json", str(figures)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    cold = _section(out, "1. Cold start")
    imports = _section(out, "5. Import time")
    for name in ["hello", *FUNCTIONS]:
        assert any(line.split()[:1] == [name] for line in cold.splitlines()), f"cold start row {name} missing"
        rows = [line for line in imports.splitlines() if line.split()[:1] == [name]]
        assert len(rows) == 1 and rows[0].rstrip().endswith("PASS"), f"import row {name}: {rows}"

    warm = _section(out, "2. Warm latency")
    for endpoint in ("get", "list", "setup", "hello (bare)"):
        for concurrency in ("1", "16"):
            assert any(
                line.startswith(endpoint + " ") and line[len(endpoint) :].split()[0] == concurrency
                for line in warm.splitlines()
            ), f"warm row {endpoint} @ {concurrency} missing"
    assert "setup" in _section(out, "3. Setup throughput")

    targets = _section(out, "Targets")
    for target in ("cold start <=", "warm p50 of get <=", "peak RSS <=", "no google-cloud client library"):
        row = next((line for line in targets.splitlines() if line.startswith(target)), None)
        assert row is not None and row.rstrip().endswith(("PASS", "FAIL")), f"target row {target!r}: {row}"
    assert next(line for line in targets.splitlines() if line.startswith("no google-cloud")).rstrip().endswith("PASS")

    data = json.loads(figures.read_text())
    assert data["targets"]["no_google_cloud"] is True
    for name in FUNCTIONS:
        assert data["imports"][name]["google_cloud_modules"] == []
        # Every function really served its first request (401 without a key; the validator acks).
        assert data["cold_start_and_rss"][name]["first_status"] == (200 if name == "validate_credential" else 401)
        assert data["imports"][name]["probe_status"] == (200 if name == "validate_credential" else 401)
    for case in ("get@1", "get@16", "list@1", "list@16", "setup@1", "setup@16", "hello@1", "hello@16"):
        assert data["warm"][case]["errors"] == 0, (case, data["warm"][case])
    assert data["warm"]["setup@16"]["statuses"] == {"202": data["warm"]["setup@16"]["requests"]}

    # 6. BigQuery jobs per request (bqemulator is part of the test toolchain): every target met.
    jobs = _section(out, "6. BigQuery jobs per request")
    verdict = next(line for line in jobs.splitlines() if line.startswith("targets (reads 1 job"))
    assert verdict.endswith("met: PASS"), verdict
    assert data["targets"]["bigquery_jobs"] is True
    assert {r["request"] for r in data["bigquery_jobs"]} >= {"GET one", "POST setup (API key)", "DELETE"}


@pytest.mark.slow
def test_the_google_cloud_import_check_sees_a_cloud_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not vacuous: with a Google backend configured, the probe reports its libraries."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    # The store is built for the very first request (auth reads it); a BigQuery store at a closed
    # port fails that request, but only after importing its client library, which is what we look for.
    env = bench.embedded_env(
        tmp_path, STORE_BACKEND="bigquery", GCP_PROJECT="bench-project", BIGQUERY_EMULATOR_HOST="http://127.0.0.1:9"
    )
    probe = bench.import_probe_once("get_integration", env)
    assert any(m.startswith("google.cloud.bigquery") for m in probe["forbidden"])

    embedded = bench.import_probe_once("get_integration", bench.embedded_env(tmp_path / "embedded"))
    assert embedded["status"] == 401 and embedded["forbidden"] == []

"""5: import time per function (`-X importtime`, in a probe process that loads the function and
serves its first request) and the check that no google-cloud client library gets imported."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ALL_FUNCTIONS, HELLO, HELLO_SOURCE, ROOT, VALIDATOR, Profile, progress
from benchmarks.http_requests import first_request
from benchmarks.processes import create_orgs, embedded_env

# Google Cloud client libraries: none may be loaded on embedded defaults. functions-framework's
# own google.cloud.functions* (and cloudevents, protobuf if any) are not client libraries.
FORBIDDEN_PREFIXES = ("google.cloud.", "grpc", "google.api_core", "google.iam", "google.pubsub")
ALLOWED_PREFIXES = ("google.cloud.functions",)

IMPORT_PROBE = r"""
import json, sys
spec = json.loads(sys.argv[1])
sys.stderr.write("@@start\n"); sys.stderr.flush()
import functions_framework
app = functions_framework.create_app(target=spec["name"], source=spec["source"], signature_type=spec["signature"])
sys.stderr.write("@@loaded\n"); sys.stderr.flush()
client = app.test_client()
response = client.open(spec["path"], method=spec["method"], data=(spec["body"] or "").encode() or None,
                        headers=spec["headers"])
sys.stderr.write("@@served\n"); sys.stderr.flush()
forbidden = sorted(m for m in sys.modules
                   if m.startswith(tuple(spec["forbidden"])) and not m.startswith(tuple(spec["allowed"])))
print(json.dumps({"status": response.status_code, "forbidden": forbidden}))
"""


def parse_importtime(stderr: str) -> dict[str, float]:
    """Milliseconds of top-level imports between the probe's markers (interpreter start-up excluded)."""
    totals = {"load": 0.0, "serve": 0.0}
    phase = None
    for line in stderr.splitlines():
        if line.startswith("@@"):
            phase = {"@@start": "load", "@@loaded": "serve", "@@served": None}[line.strip()]
            continue
        if phase is None or not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2]
        if name.startswith(" ") and not name.startswith("  "):  # top level: one space, no indent
            totals[phase] += int(parts[1]) / 1000
    return totals


def import_probe_once(name: str, env: dict[str, str]) -> dict[str, Any]:
    request = first_request(name)
    source = HELLO_SOURCE if name == HELLO else ROOT / "functions" / name / "main.py"
    spec = {
        "name": name,
        "source": str(source),
        "signature": "cloudevent" if name == VALIDATOR else "http",
        "path": request.path,
        "method": request.method,
        "body": (request.body or b"").decode(),
        "headers": request.headers,
        "forbidden": FORBIDDEN_PREFIXES,
        "allowed": ALLOWED_PREFIXES,
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORT_PROBE, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import probe for {name} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, **parse_importtime(done.stderr)}


def bench_imports(profile: Profile, workdir: Path) -> dict[str, dict[str, Any]]:
    data_dir = workdir / "import-data"
    env = embedded_env(data_dir, LOG_LEVEL="WARNING")
    create_orgs(env, ["bench_import"])
    names = [HELLO] + ALL_FUNCTIONS
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for run in range(profile.import_runs):
        for name in names:
            runs[name].append(import_probe_once(name, env))
        progress(f"import time: run {run + 1}/{profile.import_runs}")
    out = {}
    for name, results in runs.items():
        forbidden = sorted({m for r in results for m in r["forbidden"]})
        out[name] = {
            "import_load_ms": statistics.median(r["load"] for r in results),
            "import_total_ms": statistics.median(r["load"] + r["serve"] for r in results),
            "probe_status": results[-1]["status"],
            "google_cloud_modules": forbidden,
        }
    return out

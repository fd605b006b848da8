"""6. BigQuery jobs per request: the service on bqemulator, counted at the client.

    .venv/bin/python benchmarks/bigquery_jobs.py                  # this checkout
    .venv/bin/python benchmarks/bigquery_jobs.py --revision e63c21a   # another revision (a temporary worktree)
    .venv/bin/python benchmarks/bigquery_jobs.py --json jobs.json

Every endpoint is called once, in the order a user goes, through the functions' own HTTP
dispatch (shared/server.py) in this process, with the BigQuery store on a fresh dataset of
bqemulator; the validator's message is handled after the request that queues it. Provider
calls are answered by an instant stand-in (no network), the cipher is the local keyring, the
queue records its messages: what is counted is BigQuery alone (benchmarks/bq_calls.py says
how). The counts do not depend on the machine; the emulator answers in milliseconds, so the
time a request takes in production is a *model*: jobs x the 0.5-2 s a small BigQuery job
takes (queueing, planning, commit; streaming inserts are no job and are left out).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JOB_SECONDS = (0.5, 2.0)  # the model: what one small BigQuery job takes, end to end
ORG = "bench_org"
SAAS = {"plan": "business", "seats": 3, "monthly_cost": 30, "currency": "USD", "billing_cycle": "monthly"}
READ, WRITE, MESSAGE, FIRST, PIPELINE = "read", "write", "message", "first", "pipeline"
ROLE = "arn:aws:iam::123456789012:role/CostReader"
# The targets: (jobs at most, mutating DML jobs at most) per kind of request.
TARGETS = {READ: (1, None), WRITE: (3, 2), MESSAGE: (3, None), PIPELINE: (1, 0)}


class InstantProvider:
    """Every key is well formed and valid: the benchmark counts BigQuery, not providers."""

    def check_format(self, credential: Any, config: dict[str, Any]) -> None:
        pass

    def check_key(self, credential: Any, config: dict[str, Any]) -> None:
        pass

    def validate(self, credential: Any, config: dict[str, Any], owner: Any = None) -> Any:
        from shared.ports import ValidationResult

        assert owner is None or owner.aws_external_id, "an AWS check is told the org's external ID"
        return ValidationResult("valid", capabilities=("costs",))

    def principal_arn(self) -> str:
        return "arn:aws:iam::111122223333:role/integrations-bench"

    def assume(self, credential: Any, owner: Any, pipeline: str) -> Any:
        from datetime import datetime, timedelta, timezone

        from shared.domain.aws import AwsSession

        assert owner.aws_external_id, "a pipeline's AssumeRole carries the org's external ID"
        expiry = datetime.now(timezone.utc) + timedelta(hours=1)
        return AwsSession(
            role_arn=credential.value, access_key_id="AKIA", secret_access_key="s", session_token="t", expiration=expiry
        )


class Queue:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def publish(self, message: Any) -> None:
        self.messages.append(message)

    def ensure_topic(self) -> None:
        pass

    def drain(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float = 5.0) -> None:
        pass


# (label, kind, method, path below the org, body); kind FIRST: the instance's first request.
# The validator's message of a request is handled right after it, except after HOLD (the next
# request validates the pending integration itself; the message then finds it settled).
HOLD = "POST enable"
STEPS: list[tuple[str, str, str, str, Any]] = [
    ("GET list (first request: key not cached)", FIRST, "GET", "", None),
    ("GET list", READ, "GET", "", None),
    ("POST setup (SaaS)", WRITE, "POST", "/slack/setup", {"config": SAAS}),
    ("POST setup (API key)", WRITE, "POST", "/openai/setup", {"credential": "sk-bench-first-key", "name": "AI"}),
    ("GET one", READ, "GET", "/openai", None),
    ("GET events", READ, "GET", "/openai/events", None),
    ("PATCH name", WRITE, "PATCH", "/openai", {"name": "OpenAI (finance)"}),
    ("POST validate", WRITE, "POST", "/openai/validate", None),
    ("POST rotate", WRITE, "POST", "/openai/rotate", {"credential": "sk-bench-rotated-key"}),
    ("POST disable", WRITE, "POST", "/openai/disable", None),
    ("POST enable", WRITE, "POST", "/openai/enable", None),
    ("POST validate (pending: marks it validating first)", WRITE, "POST", "/openai/validate", None),
    ("POST setup (API key, replacing)", WRITE, "POST", "/openai/setup", {"credential": "sk-bench-third-key"}),
    ("GET pipeline credential (get_credential, openai)", PIPELINE, "PIPELINE", "openai", None),
    ("DELETE", WRITE, "DELETE", "/openai", None),
    ("GET setup form (AWS: makes the org's external ID)", FIRST, "GET", "/aws/setup", None),
    ("GET setup form (AWS)", READ, "GET", "/aws/setup", None),
    ("POST setup (AWS role)", WRITE, "POST", "/aws/setup", {"credential": ROLE}),
    ("POST validate (AWS)", WRITE, "POST", "/aws/validate", None),
    ("GET pipeline credential (get_credential, AWS: an hour of the role)", PIPELINE, "PIPELINE", "aws", None),
]


def _row(label: str, kind: str, status: int, tally: Any) -> dict[str, Any]:
    jobs_max, mutating_max = TARGETS.get(kind, (None, None))
    ok = (jobs_max is None or tally.jobs <= jobs_max) and (mutating_max is None or tally.mutating <= mutating_max)
    return {
        "request": label,
        "kind": kind,
        "status": status,
        **tally.as_dict(),
        "model_s": [round(tally.jobs * JOB_SECONDS[0], 1), round(tally.jobs * JOB_SECONDS[1], 1)],
        "target": None if jobs_max is None else {"jobs": jobs_max, "mutating": mutating_max},
        "pass": ok if jobs_max is not None else None,
        "sql": tally.sql,
    }


def measure(workdir: Path, emulator_url: str, project: str) -> list[dict[str, Any]]:
    """Run the steps against the service of the `shared` package on sys.path; one row per step."""
    os.environ.update(
        {
            "STORE_BACKEND": "bigquery",
            "GCP_PROJECT": project,
            "BQ_DATASET": "bench_jobs",
            "BIGQUERY_EMULATOR_HOST": emulator_url,
            "DATA_DIR": str(workdir),
            "LOG_LEVEL": "WARNING",
            "VALIDATION_RATE_LIMIT": "1000/600",
        }
    )
    from werkzeug.test import Client

    from benchmarks.bq_calls import CallCounter
    from shared import container
    from shared.adapters.local_keyring import LocalKeyring
    from shared.server import build_app

    random.seed(0)  # the rate limit's occasional sweep of old attempts, at the same requests every run
    container.reset()
    settings = container.get_settings()
    store = container.build_store(settings)
    store.init_store()
    counter = CallCounter(store.client)
    queue = Queue()
    provider = InstantProvider()
    services = container.build_service(
        settings,
        store=store,
        cipher=LocalKeyring(workdir / "keyring.json"),
        queue=queue,
        validators=lambda _name: provider,
    )
    container._service = services  # what the functions' get_service() answers
    http = Client(build_app())
    key = services.orgs.create_org(ORG)
    counter.take()

    rows: list[dict[str, Any]] = []
    handled = 0
    for label, kind, method, path, body in STEPS:
        if method == "PIPELINE":  # what shared.pipelines.get_credential does, in this process
            services.pipelines.get_credential(ORG, path, "bench")
            rows.append(_row(label, kind, 200, counter.take()))
            continue
        response = http.open(f"/api/v1/integrations/{ORG}{path}", method=method, json=body, headers={"X-API-Key": key})
        rows.append(_row(label, kind, response.status_code, counter.take()))
        if label == HOLD:
            continue
        for message in queue.messages[handled:]:
            done = services.messages.handle(message, 1)  # what it did: "validated current: valid"...
            rows.append(_row(f"  validator message: {done}", MESSAGE, 200, counter.take()))
        handled = len(queue.messages)
    container._service = None
    return rows


def run(source: Path | None = None) -> list[dict[str, Any]]:
    """Start bqemulator, measure the `shared` package of `source` (default: this checkout), stop it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # The counter and the emulator come from this checkout; `shared` (imported by measure) from `source`.
    import benchmarks.bq_calls  # noqa: F401
    from tests.support.bqemulator import PROJECT, BigQueryEmulator, _emulator_command, _spatial_extension

    if source is not None:
        sys.path.insert(0, str(source))

    command, extension = _emulator_command(), _spatial_extension()
    if command is None or extension is None:
        raise SystemExit("bqemulator is not installed: pip install -r requirements-dev.txt (make bench does)")
    emulator = BigQueryEmulator(command, extension)
    saved = dict(os.environ)
    try:
        url = emulator.start()
        with tempfile.TemporaryDirectory(prefix="bench-bq-") as tmp:
            return measure(Path(tmp), url, PROJECT)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        emulator.stop()


def run_revision(revision: str) -> list[dict[str, Any]]:
    """Measure another revision: a temporary worktree, this script run on it in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="bench-bq-rev-") as scratch:
        tree, out = Path(scratch) / "tree", Path(scratch) / "rows.json"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), revision], cwd=ROOT, check=True)
        try:
            command = [sys.executable, str(Path(__file__)), "--source", str(tree), "--json", str(out), "--quiet"]
            subprocess.run(command, cwd=ROOT, check=True, timeout=600)
            return json.loads(out.read_text())["rows"]
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def report(rows: list[dict[str, Any]], title: str) -> bool:
    """Print the table and the verdict; True when every request meets its target."""
    headers = ["request", "jobs", "jobs.insert", "jobs.query", "DML", "mutating", "statements", "streaming", "polls"]
    headers += ["model s", "target (jobs, mutating)", "result"]
    table = []
    for r in rows:
        target = r["target"]
        limit = "" if target is None else f"<= {target['jobs']}" + (f", <= {m}" if (m := target["mutating"]) else "")
        verdict = "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        counts = [r[k] for k in ("jobs", "jobs_insert", "jobs_query", "dml", "mutating", "statements", "streaming")]
        table.append([r["request"], *counts, r["polls"], "{:.1f}-{:.1f}".format(*r["model_s"]), limit, verdict])
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *table)]
    print(f"\n## {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    judged = [r for r in rows if r["pass"] is not None]
    ok = all(r["pass"] for r in judged)
    print(
        f"jobs = jobs.insert + jobs.query calls; mutating: jobs holding an UPDATE, DELETE or MERGE; statements: a\n"
        f"transaction's one by one; streaming: audit events (no job). Model, not measurement: jobs x "
        f"{JOB_SECONDS[0]}-{JOB_SECONDS[1]} s.\n"
        f"targets (reads 1 job; changes <= 3 jobs, <= 2 mutating; a validation message <= 3 jobs; "
        f"a pipeline's credential 1 job): "
        f"{sum(r['pass'] for r in judged)} of {len(judged)} met: {'PASS' if ok else 'FAIL'}"
    )
    return ok


TITLE = "6. BigQuery jobs per request (bqemulator, counted at the client; latency model: jobs x 0.5-2 s)"


def bench(json_path: Path) -> list[dict[str, Any]] | None:
    """Section 6 of benchmarks/run.py: this script in a process of its own (its environment, its
    emulator), printing as it goes. None when bqemulator is not installed."""
    from tests.support.bqemulator import _emulator_command, _spatial_extension

    if _emulator_command() is None or _spatial_extension() is None:
        print(f"\n## {TITLE}\nskipped: bqemulator is not installed (pip install -r requirements-dev.txt)")
        return None
    sys.stdout.flush()
    subprocess.run([sys.executable, str(Path(__file__)), "--json", str(json_path)], cwd=ROOT, timeout=600)
    return json.loads(json_path.read_text())["rows"] if json_path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revision", help="measure this git revision instead (a temporary worktree)")
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)  # the worktree run_revision made
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--quiet", action="store_true", help="no table")
    args = parser.parse_args(argv)
    rows = run_revision(args.revision) if args.revision else run(args.source)
    ok = True if args.quiet else report(rows, TITLE + (f" at {args.revision}" if args.revision else ""))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

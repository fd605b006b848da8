"""Cold start and warm latency of several git revisions, measured interleaved in one run.

    .venv/bin/python benchmarks/compare_revisions.py 764f45c HEAD [--cold 15] [--warm 5]

Each revision is checked out in a temporary git worktree (this checkout's .venv is shared)
with its bytecode compiled once first (`--no-bytecode`: every process compiles the sources);
the runs alternate between revisions so machine-load drift hits them alike. Cold start: a
fresh process from `import functions_framework` to get_integration's first answer (a 401,
which builds the whole service). Warm: the median of 500 authenticated GETs in process
(functions-framework's test client). Medians are printed, with the ratio to the first revision.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLD = """
import sys, time; t = time.perf_counter()
import functions_framework
app = functions_framework.create_app(target="get_integration", source="functions/get_integration/main.py")
app.test_client().get("/api/v1/integrations/acme_corp/openai")
sys.stderr.write("T %f\\n" % ((time.perf_counter() - t) * 1000))
"""

WARM = """
import sys, time
import functions_framework
from shared.container import get_service
services = get_service()
key = getattr(services, "orgs", services).create_org("acme_corp")  # before and after the use cases were split
get = functions_framework.create_app(target="get_integration", source="functions/get_integration/main.py").test_client()
setup = functions_framework.create_app(target="setup_integration", source="functions/setup_integration/main.py")
h = {"X-API-Key": key}
config = {"plan": "p", "seats": 1, "monthly_cost": 1, "currency": "USD", "billing_cycle": "monthly"}
setup.test_client().post("/api/v1/integrations/acme_corp/slack/setup", json={"config": config}, headers=h)
for _ in range(50):
    get.get("/api/v1/integrations/acme_corp/slack", headers=h)
times = []
for _ in range(500):
    t = time.perf_counter(); get.get("/api/v1/integrations/acme_corp/slack", headers=h); times.append(time.perf_counter() - t)
sys.stderr.write("T %f\\n" % (sorted(times)[250] * 1000))
"""


def measure(code: str, tree: Path, data_dir: Path, bytecode: bool) -> float:
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode:  # every process compiles the sources again, as without a __pycache__
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.startswith("T ")]
    if not lines:
        raise RuntimeError(f"{tree}: {done.stderr[-2000:]}")
    return float(lines[0][2:])


def instructions(tree: Path, data_dir: Path) -> int:
    """Instructions executed by one cold start (to the first answer), under callgrind."""
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", COLD]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    found = [line for line in done.stderr.splitlines() if "Collected :" in line]
    if not found:
        raise RuntimeError(f"{tree}: callgrind counted nothing (is valgrind installed?) {done.stderr[-1000:]}")
    return int(found[-1].rsplit(":", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+")
    parser.add_argument("--cold", type=int, default=15, help="cold starts per revision")
    parser.add_argument("--warm", type=int, default=5, help="warm runs (500 requests each) per revision")
    parser.add_argument("--no-bytecode", action="store_true", help="compile the sources in every process (no .pyc)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of one cold start per revision (valgrind callgrind: repeatable to "
        "a few thousandths, whatever the machine's load)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-") as scratch:
        trees = {}
        for rev in args.revisions:
            tree = Path(scratch) / rev.replace("/", "_")
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=ROOT, check=True)
            trees[rev] = tree
        try:
            for tree in trees.values():  # one run first: it writes the bytecode the measured runs read
                measure(COLD, tree, Path(scratch) / "data", bytecode=True)
            for label, code, runs in (("cold start ms", COLD, args.cold), ("warm get p50 ms", WARM, args.warm)):
                results: dict[str, list[float]] = {rev: [] for rev in trees}
                for _ in range(runs):
                    for rev, tree in trees.items():
                        results[rev].append(measure(code, tree, Path(scratch) / "data", not args.no_bytecode))
                base = statistics.median(results[args.revisions[0]])
                cells = [
                    f"{rev}: {statistics.median(v):.3f} ({statistics.median(v) / base:.2f}x)"
                    for rev, v in results.items()
                ]
                print(f"{label:16}  " + "   ".join(cells), flush=True)
            if args.instructions:
                counts = {rev: instructions(tree, Path(scratch) / "data") for rev, tree in trees.items()}
                base = counts[args.revisions[0]]
                cells = [f"{rev}: {n / 1e6:.1f}M ({n / base:.3f}x)" for rev, n in counts.items()]
                print(f"{'cold start instr':16}  " + "   ".join(cells), flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

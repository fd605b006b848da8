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

A benchmark, not a test: it prints a table with PASS/FAIL against the targets and exits 0
unless something could not be measured (a function that does not start...), or with
`--strict` when a target fails. Everything binds 127.0.0.1; every process started here runs in
its own process group and is killed on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.web import BASE_PATH, ROUTES  # noqa: E402 - after the path set-up

BENCH_DIR = ROOT / "benchmarks"
HELLO = "hello"
HELLO_SOURCE = BENCH_DIR / "hello" / "main.py"
VALIDATOR = "validate_credential"
FF_CLI = str(Path(sys.executable).parent / "functions-framework")
CLOUD_ENV_PREFIXES = ("STORE_", "KMS_", "QUEUE_", "PUBSUB_", "BIGQUERY_", "BQ_", "GCP_", "GOOGLE_", "VALIDATOR_")

# Targets (issue 5), as ratios of the bare hello function where they can be.
COLD_START_MAX_RATIO = 1.5
GET_P50_MAX_RATIO = 2.0
RSS_MAX_MIB = 128.0

# Google Cloud client libraries: none may be loaded on embedded defaults. functions-framework's
# own google.cloud.functions* (and cloudevents, protobuf if any) are not client libraries.
FORBIDDEN_PREFIXES = ("google.cloud.", "grpc", "google.api_core", "google.iam", "google.pubsub")
ALLOWED_PREFIXES = ("google.cloud.functions",)

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


# ------------------------------------------------------------------------------ processes


class Processes:
    """Every process this script starts, each in its own session, killed as a group."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], stderr_path: Path | None = None) -> subprocess.Popen[bytes]:
        stderr = stderr_path.open("wb") if stderr_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=stderr, start_new_session=True)
        finally:
            if stderr_path:
                stderr.close()  # the child holds its own copy
        self._running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The group may outlive its leader (a gunicorn worker): make sure nothing is left.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc in self._running:
            self._running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self._running):
            self.stop(proc)


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh clone: embedded backends, no cloud variable, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLOUD_ENV_PREFIXES)}
    env.update(DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def group_peak_rss_mib(leader: int) -> float:
    """The largest VmHWM among the processes of a process group (the gunicorn worker, usually)."""
    peak_kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgrp = int(stat.rsplit(")", 1)[1].split()[2])
            if pgrp != leader:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            continue
    return peak_kib / 1024


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def path_for(name: str, org: str, provider: str = "openai") -> str:
    pattern = ROUTES[name][1]
    return BASE_PATH + pattern.replace("(?P<org>[^/]+)", org).replace("(?P<provider>[^/]+)", provider)


def cloudevent_request(body: dict[str, Any]) -> Req:
    headers = {"ce-specversion": "1.0", "ce-id": "bench-1", "ce-source": "//pubsub.googleapis.com/bench",
               "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "Content-Type": "application/json"}
    return Req("POST", "/", json.dumps(body).encode(), headers)


def first_request(name: str) -> Req:
    """What a cold start waits for: a request that builds the service (401: no key), or hello's 200."""
    if name == HELLO:
        return Req("GET", "/")
    if name == VALIDATOR:
        return cloudevent_request({"message": {"data": "", "messageId": "1"}})  # malformed: acked (dropped)
    method, _, takes_body = ROUTES[name]
    body = b"{}" if takes_body else None
    return Req(method, path_for(name, "bench_cold"), body, {"Content-Type": "application/json"} if body else {})


def authenticated_request(name: str, api_key: str) -> Req:
    """A request doing real work (auth, store read, format check) without a provider call."""
    if name in (HELLO, VALIDATOR):
        return first_request(name)
    bodies = {"setup_integration": {"credential": "not-a-key"}, "rotate_credential": {"credential": "not-a-key"},
              "update_integration": {"name": "bench"}}
    method, _, takes_body = ROUTES[name]
    body = json.dumps(bodies.get(name, {})).encode() if takes_body else None
    headers = {"X-API-Key": api_key, **({"Content-Type": "application/json"} if body else {})}
    return Req(method, path_for(name, "bench_cold"), body, headers)


def send(conn: http.client.HTTPConnection, req: Req) -> int:
    conn.request(req.method, req.path, body=req.body, headers=req.headers)
    response = conn.getresponse()
    response.read()
    return response.status


def send_once(port: int, req: Req, timeout: float = 30) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return send(conn, req)
    finally:
        conn.close()


# ------------------------------------------------------------------------------ 1 + 4: cold start and RSS


def ff_command(name: str, port: int) -> list[str]:
    source = HELLO_SOURCE if name == HELLO else ROOT / "functions" / name / "main.py"
    command = [FF_CLI, f"--target={name}", f"--source={source}", "--host", "127.0.0.1", "--port", str(port)]
    if name == VALIDATOR:
        command += ["--signature-type", "cloudevent"]
    return command


def cold_start_once(procs: Processes, name: str, env: dict[str, str], api_key: str, rss_requests: int,
                    workdir: Path) -> tuple[float, float, int]:
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


def create_orgs(env: dict[str, str], slugs: list[str]) -> list[str]:
    """Org API keys, made by the project's own service in one subprocess (the CLI makes one per call)."""
    code = ("import json, sys\nfrom shared.container import get_service\n"
            "service = get_service()\nservice.store.init_store()\n"
            "print(json.dumps([service.orgs.create_org(s) for s in sys.argv[1:]]))\n")
    done = subprocess.run([sys.executable, "-c", code, *slugs], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"creating orgs failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    return {n: {"cold_start_s": statistics.median(times[n]), "cold_start_runs": times[n],
                "peak_rss_mib": max(rss[n]), "first_status": statuses[n]} for n in names}


# ------------------------------------------------------------------------------ 5: import time + google check

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
    spec = {"name": name, "source": str(source), "signature": "cloudevent" if name == VALIDATOR else "http",
            "path": request.path, "method": request.method, "body": (request.body or b"").decode(),
            "headers": request.headers, "forbidden": FORBIDDEN_PREFIXES, "allowed": ALLOWED_PREFIXES}
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", IMPORT_PROBE, json.dumps(spec)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, start_new_session=True)
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
        out[name] = {"import_load_ms": statistics.median(r["load"] for r in results),
                     "import_total_ms": statistics.median(r["load"] + r["serve"] for r in results),
                     "probe_status": results[-1]["status"], "google_cloud_modules": forbidden}
    return out


# ------------------------------------------------------------------------------ 2 + 3: warm latency, throughput


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


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[rank]


def run_load(port: int, make_request: Callable[[int, int], Req], total: int, concurrency: int,
             expected: tuple[int, ...]) -> LoadResult:
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
        env = service_env(data_dir, port, providers, LOG_LEVEL="INFO", VALIDATION_RATE_LIMIT="1000000/1",
                          PYTHONPATH=str(ROOT))
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
            status = send_once(port, Req("POST", path_for("setup_integration", slugs[0]) + "?wait=true",
                                         json.dumps({"credential": first_key}).encode(),
                                         {**auth, "Content-Type": "application/json"}))
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
                for label, target_port, make, total, expected in cases:
                    run_load(target_port, make, profile.warmup, concurrency, expected)
                    results[label][concurrency] = run_load(target_port, make, total, concurrency, expected)
                progress(f"warm latency: get/list/hello at concurrency {concurrency}")

            for concurrency in concurrencies:
                # The full path: a new key every time (the same key again is a no-op), one org per worker.
                fresh = [[providers.openai.set(openai_key(), "valid") for _ in range(profile.setup_requests)]
                         for _ in range(concurrency)]

                def make_setup(worker: int, i: int, fresh: list[list[str]] = fresh) -> Req:
                    body = json.dumps({"credential": fresh[worker][i]}).encode()
                    return Req("POST", path_for("setup_integration", slugs[worker]), body,
                               {"X-API-Key": keys[worker], "Content-Type": "application/json"})

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
                "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "requests": len(result.latencies),
                "errors": result.errors, "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
                "throughput_rps": result.throughput,
            }
    return table


# ------------------------------------------------------------------------------ report


def progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n## {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def report(cold: dict[str, Any], imports: dict[str, Any], warm: dict[str, Any]) -> dict[str, bool]:
    bare_cold = cold[HELLO]["cold_start_s"]
    print_table(
        "1. Cold start (process start to first answer, median) and 4. peak RSS",
        ["function", "cold start ms", "x bare", "best ms", "first status", "peak RSS MiB", "x bare"],
        [[n, f"{r['cold_start_s'] * 1000:.0f}", f"{r['cold_start_s'] / bare_cold:.2f}",
          f"{min(r['cold_start_runs']) * 1000:.0f}", r["first_status"],
          f"{r['peak_rss_mib']:.1f}", f"{r['peak_rss_mib'] / cold[HELLO]['peak_rss_mib']:.2f}"]
         for n, r in cold.items()],
    )

    rows = []
    for label in ("get", "list", "setup"):
        for concurrency in (1, 16):
            r, bare = warm[f"{label}@{concurrency}"], warm[f"hello@{concurrency}"]
            rows.append([label, concurrency, f"{r['p50_ms']:.2f}", f"{r['p50_ms'] / bare['p50_ms']:.2f}",
                         f"{r['p99_ms']:.2f}", f"{r['p99_ms'] / bare['p99_ms']:.2f}", r["requests"], r["errors"]])
    for concurrency in (1, 16):
        r = warm[f"hello@{concurrency}"]
        rows.append(["hello (bare)", concurrency, f"{r['p50_ms']:.2f}", "1.00", f"{r['p99_ms']:.2f}", "1.00",
                     r["requests"], r["errors"]])
    print_table("2. Warm latency (shared.cli serve vs hello on the same werkzeug threaded server)",
                ["endpoint", "concurrency", "p50 ms", "x bare", "p99 ms", "x bare", "requests", "errors"], rows)

    setup16, hello16 = warm["setup@16"], warm["hello@16"]
    print_table("3. Setup throughput, embedded backends (new key each request: encrypt, store, queue)",
                ["what", "concurrency", "requests/s", "x bare"],
                [["setup", 16, f"{setup16['throughput_rps']:.0f}",
                  f"{setup16['throughput_rps'] / hello16['throughput_rps']:.2f}"],
                 ["hello (bare)", 16, f"{hello16['throughput_rps']:.0f}", "1.00"]])

    bare_import = imports[HELLO]["import_total_ms"]
    print_table(
        "5. Import time (-X importtime, top-level cumulative, median) and google-cloud client libraries",
        ["function", "module load ms", "+ first request ms", "x bare", "google-cloud imports", "check"],
        [[n, f"{r['import_load_ms']:.0f}", f"{r['import_total_ms']:.0f}", f"{r['import_total_ms'] / bare_import:.2f}",
          ", ".join(r["google_cloud_modules"][:3]) or "none", verdict(not r["google_cloud_modules"])]
         for n, r in imports.items()],
    )

    functions = [n for n in cold if n != HELLO]
    worst_cold = max(functions, key=lambda n: cold[n]["cold_start_s"])
    worst_rss = max(functions, key=lambda n: cold[n]["peak_rss_mib"])
    cold_ratio = cold[worst_cold]["cold_start_s"] / bare_cold
    get_ratios = {c: warm[f"get@{c}"]["p50_ms"] / warm[f"hello@{c}"]["p50_ms"] for c in (1, 16)}
    leaking = [n for n in imports if imports[n]["google_cloud_modules"]]
    checks = {
        "cold_start": cold_ratio <= COLD_START_MAX_RATIO,
        "get_p50": all(r <= GET_P50_MAX_RATIO for r in get_ratios.values()),
        "rss": cold[worst_rss]["peak_rss_mib"] <= RSS_MAX_MIB,
        "no_google_cloud": not leaking,
    }
    print_table("Targets", ["target", "measured", "result"], [
        [f"cold start <= {COLD_START_MAX_RATIO}x bare (every function)", f"{cold_ratio:.2f}x ({worst_cold})",
         verdict(checks["cold_start"])],
        [f"warm p50 of get <= {GET_P50_MAX_RATIO}x bare (c=1, c=16)",
         f"{get_ratios[1]:.2f}x, {get_ratios[16]:.2f}x", verdict(checks["get_p50"])],
        [f"peak RSS <= {RSS_MAX_MIB:.0f} MiB (every function)",
         f"{cold[worst_rss]['peak_rss_mib']:.1f} MiB ({worst_rss})", verdict(checks["rss"])],
        ["no google-cloud client library on embedded defaults", ", ".join(leaking) or "none imported",
         verdict(checks["no_google_cloud"])],
    ])
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations (smoke test)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL

    signal.signal(signal.SIGTERM, _raise_interrupt)
    procs = Processes()
    started = time.monotonic()
    print(f"Benchmarks ({'quick' if args.quick else 'full'}) on {os.cpu_count()} CPUs, Python "
          f"{sys.version.split()[0]}; each figure against a bare functions-framework hello function.", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="integrations-bench-") as tmp:
            workdir = Path(tmp)
            imports = bench_imports(profile, workdir)
            cold = bench_cold_start(procs, profile, workdir)
            warm = bench_warm(procs, profile, workdir)
    except KeyboardInterrupt:
        print("\ninterrupted: every process started here was stopped", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()

    checks = report(cold, imports, warm)
    print(f"\n{time.monotonic() - started:.0f} s; reproduce with: .venv/bin/python benchmarks/run.py"
          f"{' --quick' if args.quick else ''}")
    if args.json:
        args.json.write_text(json.dumps({"profile": "quick" if args.quick else "full", "cold_start_and_rss": cold,
                                         "imports": imports, "warm": warm, "targets": checks}, indent=2))
    return 1 if args.strict and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The whole service as a user runs it: `python -m shared.cli serve` in a subprocess.

Fake providers answer in this process; the server's stdout/stderr go to files, so a test
can search everything the service wrote (logs, data directory) for a canary secret.

On the Google backends (`GoogleBackends`) the same service runs on BigQuery (bqemulator),
Cloud KMS (the gRPC stand-in in this process) and Pub/Sub (Google's emulator); what those
hold (every table's rows, every message published) joins the canary search.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from tests.support.google_backends import GoogleBackends

ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/integrations"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(data_dir: Path, port: int, providers: Any, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("STORE_", "KMS_", "QUEUE_", "PUBSUB_", "BIGQUERY_"))
    }
    env.update(
        PORT=str(port),
        DATA_DIR=str(data_dir),
        LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
        OPENAI_BASE_URL=providers.openai_url,
        ANTHROPIC_BASE_URL=providers.anthropic_url,
        GEMINI_BASE_URL=providers.gemini_url,
        DEEPSEEK_BASE_URL=providers.deepseek_url,
        GCP_TOKEN_URI=providers.token_url,
        BIGQUERY_API_URL=providers.bigquery_url,
        AZURE_AUTHORITY_HOST=providers.azure_authority_url,
        AZURE_MANAGEMENT_URL=providers.azure_management_url,
        PROVIDER_TIMEOUT_SECONDS="5",
        PROVIDER_BACKOFF_SECONDS="0.01",
        PROVIDER_MAX_ATTEMPTS="2",
    )
    env.update(extra)
    return env


class LiveService:
    def __init__(self, workdir: Path, providers: Any, google: GoogleBackends | None = None, **env: str):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.google = google
        if google is not None:
            env = {**google.env(), **env}
        self.env = service_env(self.data_dir, self.port, providers, **env)
        self.url = f"http://127.0.0.1:{self.port}{BASE}"
        self.stdout_path = workdir / "server.stdout"
        self.stderr_path = workdir / "server.stderr"
        self.responses: list[str] = []  # every body the service answered, for canary searches
        self.cli_output: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "shared.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.cli_output += [done.stdout, done.stderr]
        if check and done.returncode != 0:
            raise AssertionError(f"cli {args} failed: {done.stderr}")
        return done

    def create_org(self, slug: str) -> str:
        return self.cli("create-org", slug).stdout.strip().splitlines()[-1]

    @property
    def backend(self) -> str:
        return "google" if self.google is not None else "embedded"

    def start(self) -> "LiveService":
        if self.google is not None:
            self.google.prepare()
            self.cli("init-store")  # as an operator does before the first serve
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=self.stdout_path.open("wb"),
            stderr=self.stderr_path.open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"server exited: {self.stderr_path.read_text()}")
            try:
                httpx.get(self.url + "/ping_org", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("server did not start in 30 s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(5)

    @contextmanager
    def break_encryption(self) -> Iterator[None]:
        """Every encryption fails inside the block, the way this backend fails.

        Local keyring: its file is corrupted, then restored. Cloud KMS: the stand-in answers
        every call with PERMISSION_DENIED (not retried), then its faults are cleared.
        """
        if self.google is None:
            keyring = self.data_dir / "keyring.json"
            original = keyring.read_bytes()
            keyring.write_bytes(b"{ corrupted")
            try:
                yield
            finally:
                keyring.write_bytes(original)
            return
        import grpc

        self.google.kms.fail_next(1000, grpc.StatusCode.PERMISSION_DENIED)
        try:
            yield
        finally:
            self.restore_encryption()

    def restore_encryption(self) -> None:
        """Clear injected KMS faults (the local keyring is restored by break_encryption's block)."""
        if self.google is not None:
            self.google.kms.reset_faults()

    def rotate_master_key(self) -> str:
        """What a key rotation does per backend: the CLI for the local keyring; a new primary
        version on the KMS stand-in (Cloud KMS rotates by itself on its schedule)."""
        if self.google is None:
            return self.cli("keyring", "rotate").stdout
        return self.google.kms.rotate(self.google.key_name)

    def client(self, api_key: str | None) -> "RecordingClient":
        headers = {"X-API-Key": api_key} if api_key else {}
        return RecordingClient(self, httpx.Client(base_url=self.url, headers=headers, timeout=30))

    def logs(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def everything_written(self) -> list[tuple[str, bytes]]:
        """(where, bytes) for every file under the data dir, the logs, every response and CLI output."""
        found = [(str(p), p.read_bytes()) for p in self.data_dir.rglob("*") if p.is_file()]
        found += [("stdout", self.stdout_path.read_bytes()), ("stderr", self.stderr_path.read_bytes())]
        found += [(f"response {i}", body.encode()) for i, body in enumerate(self.responses)]
        found += [(f"cli {i}", out.encode()) for i, out in enumerate(self.cli_output)]
        if self.google is not None:
            found += self.google.dump()
        return found


class RecordingClient:
    def __init__(self, service: LiveService, client: httpx.Client):
        self._service = service
        self._client = client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._client.request(method, path, **kwargs)
        self._service.responses.append(response.text)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def wait_for(self, path: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = self.get(path).json()
            if predicate(body):
                return body
            time.sleep(0.05)
        raise AssertionError(f"{path} never reached the expected state; last: {body}")

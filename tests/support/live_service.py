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
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/integrations"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(data_dir: Path, port: int, providers: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORE_", "KMS_", "QUEUE_", "PUBSUB_", "BIGQUERY_"))}
    env.update(
        PORT=str(port), DATA_DIR=str(data_dir), LOG_LEVEL="DEBUG", PYTHONUNBUFFERED="1",
        OPENAI_BASE_URL=providers.openai_url, ANTHROPIC_BASE_URL=providers.anthropic_url,
        GEMINI_BASE_URL=providers.gemini_url, DEEPSEEK_BASE_URL=providers.deepseek_url,
        GCP_TOKEN_URI=providers.token_url, BIGQUERY_API_URL=providers.bigquery_url,
        PROVIDER_TIMEOUT_SECONDS="5", PROVIDER_BACKOFF_SECONDS="0.01", PROVIDER_MAX_ATTEMPTS="2",
    )
    env.update(extra)
    return env


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the length of a block (the Pub/Sub client reads them once)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class GoogleBackends:
    """Settings and test-side access for a service on bqemulator, the KMS stand-in and the Pub/Sub emulator.

    Every name is unique to this instance (dataset, topics, key), so runs never see each
    other's data. `prepare()` creates the topics and an audit pull subscription on each, so
    every message the service publishes can be read back and searched; `dump()` returns
    every row of every table and every message, for the canary search.
    """

    def __init__(self, bq_url: str, pubsub_host: str, kms: Any, project: str) -> None:
        suffix = uuid.uuid4().hex[:12]
        self.bq_url = bq_url
        self.pubsub_host = pubsub_host
        self.kms = kms
        self.project = project
        self.dataset = f"e2e_{suffix}"
        self.topic = f"validation-{suffix}"
        self.status_topic = f"status-events-{suffix}"
        self.key_name = kms.add_key(f"projects/{project}/locations/global/keyRings/e2e/cryptoKeys/{suffix}")
        self.counts: dict[str, int] = {}
        self._messages: dict[str, list[bytes]] = {self.topic: [], self.status_topic: []}  # drained so far

    def env(self) -> dict[str, str]:
        return {
            "STORE_BACKEND": "bigquery", "GCP_PROJECT": self.project, "BQ_DATASET": self.dataset,
            "BIGQUERY_EMULATOR_HOST": self.bq_url,
            "KMS_BACKEND": "gcp", "KMS_KEY_NAME": self.key_name, "KMS_ENDPOINT": self.kms.endpoint,
            "QUEUE_BACKEND": "pubsub", "PUBSUB_TOPIC": self.topic, "STATUS_EVENTS_TOPIC": self.status_topic,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
        }

    def _audit_subscription(self, topic: str) -> str:
        return f"projects/{self.project}/subscriptions/{topic}-e2e-audit"

    def prepare(self) -> None:
        """Both topics, each with a pull subscription that keeps a copy of every message."""
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        with _environ(PUBSUB_EMULATOR_HOST=self.pubsub_host):
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            with subscriber:
                for topic in (self.topic, self.status_topic):
                    path = publisher.topic_path(self.project, topic)
                    try:
                        publisher.create_topic(name=path, timeout=10)
                    except exceptions.AlreadyExists:
                        pass
                    subscriber.create_subscription(
                        request={"name": self._audit_subscription(topic), "topic": path}, timeout=10)
            publisher.stop()

    def bigquery(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(project=self.project, credentials=AnonymousCredentials(),
                               client_options={"api_endpoint": self.bq_url})

    def dump(self) -> list[tuple[str, bytes]]:
        """Every row of every table of the dataset, and every message of both topics, as bytes."""
        from shared.adapters.bigquery_store import TABLES

        found: list[tuple[str, bytes]] = []
        client = self.bigquery()
        try:
            for table in TABLES:
                rows = list(client.query(f"SELECT * FROM `{self.project}.{self.dataset}.{table}`").result())
                self.counts[table] = len(rows)
                found += [(f"bigquery {table} row {i}", _row_bytes(row)) for i, row in enumerate(rows)]
        finally:
            client.close()
        for topic in (self.topic, self.status_topic):
            messages = self._messages[topic]
            messages += self._drain(self._audit_subscription(topic))  # pulled messages are gone: keep them
            self.counts[topic] = len(messages)
            found += [(f"pubsub {topic} message {i}", m) for i, m in enumerate(messages)]
        return found

    def _drain(self, subscription: str) -> list[bytes]:
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        messages: list[bytes] = []
        with _environ(PUBSUB_EMULATOR_HOST=self.pubsub_host), pubsub_v1.SubscriberClient() as subscriber:
            while True:
                try:
                    response = subscriber.pull(request={"subscription": subscription, "max_messages": 500}, timeout=2)
                except exceptions.DeadlineExceeded:
                    break
                if not response.received_messages:
                    break
                for received in response.received_messages:
                    message = received.message
                    attributes = "".join(f"{k}={v}\n" for k, v in message.attributes.items())
                    messages.append(bytes(message.data) + b"\n" + attributes.encode())
                subscriber.acknowledge(request={"subscription": subscription,
                                                "ack_ids": [r.ack_id for r in response.received_messages]})
        return messages

    def cleanup(self) -> None:
        """Drop the dataset and the audit subscriptions (the emulators outlive this run)."""
        from google.cloud import pubsub_v1

        client = self.bigquery()
        try:
            client.delete_dataset(f"{self.project}.{self.dataset}", delete_contents=True, not_found_ok=True)
        finally:
            client.close()
        with _environ(PUBSUB_EMULATOR_HOST=self.pubsub_host), pubsub_v1.SubscriberClient() as subscriber:
            for topic in (self.topic, self.status_topic):
                try:
                    subscriber.delete_subscription(request={"subscription": self._audit_subscription(topic)}, timeout=5)
                except Exception:  # noqa: BLE001 - best effort; the emulator is ephemeral anyway
                    pass


def _row_bytes(row: Any) -> bytes:
    """A row's values as bytes: BYTES columns raw, everything else as text."""
    parts = [v if isinstance(v, bytes) else str(v).encode() for v in row.values()]
    return b"\n".join(parts)


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
        done = subprocess.run([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)
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
            [sys.executable, "-m", "shared.cli", "serve"], cwd=ROOT, env=self.env,
            stdout=self.stdout_path.open("wb"), stderr=self.stderr_path.open("wb"), start_new_session=True)
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

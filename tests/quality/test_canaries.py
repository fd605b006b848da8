"""Canary secrets: credentials made at test time for every provider (OpenAI, Anthropic, Gemini,
DeepSeek, a GCP service account's private key) and the org API key go through every endpoint
and the validator, successful and failing (provider down, provider rejects, invalid format,
KMS failure, store failure, queue failure, tampered ciphertext), with logs at DEBUG. Then every
byte the service produced is searched for them: logs (JSON lines, and tracebacks rendered by
logging's exc_info), the data directory (SQLite file and its WAL/SHM, keyring, status events),
responses, queue messages (the CloudEvents the local queue POSTs, captured by a forwarding
proxy) and the str()/repr()/traceback of every exception raised.

Two halves: the live server over HTTP (what a user runs), and the use cases in process, where
every exception can be caught and its chain rendered.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from shared.adapters.cloudevents import (
    message_data,
    message_from_cloudevent,
    pubsub_cloudevent_http,
)
from shared.adapters.local_keyring import LocalKeyring
from shared.adapters.sqlite_store import SqliteStore
from shared.logs import JsonFormatter
from shared.service.requests import Actor
from tests.support.doubles import RecordingStatusEvents
from tests.support.faults import FaultyStore, sqlite_failure
from tests.support.world import build_world
from tests.support.live_service import LiveService
from tests.support.provider_servers import (
    ProviderServers,
    anthropic_key,
    deepseek_key,
    gemini_key,
    openai_key,
)

pytestmark = pytest.mark.slow

ORG = "canary_org"


# ---------------------------------------------------------------- canaries


class Canaries:
    """Every secret handed to the service, and the places searched for them."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def add(self, *values: str) -> None:
        self.secrets.extend(v for v in values if v)

    def service_account(self, info: dict[str, Any]) -> dict[str, Any]:
        """Every line of the PEM body (64 base64 characters each) is a canary."""
        lines = info["private_key"].strip().splitlines()[1:-1]
        self.add(*[line for line in lines if len(line) >= 32])
        return info

    def check_the_search(self) -> None:
        """A control: the search finds every canary where it is known to be."""
        planted = [(f"control {i}", b"..." + s.encode() + b"...") for i, s in enumerate(self.secrets)]
        assert len(self.hits(planted)) >= len(self.secrets)

    def hits(self, places: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        found = []
        for where, blob in places:
            for secret in self.secrets:
                for form in {secret, json.dumps(secret)[1:-1]}:
                    if form.encode() in blob:
                        found.append((where, secret[:10] + "..."))
        return found


def data_files(data_dir: Path, label: str) -> list[tuple[str, bytes]]:
    return [(f"{label} {p.name}", p.read_bytes()) for p in data_dir.rglob("*") if p.is_file()]


# ---------------------------------------------------------------- the live server


class RecordingProxy:
    """Forwards the local queue's CloudEvent POSTs to the live validator, keeping a copy."""

    def __init__(self) -> None:
        self.target = ""
        self.bodies: list[bytes] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower().startswith(("ce-", "content-type", "x-validator-token"))
                }
                proxy.bodies.append(json.dumps(headers).encode() + body)
                try:
                    answer = httpx.post(proxy.target + self.path, content=body, headers=headers, timeout=60)
                    status, payload = answer.status_code, answer.content
                except httpx.HTTPError:
                    status, payload = 502, b""
                self.send_response(status)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def test_live_server_writes_no_canary_anywhere(tmp_path: Path) -> None:
    canaries = Canaries()
    with ProviderServers() as providers:
        proxy = RecordingProxy().start()
        live = LiveService(
            tmp_path, providers, VALIDATION_RATE_LIMIT="1000/600", LOG_LEVEL="DEBUG", PROVIDER_TIMEOUT_SECONDS="1"
        )
        proxy.target = f"http://127.0.0.1:{live.port}"
        live.env["VALIDATOR_URL"] = proxy.url + "/_functions/validate_credential"
        live.start()
        try:
            api_key = live.create_org(ORG)
            other_key = live.create_org("other_org")
            canaries.add(api_key, other_key)
            running_snapshot = exercise_over_http(live, providers, canaries, api_key, other_key)
        finally:
            live.stop()
            proxy.stop()
    assert len(canaries.secrets) >= 20
    assert proxy.bodies, "the queue delivered nothing through the proxy"
    assert any(p.endswith("-wal") for p, _ in running_snapshot), "expected the SQLite WAL while running"
    places = [(w, b) for w, b in live.everything_written() if not w.startswith("cli")]
    places += running_snapshot + [(f"queue message {i}", b) for i, b in enumerate(proxy.bodies)]
    # The CLI prints the org API key once, by design (create-org); nothing else may carry a secret.
    cli = [(w, b) for w, b in live.everything_written() if w.startswith("cli")]
    canaries.check_the_search()
    assert canaries.hits(places) == []
    assert [hit for hit in canaries.hits(cli) if hit[1][:4] != "itg_"] == []
    logs = live.logs()
    # The logs were searched with something in them: requests, provider verdicts, failures.
    assert '"provider answered"' in logs and '"validation message handled"' in logs and '"WARNING"' in logs


def exercise_over_http(
    live: LiveService, providers: ProviderServers, canaries: Canaries, api_key: str, other_key: str
) -> list[tuple[str, bytes]]:
    """Every endpoint, successes and failures; returns the data directory as seen while running."""
    client = live.client(api_key)

    def ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
        assert response.status_code in expected, (response.status_code, response.text)
        return response.json() if response.content else {}

    keys = {
        "openai": providers.openai.set(openai_key(), "valid"),
        "anthropic": providers.anthropic.set(anthropic_key(), "valid"),
        "gemini": providers.gemini.set(gemini_key(), "valid"),
        "deepseek": providers.deepseek.set(deepseek_key(), "valid"),
    }
    canaries.add(*keys.values())
    info = canaries.service_account(providers.gcp_service_account("valid"))
    table = {"billing_export_table": f"{info['project_id']}.billing.gcp_billing_export_v1_0A"}

    for provider, key in keys.items():
        ok(client.post(f"/{ORG}/{provider}/setup", json={"credential": key, "name": f"{provider} prod"}), 202)
    ok(client.post(f"/{ORG}/gcp/setup?wait=true", json={"credential": info, "config": table}), 200)
    for provider in keys:
        client.wait_for(f"/{ORG}/{provider}", lambda b: b["status"] == "active")

    # Rotations: one the provider rejects, one it accepts, one staged in the background.
    rejected = openai_key()
    accepted = providers.openai.set(openai_key(), "valid")
    background = providers.anthropic.set(anthropic_key(), "slow")
    canaries.add(rejected, accepted, background)
    assert ok(client.post(f"/{ORG}/openai/rotate?wait=true", json={"credential": rejected}), 200)["rotation"]
    ok(client.post(f"/{ORG}/openai/rotate?wait=true", json={"credential": accepted}), 200)
    providers.anthropic.slow_seconds = 0.2
    ok(client.post(f"/{ORG}/anthropic/rotate", json={"credential": background}), 202)
    client.wait_for(f"/{ORG}/anthropic", lambda b: b["rotation"] is None and b["credential"]["version"] == 2)
    info2 = canaries.service_account(providers.gcp_service_account("valid", key_slot=1))
    ok(client.post(f"/{ORG}/gcp/rotate?wait=true", json={"credential": json.dumps(info2)}), 200)

    # Provider verdicts and outages.
    down = providers.deepseek.set(deepseek_key(), "unavailable")
    scoped = providers.openai.set(openai_key("svcacct"), "missing_scope")
    canaries.add(down, scoped)
    ok(client.post(f"/{ORG}/deepseek/setup?wait=true", json={"credential": down}), 503)  # the provider stays down
    ok(client.post(f"/{ORG}/deepseek/validate"), 503)
    ok(client.post(f"/{ORG}/openai/setup?wait=true", json={"credential": scoped}), 200)
    slow = providers.gemini.set(gemini_key(), "slow")  # longer than PROVIDER_TIMEOUT_SECONDS
    canaries.add(slow)
    providers.gemini.slow_seconds = 3
    ok(client.post(f"/{ORG}/gemini/rotate?wait=true", json={"credential": slow}), 200, 503)

    # Invalid formats: a key of another provider, and a service account with a foreign token_uri.
    foreign = anthropic_key()
    bad_account = canaries.service_account(
        dict(providers.gcp_service_account("valid", key_slot=2), token_uri="https://attacker.example.com/token")
    )
    canaries.add(foreign, "sk-" + foreign)
    ok(client.post(f"/{ORG}/openai/setup", json={"credential": foreign}), 400)
    ok(client.post(f"/{ORG}/openai/setup", json={"credential": "sk-" + foreign, "extra": foreign}), 400)
    ok(client.post(f"/{ORG}/gcp/setup", json={"credential": bad_account}), 400)
    ok(client.post(f"/{ORG}/gcp/setup", json={"credential": json.dumps(bad_account)[:-5]}), 400)
    ok(
        client.post(
            f"/{ORG}/openai/setup",
            content=b'{"credential": "' + foreign.encode() + b'"',
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    ok(client.post(f"/{ORG}/openai/setup", content=foreign.encode(), headers={"Content-Type": "text/plain"}), 415)

    # The org keys in the wrong place, an unknown key and another org's key.
    ok(live.client(other_key).get(f"/{ORG}"), 403)
    ok(live.client(api_key + "x").get(f"/{ORG}/openai"), 401)
    ok(live.client(other_key).post(f"/{ORG}/openai/setup", json={"credential": accepted}), 403)

    # Reads, edits and lifecycle.
    ok(client.get(f"/{ORG}"), 200)
    for provider in (*keys, "gcp"):
        ok(client.get(f"/{ORG}/{provider}"), 200)
        ok(client.get(f"/{ORG}/{provider}/events?limit=500"), 200)
    ok(client.patch(f"/{ORG}/openai", json={"name": "renamed", "config": {"organization": "org-abc"}}), 200)
    ok(client.post(f"/{ORG}/gemini/disable"), 200)
    ok(client.post(f"/{ORG}/gemini/enable"), 202)
    ok(client.post(f"/{ORG}/gcp/validate"), 200)
    live.cli("revalidate")
    live.cli("rewrap")

    # KMS failure: a corrupted keyring; the request fails, the service stays up.
    keyring = live.data_dir / "keyring.json"
    original = keyring.read_bytes()
    keyring.write_bytes(b"{ not a keyring")
    late = providers.openai.set(openai_key(), "valid")
    canaries.add(late)
    ok(client.post(f"/{ORG}/openai/setup", json={"credential": late}), 502)
    keyring.write_bytes(original)

    # A tampered ciphertext: validate cannot decrypt; the answer discloses nothing.
    db = sqlite3.connect(live.data_dir / "integrations.db")
    with db:
        db.execute("UPDATE org_credentials SET ciphertext = CAST(zeroblob(64) AS BLOB) WHERE provider = 'deepseek'")
    db.close()
    ok(client.post(f"/{ORG}/deepseek/validate"), 500, 503, 200)
    running = data_files(live.data_dir, "running")
    ok(client.delete(f"/{ORG}/anthropic"), 204)
    return running


# ---------------------------------------------------------------- in process: every exception


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """Every log record at DEBUG, as JSON lines and as plain lines with full tracebacks."""
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(fields)s", defaults={"fields": ""}))
    structured = logging.StreamHandler(stream)
    structured.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved_level, saved_levels = root.level, {}
    root.setLevel(logging.DEBUG)
    for name in ("httpx", "httpcore", "urllib3", "google", "grpc"):
        saved_levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(plain)
    root.addHandler(structured)
    yield stream
    root.removeHandler(plain)
    root.removeHandler(structured)
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


def flip_a_byte(db_path: Path, provider: str) -> None:
    """Alter one byte of every stored ciphertext of `provider` (a tampered row)."""
    db = sqlite3.connect(db_path)
    with db:
        for rowid, blob in db.execute("SELECT rowid, ciphertext FROM org_credentials WHERE provider = ?", (provider,)):
            altered = bytearray(blob)
            altered[len(altered) // 2] ^= 0x01
            db.execute("UPDATE org_credentials SET ciphertext = ? WHERE rowid = ?", (bytes(altered), rowid))
    db.close()


def rendered(exc: BaseException) -> str:
    """str, repr and the formatted traceback of an exception and of everything chained to it."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def test_use_cases_and_validator_leak_no_canary(tmp_path: Path, debug_logs: io.StringIO) -> None:
    canaries = Canaries()
    errors: list[str] = []
    answers: list[str] = []
    with ProviderServers() as providers:
        store = FaultyStore(SqliteStore(tmp_path / "integrations.db"))
        events = RecordingStatusEvents()
        world = build_world(
            providers,
            tmp_path,
            org=ORG,
            store=store,
            cipher=LocalKeyring(tmp_path / "keyring.json"),
            status_events=events,
            validation_rate_limit="1000/600",
            log_level="DEBUG",
            provider_max_attempts=2,
            validator_max_deliveries=2,
            provider_timeout_seconds=10.0,
        )
        service, queue, api_key = world.service, world.queue, world.api_key
        canaries.add(api_key)

        def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - every exception is searched
                errors.append(rendered(exc))
                return exc
            answers.append(json.dumps(result, default=str))
            return result

        actor = call(service.orgs.authenticate, api_key, ORG)
        assert isinstance(actor, Actor)
        call(service.orgs.authenticate, api_key, "other_org")
        call(service.orgs.authenticate, api_key[:-2], ORG)

        keys = {
            "openai": providers.openai.set(openai_key(), "valid"),
            "anthropic": providers.anthropic.set(anthropic_key(), "valid"),
            "gemini": providers.gemini.set(gemini_key(), "valid"),
            "deepseek": providers.deepseek.set(deepseek_key(), "valid"),
        }
        canaries.add(*keys.values())
        info = canaries.service_account(providers.gcp_service_account("valid"))
        for provider, key in keys.items():
            call(service.setups.setup, actor, provider, {"credential": key})
        call(service.setups.setup, actor, "gcp", {"credential": info}, wait=True)
        for message in list(queue.messages):  # the validator, twice per message (redelivery)
            call(service.messages.handle, message, 1)
            call(service.messages.handle, message, 2)

        # Failures of every kind.
        foreign = anthropic_key()
        canaries.add(foreign)
        call(service.setups.setup, actor, "openai", {"credential": foreign})  # invalid format
        call(service.setups.setup, actor, "openai", {"credential": foreign, foreign[:40]: 1})  # unknown field
        broken_account = canaries.service_account(providers.gcp_service_account("valid", key_slot=1))
        call(service.setups.setup, actor, "gcp", {"credential": dict(broken_account, type="user")})
        call(service.setups.setup, actor, "gcp", {"credential": json.dumps(broken_account)[:-3]})

        down = providers.deepseek.set(deepseek_key(), "unavailable")
        rejected = openai_key()
        canaries.add(down, rejected)
        call(service.setups.rotate, actor, "deepseek", {"credential": down})
        for message in queue.messages[-1:]:
            call(service.messages.handle, message, 1)  # transient: RetryLater
            call(service.messages.handle, message, 2)  # last delivery: settled
        providers.deepseek.set(keys["deepseek"], "unavailable")
        call(service.setups.validate, actor, "deepseek")  # ProviderUnavailableError
        call(service.setups.rotate, actor, "openai", {"credential": rejected}, wait=True)

        keyring = tmp_path / "keyring.json"
        original = keyring.read_bytes()
        keyring.write_bytes(b"{ broken")
        kms_down = providers.gemini.set(gemini_key(), "valid")
        canaries.add(kms_down)
        call(service.setups.rotate, actor, "gemini", {"credential": kms_down})  # EncryptionError
        keyring.write_bytes(original)

        store_down = providers.anthropic.set(anthropic_key(), "valid")
        canaries.add(store_down)
        store.fail("commit", error=sqlite_failure, times=None)  # a real sqlite3 error, chained
        call(service.setups.rotate, actor, "anthropic", {"credential": store_down})
        call(service.setups.setup, actor, "anthropic", {"credential": store_down})
        store.heal()

        queue.fail = 1
        queued_late = providers.openai.set(openai_key(), "valid")
        canaries.add(queued_late)
        call(service.setups.setup, actor, "openai", {"credential": queued_late})

        flip_a_byte(tmp_path / "integrations.db", "gemini")
        call(service.setups.validate, actor, "gemini")  # DecryptionError
        call(service.pipelines.decrypt_for_pipeline, ORG, "gemini", "costs")

        # Every read and lifecycle use case.
        call(service.integrations.list, actor)
        for provider in (*keys, "gcp"):
            call(service.integrations.get, actor, provider)
            call(service.integrations.events, actor, provider, 500)
        call(service.integrations.edit, actor, "openai", {"name": "renamed"})
        call(service.integrations.disable, actor, "anthropic")
        call(service.integrations.enable, actor, "anthropic")
        call(service.revalidation.revalidate_all)
        call(service.rewrap.run)
        call(service.integrations.delete, actor, "deepseek")

        # The validator's own entry: what the queue would carry, through the CloudEvent parser.
        wire: list[tuple[str, bytes]] = []
        for i, message in enumerate(queue.messages):
            headers, body = pubsub_cloudevent_http(message, 1)
            wire.append((f"cloudevent {i}", json.dumps(headers).encode() + body + message_data(message)))
            parsed, _ = message_from_cloudevent({"type": headers["ce-type"], "data": json.loads(body)})
            call(service.messages.handle, parsed, 1)

    assert len(errors) >= 12, "the failures above should each have raised"
    assert any("RetryLater" in e for e in errors) and any("EncryptionError" in e for e in errors)
    assert any("DecryptionError" in e for e in errors) and any("StoreError" in e for e in errors)
    assert any("InvalidFormatError" in e for e in errors) and any("ProviderUnavailableError" in e for e in errors)
    places = [(f"exception {i}", e.encode()) for i, e in enumerate(errors)]
    places += [(f"answer {i}", a.encode()) for i, a in enumerate(answers)]
    places += [("logs", debug_logs.getvalue().encode()), ("status events", json.dumps(events.events).encode())]
    places += wire + data_files(tmp_path, "data")
    assert "Traceback" in debug_logs.getvalue(), "no traceback was logged: exc_info rendering untested"
    canaries.check_the_search()
    assert canaries.hits(places) == []

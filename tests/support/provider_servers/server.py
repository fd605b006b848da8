"""One local HTTP server that answers like a provider; the answers live in one module per provider.

Each server binds 127.0.0.1 on a free port and serves from a daemon thread. What it
answers is chosen by the key the request carries: `server.set(key, "quota")`. Unknown
keys get the provider's invalid-key answer. Auth headers are checked the way the
provider checks them. Requests are recorded by method, path, query and header *names*
(never values), so tests can assert a key never travelled in a URL.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.background_http import BackgroundHttp


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to hold the answer (the "slow" scenario); cut short when the server stops.
    delay: float = 0.0


@dataclass(frozen=True)
class Incoming:
    """One request as the answer function sees it (header values only live here)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    header_names: tuple[str, ...]
    # True when a registered key, or the auth header's value, appears in the URL.
    secret_in_url: bool


Answer = Callable[["ProviderServer", Incoming], Reply]


class ProviderServer:
    """One fake provider. `scenarios` maps key -> scenario name; `answer` builds replies."""

    AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")

    def __init__(self, name: str, answer: Answer):
        self.name = name
        self.answer = answer
        self.scenarios: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self.calls: Counter[str] = Counter()  # per key, for "flaky"
        self.retry_after = "0"  # what rate-limit answers ask for
        self.slow_seconds = 3.0
        self.state: dict[str, Any] = {}  # provider-specific (GCP: public keys, tokens...)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: BackgroundHttp | None = None

    # -- control
    def set(self, key: str, scenario: str) -> str:
        self.scenarios[key] = scenario
        return key

    def reset(self) -> None:
        with self._lock:
            self.scenarios.clear()
            self.requests.clear()
            self.calls.clear()
            self.retry_after = "0"
            self.slow_seconds = 3.0
            self.state.clear()

    def scenario(self, key: str | None, default: str = "invalid") -> str:
        return self.scenarios.get(key or "", default)

    def count(self, path_suffix: str = "") -> int:
        return sum(1 for r in self.requests if r.path.endswith(path_suffix))

    @property
    def url(self) -> str:
        assert self._http is not None, "server not started"
        return f"http://127.0.0.1:{self._http.port}"

    # -- lifecycle
    def start(self) -> "ProviderServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log requests
                return

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(self.command, split.path, split.query, headers)
                try:
                    reply = server.answer(
                        server, Incoming(self.command, split.path, parse_qs(split.query), headers, body)
                    )
                except Exception as exc:  # noqa: BLE001 - a bug in a fake should be loud, not a hang
                    reply = Reply(500, {"test_server_error": type(exc).__name__})
                if reply.delay and server._stopping.wait(reply.delay):
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._stopping.clear()
        self._http = BackgroundHttp(Handler, name=f"fake-{self.name}")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.stop()
        self._http = None

    def __enter__(self) -> "ProviderServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _record(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        url = path + "?" + query
        values = [headers[h].removeprefix("Bearer ").strip() for h in self.AUTH_HEADERS if headers.get(h)]
        leaked = any(v and v in url for v in values) or any(k in url for k in list(self.scenarios))
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, tuple(sorted(headers)), leaked))


def common_reply(
    server: ProviderServer, key: str, scenario: str, ok: Callable[[], Reply], transient: Reply
) -> Reply | None:
    """Scenarios every provider shares: valid, slow, flaky, unavailable."""
    if scenario == "valid":
        return ok()
    if scenario == "slow":
        return Reply(200, ok().body, delay=server.slow_seconds)
    if scenario == "flaky":
        with server._lock:
            server.calls[key] += 1
            first = server.calls[key] == 1
        return transient if first else ok()
    if scenario == "unavailable":
        return transient
    return None

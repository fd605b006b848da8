"""`python -m shared.cli serve` in a subprocess, attacked from the same machine.

The validator endpoint refuses anyone without the token of this run (the local queue has
it, so validations still flow), and malformed HTTP gets a prompt JSON error. Further cases
run in-process in tests/integration/test_local_server.py.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Iterator

import httpx
import pytest

from shared.adapters.cloudevents import pubsub_cloudevent_http
from shared.domain.models import ValidationMessage
from tests.support.live_service import LiveService
from tests.support.provider_servers import ProviderServers, openai_key

pytestmark = pytest.mark.slow

ORG = "acme_corp"
VALIDATOR = "/_functions/validate_credential"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[LiveService, ProviderServers]]:
    with ProviderServers() as providers:
        service = LiveService(tmp_path_factory.mktemp("serve-hardening"), providers).start()
        try:
            yield service, providers
        finally:
            service.stop()


def test_only_the_local_queue_reaches_the_validator(live) -> None:
    service, providers = live
    client = service.client(service.create_org(ORG))
    key = providers.openai.set(openai_key(), "valid")
    # The local queue delivers the setup's validation: it holds the token.
    assert client.post(f"/{ORG}/openai/setup", json={"credential": key}).status_code == 202
    client.wait_for(f"/{ORG}/openai", lambda b: b["status"] == "active")
    providers.openai.set(key, "invalid")  # a revalidation would now expire it
    calls = providers.openai.count("/models")

    headers, body = pubsub_cloudevent_http(ValidationMessage(kind="revalidate"), 1)
    base = f"http://127.0.0.1:{service.port}{VALIDATOR}"
    for url, extra in [(base, {}), (base, {"X-Validator-Token": "guess"}), (base + "?token=guess", {})]:
        answer = httpx.post(url, headers={**headers, **extra}, content=body, timeout=30)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", answer.text
    assert providers.openai.count("/models") == calls
    assert client.get(f"/{ORG}/openai").json()["status"] == "active"

    # The operator's revalidate (another process) reads the token file and gets through.
    service.cli("revalidate")
    client.wait_for(f"/{ORG}/openai", lambda b: b["status"] == "expired")


def test_conflicting_content_length_gets_a_prompt_json_error(live) -> None:
    service, _ = live
    request = (
        f"POST /api/v1/integrations/{ORG}/openai/setup HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 50\r\n\r\n{}"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", service.port), timeout=15) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    assert time.monotonic() - started < 5, "the server waited for a body that never comes"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_an_oversized_uri_gets_json_not_html(live) -> None:
    service, _ = live
    with socket.create_connection(("127.0.0.1", service.port), timeout=15) as sock:
        sock.sendall(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 ") and json.loads(body)["error"]["code"] == "uri_too_long"

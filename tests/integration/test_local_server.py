"""The local one-port server (`shared.cli serve`) as a raw socket sees it, run in this process.

- Its validator endpoint answers only the token `serve` issued (the local queue sends it):
  anyone else on the machine gets 404 `not_found` and changes nothing.
- Malformed HTTP gets a JSON error from the catalogue, promptly, never HTML or silence.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Iterator

import httpx
import pytest

from shared import validator_token
from shared.adapters.cloudevents import pubsub_cloudevent_http
from shared.adapters.local_queue import LocalQueue
from shared.domain.models import ValidationMessage
from shared.server import VALIDATOR_PATH, make_local_server
from tests.support.provider_servers import openai_key

ORG = "acme_corp"
BASE = "/api/v1/integrations"
READ_TIMEOUT = 1.0


class Server:
    def __init__(self, server) -> None:
        self.server = server
        self.port = server.server_port
        self.url = f"http://127.0.0.1:{self.port}"

    def raw(self, data: bytes, *, wait: float = 10.0, keep_open: bool = True) -> tuple[bytes, float]:
        """Send bytes, read the answer until the server closes; (answer, seconds it took)."""
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as sock:
            try:
                sock.sendall(data)
            except OSError:  # the server may refuse before the client finished sending
                pass
            if not keep_open:
                sock.shutdown(socket.SHUT_WR)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except (TimeoutError, ConnectionResetError):
                pass
        return answer, time.monotonic() - started


@pytest.fixture
def local_server(service_env) -> Iterator[Server]:
    token = validator_token.issue(service_env.data_dir)  # what `serve` does at start
    server = make_local_server("127.0.0.1", 0, token, read_timeout=READ_TIMEOUT)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def status_and_body(answer: bytes) -> tuple[str, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n")[0].decode("latin-1")
    assert b"content-type: application/json" in head.lower(), answer[:300]
    return status_line, json.loads(body)


# ---------------------------------------------------------------- the validator's token (item 13)


def _active_integration_about_to_expire(service_env) -> str:
    """An active OpenAI integration whose key the provider now rejects: a revalidation would expire it."""
    api_key = service_env.create_org(ORG)
    service = service_env.service
    key = service_env.servers.openai.set(openai_key(), "valid")
    service.setups.setup(service.orgs.authenticate(api_key, ORG), "openai", {"credential": key}, wait=True)
    assert service.store.get_integration(ORG, "openai").status.value == "active"
    service_env.servers.openai.set(key, "invalid")
    return api_key


def _revalidate_event() -> tuple[dict[str, str], bytes]:
    return pubsub_cloudevent_http(ValidationMessage(kind="revalidate"), 1)


def test_the_validator_refuses_a_request_without_the_token_and_changes_nothing(service_env, local_server) -> None:
    _active_integration_about_to_expire(service_env)
    calls = service_env.servers.openai.count("/models")
    headers, body = _revalidate_event()
    for extra, query in [
        ({}, ""),
        ({validator_token.HEADER: "wrong"}, ""),
        ({}, "?token=wrong"),
        ({validator_token.HEADER: ""}, "?token="),
    ]:
        answer = httpx.post(local_server.url + VALIDATOR_PATH + query, headers={**headers, **extra}, content=body)
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"error": {"code": "not_found", "message": "Not found"}}
    assert service_env.servers.openai.count("/models") == calls  # no provider call
    assert service_env.service.store.get_integration(ORG, "openai").status.value == "active"


def test_the_validator_takes_the_token_in_a_header_or_the_push_query_string(service_env, local_server) -> None:
    _active_integration_about_to_expire(service_env)
    token = validator_token.read(service_env.data_dir / validator_token.FILE_NAME)
    headers, body = _revalidate_event()
    answer = httpx.post(
        local_server.url + VALIDATOR_PATH, headers={**headers, validator_token.HEADER: token}, content=body, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert service_env.service.store.get_integration(ORG, "openai").status.value == "expired"
    answer = httpx.post(f"{local_server.url}{VALIDATOR_PATH}?token={token}", headers=headers, content=body, timeout=30)
    assert answer.status_code == 200, answer.text


def test_the_local_queue_delivers_with_the_token_it_reads_from_the_data_dir(service_env, local_server) -> None:
    _active_integration_about_to_expire(service_env)
    token_file = service_env.data_dir / validator_token.FILE_NAME
    assert token_file.stat().st_mode & 0o777 == 0o600
    with LocalQueue(local_server.url + VALIDATOR_PATH, max_attempts=3, backoff=0.01) as stranger:
        stranger.publish(ValidationMessage(kind="revalidate"))  # no token file: refused, not retried
        assert stranger.drain(timeout=30)
    assert service_env.service.store.get_integration(ORG, "openai").status.value == "active"
    with LocalQueue(local_server.url + VALIDATOR_PATH, max_attempts=3, backoff=0.01, token_file=token_file) as queue:
        queue.publish(ValidationMessage(kind="revalidate"))
        assert queue.drain(timeout=30)
    assert service_env.service.store.get_integration(ORG, "openai").status.value == "expired"


def test_a_new_token_replaces_the_old_one(tmp_path) -> None:
    first = validator_token.issue(tmp_path)
    second = validator_token.issue(tmp_path)
    assert first != second and validator_token.read(tmp_path / validator_token.FILE_NAME) == second
    assert validator_token.accepts({"HTTP_X_VALIDATOR_TOKEN": second}, second)
    assert not validator_token.accepts({"HTTP_X_VALIDATOR_TOKEN": first}, second)
    assert not validator_token.accepts({"HTTP_X_VALIDATOR_TOKEN": second}, None)  # no token issued: nobody
    assert [p.name for p in tmp_path.iterdir()] == [validator_token.FILE_NAME]


# ---------------------------------------------------------------- malformed HTTP (item 15)

PATH = f"{BASE}/{ORG}".encode()
SETUP = f"{BASE}/{ORG}/openai/setup".encode()


def post(path: bytes, headers: bytes, body: bytes = b"") -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers + b"\r\n" + body


REFUSED = [
    ("uri-too-long", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (
        "header-line-too-long",
        b"GET " + PATH + b" HTTP/1.1\r\nX-A: " + b"a" * 70000 + b"\r\n\r\n",
        431,
        "headers_too_large",
    ),
    (
        "too-many-headers",
        b"GET " + PATH + b" HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n",
        431,
        "headers_too_large",
    ),
    (
        "headers-too-large-in-all",
        b"GET " + PATH + b" HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 4000) for i in range(30)) + b"\r\n",
        431,
        "headers_too_large",
    ),
    (
        "conflicting-content-length",
        post(SETUP, b"Content-Length: 2\r\nContent-Length: 50\r\n", b"{}"),
        400,
        "bad_request",
    ),
    ("content-length-not-a-number", post(SETUP, b"Content-Length: abc\r\n", b"{}"), 400, "bad_request"),
    ("negative-content-length", post(SETUP, b"Content-Length: -1\r\n", b"{}"), 400, "bad_request"),
    (
        "content-length-and-chunked",
        post(SETUP, b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
        400,
        "bad_request",
    ),
    (
        "unknown-transfer-encoding",
        post(SETUP, b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
        400,
        "bad_request",
    ),
    ("bad-chunk", post(SETUP, b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"), 400, "bad_request"),
    ("body-too-large", post(SETUP, b"Content-Length: 70000\r\n", b"{" * 70000), 413, "payload_too_large"),
    (
        "chunked-too-large",
        post(SETUP, b"Transfer-Encoding: chunked\r\n", b"11170\r\n" + b"{" * 70000 + b"\r\n"),
        413,
        "payload_too_large",
    ),
    ("garbage", b"HELLO\r\n\r\n", 400, "bad_request"),
    ("bad-request-line", b"GET  /a b c HTTP/1.1\r\n\r\n", 400, "bad_request"),
    ("bad-version", b"GET " + PATH + b" HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
    (
        "header-without-colon",
        b"GET " + PATH + b" HTTP/1.1\r\nHost: x\r\nnot a header\r\nX: y\r\n\r\n",
        400,
        "bad_request",
    ),
]


@pytest.mark.parametrize("request_bytes,status,code", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_malformed_http_gets_a_prompt_json_catalogue_error(
    local_server, request_bytes: bytes, status: int, code: str
) -> None:
    answer, seconds = local_server.raw(request_bytes)
    status_line, body = status_and_body(answer)
    assert status_line.startswith(f"HTTP/1.1 {status} "), status_line
    assert body["error"]["code"] == code
    assert seconds < READ_TIMEOUT * 5  # answered, not left waiting for a body or a close
    # Neither the status line nor the body repeats the request.
    for echoed in (b"HELLO", b"/a b c", b"9.9", b"abc", b"not a header", b"aaaa", b"gzip"):
        assert echoed.decode() not in status_line and echoed.decode() not in json.dumps(body)


@pytest.mark.parametrize(
    "request_bytes",
    [
        post(SETUP, b"Content-Length: 50\r\n", b'{"credential": '),  # the rest of the body never comes
        b"GET " + PATH + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ",  # nor the end of the headers
        post(SETUP, b"Transfer-Encoding: chunked\r\n", b"10\r\n{"),  # nor the rest of a chunk
    ],
    ids=["body", "headers", "chunked-body"],
)
def test_a_request_that_stops_arriving_gets_408_after_the_read_timeout(local_server, request_bytes: bytes) -> None:
    answer, seconds = local_server.raw(request_bytes)
    status_line, body = status_and_body(answer)
    assert status_line.startswith("HTTP/1.1 408 ") and body["error"]["code"] == "request_timeout"
    assert READ_TIMEOUT * 0.9 <= seconds < READ_TIMEOUT * 5


def test_a_client_dripping_a_header_cannot_stretch_the_deadline(local_server) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", local_server.port), timeout=10) as sock:
        sock.sendall(b"GET " + PATH + b" HTTP/1.1\r\nX-Drip: ")
        answer = b""
        try:
            for _ in range(40):  # one byte every 0.2 s: each gap is shorter than the timeout
                sock.sendall(b"a")
                time.sleep(0.2)
        except OSError:
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    assert b" 408 " in answer.split(b"\r\n")[0]
    assert time.monotonic() - started < READ_TIMEOUT * 5 + 1


def test_well_formed_requests_still_work_chunked_bodies_included(service_env, local_server) -> None:
    api_key = service_env.create_org(ORG)
    answer = httpx.get(f"{local_server.url}{BASE}/{ORG}", headers={"X-API-Key": api_key})
    assert answer.status_code == 200 and answer.json()["org"] == ORG
    # PATCH answers 404 not_configured only once it parsed the body as an object of allowed fields.
    patch = f"{BASE}/{ORG}/openai".encode()
    body = b'{"name": "OpenAI"}'
    auth = b"X-API-Key: " + api_key.encode() + b"\r\n"
    for framing, payload in [
        (b"Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)),
        (
            b"Transfer-Encoding: chunked\r\n",
            b"3;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (body[:3], len(body) - 3, body[3:]),
        ),
        (b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body)), body),  # agreeing twice
        (b"Content-Length: %d\r\n" % len(body), body),
    ]:
        raw, _ = local_server.raw(b"PATCH" + post(patch, auth + framing, payload)[4:])
        status_line, error = status_and_body(raw)
        assert " 404 " in status_line and error["error"]["code"] == "not_configured", (framing, raw[:300])

"""The requests each function is measured with, and sending them over http.client."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import HELLO, VALIDATOR
from shared.web import BASE_PATH, ROUTES


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
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "bench-1",
        "ce-source": "//pubsub.googleapis.com/bench",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "Content-Type": "application/json",
    }
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
    bodies = {
        "setup_integration": {"credential": "not-a-key"},
        "rotate_credential": {"credential": "not-a-key"},
        "update_integration": {"name": "bench"},
    }
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

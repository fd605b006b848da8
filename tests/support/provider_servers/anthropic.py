"""Anthropic's `GET /v1/models`, with its documented error shapes (see docs/providers.md)."""

from __future__ import annotations

import secrets

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply, common_reply


def _anthropic_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_" + secrets.token_hex(12)}
    return Reply(status, body, headers or {})


def answer_anthropic(server: ProviderServer, req: Incoming) -> Reply:
    if req.method != "GET" or req.path != "/v1/models":
        return _anthropic_error(404, "not_found_error", "Not found")
    key = req.headers.get("x-api-key", "")
    if not key:
        return _anthropic_error(401, "authentication_error", "x-api-key header is required")
    if "anthropic-version" not in req.headers:
        return _anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
    if req.headers["anthropic-version"] != "2023-06-01":
        return _anthropic_error(400, "invalid_request_error", "anthropic-version: invalid version")

    def ok() -> Reply:
        data = [
            {
                "type": "model",
                "id": "claude-sonnet-4-20250514",
                "display_name": "Claude Sonnet 4",
                "created_at": "2025-05-22T00:00:00Z",
            }
        ]
        return Reply(200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[0]["id"]})

    scenario = server.scenario(key)
    overloaded = _anthropic_error(529, "overloaded_error", "Overloaded")
    common = common_reply(server, key, scenario, ok, overloaded)
    if common is not None:
        return common
    if scenario == "forbidden":
        return _anthropic_error(
            403, "permission_error", "Your API key does not have permission to use the specified resource."
        )
    if scenario == "billing":
        return _anthropic_error(402, "billing_error", "Your credit balance is too low to access the Anthropic API.")
    if scenario == "rate_limited":
        return _anthropic_error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            {"retry-after": server.retry_after},
        )
    if scenario == "server_error":
        return _anthropic_error(500, "api_error", "Internal server error")
    if scenario == "timeout_error":
        return _anthropic_error(504, "timeout_error", "Request timed out")
    return _anthropic_error(401, "authentication_error", "invalid x-api-key")

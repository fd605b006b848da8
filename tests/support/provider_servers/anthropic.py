"""Anthropic: `GET /v1/models` and the Admin API the cost pipelines read
(`GET /v1/organizations/cost_report`, `/v1/organizations/usage_report/messages`,
`/v1/organizations/me`), with Anthropic's documented error and page shapes (see docs/providers.md).

Key types behave as Anthropic's do: Admin keys (`sk-ant-admin01-`) are refused on
`/v1/models` (401 `authentication_error`), API keys on `/v1/organizations/*` (403
`permission_error`).

Scenarios on /v1/models: valid, invalid, forbidden, billing, rate_limited, server_error,
timeout_error, plus the shared slow / flaky / unavailable. On /v1/organizations/*, for Admin
keys: the same names (forbidden: 403 `permission_error`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply, common_reply

ADMIN_PREFIX = "sk-ant-admin01-"
REPORTS = ("/v1/organizations/cost_report", "/v1/organizations/usage_report/messages")
ORGANIZATION_PATHS = (*REPORTS, "/v1/organizations/me")


def _anthropic_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_" + secrets.token_hex(12)}
    return Reply(status, body, headers or {})


def _invalid_key() -> Reply:
    return _anthropic_error(401, "authentication_error", "invalid x-api-key")


def _failures(server: ProviderServer, scenario: str) -> Reply | None:
    """Answers a scenario gets on any endpoint."""
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
    return None


def answer_anthropic(server: ProviderServer, req: Incoming) -> Reply:
    if req.method != "GET" or (req.path != "/v1/models" and req.path not in ORGANIZATION_PATHS):
        return _anthropic_error(404, "not_found_error", "Not found")
    key = req.headers.get("x-api-key", "")
    if not key:
        return _anthropic_error(401, "authentication_error", "x-api-key header is required")
    if "anthropic-version" not in req.headers:
        return _anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
    if req.headers["anthropic-version"] != "2023-06-01":
        return _anthropic_error(400, "invalid_request_error", "anthropic-version: invalid version")
    scenario = server.scenario(key)
    if scenario == "invalid":
        return _invalid_key()
    admin = key.startswith(ADMIN_PREFIX)
    if req.path in ORGANIZATION_PATHS:
        if not admin:
            return _anthropic_error(
                403, "permission_error", "Your API key does not have permission to use the specified resource."
            )
        ok = (lambda: organization_page(req)) if req.path in REPORTS else _organization
    elif admin:
        return _invalid_key()  # Admin keys serve the Admin API only
    else:
        ok = _models
    overloaded = _anthropic_error(529, "overloaded_error", "Overloaded")
    return common_reply(server, key, scenario, ok, overloaded) or _failures(server, scenario) or _invalid_key()


def _models() -> Reply:
    data = [
        {
            "type": "model",
            "id": "claude-sonnet-4-20250514",
            "display_name": "Claude Sonnet 4",
            "created_at": "2025-05-22T00:00:00Z",
        }
    ]
    return Reply(200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[0]["id"]})


def _organization() -> Reply:
    return Reply(200, {"id": "12345678-1234-5678-1234-567812345678", "type": "organization", "name": "Test Org"})


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _result(path: str) -> dict:
    if path.endswith("/cost_report"):
        return {"currency": "USD", "amount": "123.45", "workspace_id": None, "description": None, "cost_type": None,
                "context_window": None, "model": None, "service_tier": None, "token_type": None}  # fmt: skip
    return {"uncached_input_tokens": 1500, "cache_read_input_tokens": 0, "output_tokens": 500,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "server_tool_use": {"web_search_requests": 0}, "api_key_id": None, "workspace_id": None,
            "model": None, "service_tier": None, "context_window": None}  # fmt: skip


def organization_page(req: Incoming) -> Reply:
    """One page of daily buckets from `starting_at` (required, RFC 3339) to now."""
    starting_at = _parse_time(req.query.get("starting_at", [""])[0])
    limit = req.query.get("limit", ["7"])[0]
    if starting_at is None or not limit.isdigit() or not 1 <= int(limit) <= 31:
        return _anthropic_error(400, "invalid_request_error", "starting_at: must be an RFC 3339 timestamp")
    day = starting_at.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    now, buckets = datetime.now(timezone.utc), []
    while day < now:
        end = day + timedelta(days=1)
        buckets.append({"starting_at": day.isoformat().replace("+00:00", "Z"),
                        "ending_at": end.isoformat().replace("+00:00", "Z"), "results": [_result(req.path)]})  # fmt: skip
        day = end
    more = len(buckets) > int(limit)
    next_page = "page_" + secrets.token_hex(8) if more else None
    return Reply(200, {"data": buckets[: int(limit)], "has_more": more, "next_page": next_page})

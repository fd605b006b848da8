"""OpenAI: `GET /v1/models` and the organization APIs the cost pipelines read
(`GET /v1/organization/costs`, `GET /v1/organization/usage/completions`), with OpenAI's
documented error shapes and page shapes (see docs/providers.md).

Key types behave as OpenAI's do:
  - Admin keys (`sk-admin-`) are refused on `/v1/models` ("Missing scopes: api.model.read");
  - every other key is refused on the organization APIs ("Missing scopes: api.usage.read").
OpenAI sends those refusals as 401 or as 403: `server.state["missing_scope_status"] = 403`
switches every "Missing scopes" answer (the `missing_scope` scenario's too) to 403 (default 401).

Scenarios on /v1/models: valid, invalid, missing_scope, forbidden, quota, rate_limited,
server_error, plus the shared slow / flaky / unavailable. On the organization APIs, for
Admin keys: valid, read_only (no api.usage.read), forbidden, rate_limited, server_error,
and the shared ones.
"""

from __future__ import annotations

import secrets
import time

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply, common_reply

ADMIN_PREFIX = "sk-admin-"
DAY = 86400
ORGANIZATION_PATHS = ("/v1/organization/costs", "/v1/organization/usage/completions")


def openai_error(
    status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers or {})


def _masked(key: str) -> str:
    # OpenAI's 401 echoes a masked key; the validator must never copy provider messages.
    return key[:8] + "*" * 20 + key[-4:]


def missing_scopes(server: ProviderServer, scope: str) -> Reply:
    """OpenAI's refusal of a key without a scope (code null, as OpenAI sends it)."""
    return openai_error(
        server.state.get("missing_scope_status", 401),
        f"You have insufficient permissions for this operation. Missing scopes: {scope}. Check that you have the "
        "correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a "
        "restricted API key, that it has the necessary scopes.",
        "invalid_request_error",
        None,
    )


def invalid_key(key: str) -> Reply:
    return openai_error(
        401,
        f"Incorrect API key provided: {_masked(key)}. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )


def openai_models(server: ProviderServer) -> Reply:
    models = [
        {"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"} for m in ("gpt-4o", "gpt-4o-mini")
    ]
    return Reply(200, {"object": "list", "data": models}, {"x-request-id": "req_" + secrets.token_hex(8)})


def _shared_failures(server: ProviderServer, scenario: str) -> Reply | None:
    """Answers a scenario gets on any endpoint."""
    if scenario == "forbidden":
        return openai_error(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        )
    if scenario == "rate_limited":
        return openai_error(
            429,
            "Rate limit reached for default-model in organization org-test on requests per min (RPM): Limit 3, Used 3, "
            "Requested 1. Please try again in 20s.",
            "requests",
            "rate_limit_exceeded",
            {"retry-after": server.retry_after, "x-ratelimit-reset-requests": "20s"},
        )
    if scenario == "server_error":
        return openai_error(
            500, "The server had an error while processing your request. Sorry about that!", "server_error", None
        )
    return None


def answer_openai(server: ProviderServer, req: Incoming, *, models_path: str = "/v1/models") -> Reply:
    organization = models_path == "/v1/models" and req.path in ORGANIZATION_PATHS
    if req.method != "GET" or (req.path != models_path and not organization):
        return openai_error(404, f"Invalid URL ({req.method} {req.path})", "invalid_request_error", None)
    auth = req.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
            "(i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
        )
    key = auth[7:].strip()
    scenario = server.scenario(key)
    if organization:
        return answer_organization(server, req, key, scenario)
    if key.startswith(ADMIN_PREFIX) and scenario != "invalid":
        return missing_scopes(server, "api.model.read")  # Admin keys serve the organization APIs only
    server_error = openai_error(
        503, "The engine is currently overloaded, please try again later.", "server_error", None
    )
    common = common_reply(server, key, scenario, lambda: openai_models(server), server_error)
    if common is not None:
        return common
    if scenario == "missing_scope":
        return openai_error(
            server.state.get("missing_scope_status", 401),
            "You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the "
            "correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a "
            "restricted API key, that it has the necessary scopes.",
            "invalid_request_error",
            "missing_scope",
        )
    if scenario == "quota":
        return openai_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    return _shared_failures(server, scenario) or invalid_key(key)


# -- the organization APIs: Admin keys only


def _bad_parameter(message: str) -> Reply:
    return openai_error(400, message, "invalid_request_error", "invalid_parameter")


def answer_organization(server: ProviderServer, req: Incoming, key: str, scenario: str) -> Reply:
    if scenario == "invalid":
        return invalid_key(key)
    if not key.startswith(ADMIN_PREFIX):
        return missing_scopes(server, "api.usage.read")
    start = req.query.get("start_time", [""])[0]
    limit = req.query.get("limit", ["7"])[0]
    if not start:
        return _bad_parameter("Missing required parameter: 'start_time'.")
    if not start.isdigit() or not limit.isdigit() or not 1 <= int(limit) <= 180:
        return _bad_parameter("Invalid value for 'start_time' or 'limit'.")
    if scenario == "read_only":
        return missing_scopes(server, "api.usage.read")
    server_error = openai_error(503, "The server is overloaded, please try again later.", "server_error", None)

    def page() -> Reply:
        return organization_page(req.path, int(start), int(limit))

    return common_reply(server, key, scenario, page, server_error) or _shared_failures(server, scenario) or page()


def _result(path: str) -> dict:
    if path.endswith("/costs"):
        return {"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"},
                "line_item": None, "project_id": None}  # fmt: skip
    return {"object": "organization.usage.completions.result", "input_tokens": 1000, "output_tokens": 500,
            "input_cached_tokens": 0, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 5,
            "project_id": None, "user_id": None, "api_key_id": None, "model": None, "batch": None}  # fmt: skip


def organization_page(path: str, start: int, limit: int) -> Reply:
    """One page of daily buckets from `start` to now, as OpenAI documents it."""
    first = start - start % DAY
    days = range(first, int(time.time()), DAY)
    buckets = [
        {"object": "bucket", "start_time": day, "end_time": day + DAY, "results": [_result(path)]}
        for day in days[:limit]
    ]
    more = len(days) > limit
    next_page = "page_" + secrets.token_hex(8) if more else None
    return Reply(200, {"object": "page", "data": buckets, "has_more": more, "next_page": next_page})

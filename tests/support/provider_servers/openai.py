"""OpenAI's `GET /v1/models` and DeepSeek's OpenAI-compatible `GET /models`, with the
providers' documented error shapes (see docs/providers.md)."""

from __future__ import annotations

import secrets

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply, common_reply


def _openai_error(
    status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers or {})


def _masked(key: str) -> str:
    # OpenAI's 401 echoes a masked key; the validator must never copy provider messages.
    return key[:8] + "*" * 20 + key[-4:]


def openai_models(server: ProviderServer) -> Reply:
    models = [
        {"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"} for m in ("gpt-4o", "gpt-4o-mini")
    ]
    return Reply(200, {"object": "list", "data": models}, {"x-request-id": "req_" + secrets.token_hex(8)})


def answer_openai(server: ProviderServer, req: Incoming, *, models_path: str = "/v1/models") -> Reply:
    if req.method != "GET" or req.path != models_path:
        return _openai_error(404, f"Invalid URL ({req.method} {req.path})", "invalid_request_error", None)
    auth = req.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return _openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
            "(i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
        )
    key = auth[7:].strip()
    scenario = server.scenario(key)
    server_error = _openai_error(
        503, "The engine is currently overloaded, please try again later.", "server_error", None
    )
    common = common_reply(server, key, scenario, lambda: openai_models(server), server_error)
    if common is not None:
        return common
    if scenario == "missing_scope":
        return _openai_error(
            401,
            "You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the "
            "correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a "
            "restricted API key, that it has the necessary scopes.",
            "invalid_request_error",
            "missing_scope",
        )
    if scenario == "forbidden":
        return _openai_error(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        )
    if scenario == "quota":
        return _openai_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    if scenario == "rate_limited":
        return _openai_error(
            429,
            "Rate limit reached for default-model in organization org-test on requests per min (RPM): Limit 3, Used 3, "
            "Requested 1. Please try again in 20s.",
            "requests",
            "rate_limit_exceeded",
            {"retry-after": server.retry_after, "x-ratelimit-reset-requests": "20s"},
        )
    if scenario == "server_error":
        return _openai_error(
            500, "The server had an error while processing your request. Sorry about that!", "server_error", None
        )
    return _openai_error(
        401,
        f"Incorrect API key provided: {_masked(key)}. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )


def answer_deepseek(server: ProviderServer, req: Incoming) -> Reply:
    """DeepSeek's OpenAI-compatible API: `/models` at the root; 402 Insufficient Balance."""
    auth = req.headers.get("authorization", "")
    key = auth[7:].strip() if auth.startswith("Bearer ") else ""
    if req.method == "GET" and req.path == "/models" and key:
        scenario = server.scenario(key)
        if scenario == "insufficient_balance":
            return _openai_error(402, "Insufficient Balance", "unknown_error", "invalid_request_error")
        if scenario == "invalid":
            return _openai_error(
                401,
                f"Authentication Fails, Your api key: ****{key[-4:]} is invalid",
                "authentication_error",
                "invalid_request_error",
            )
        if scenario == "valid":
            models = [
                {"id": m, "object": "model", "owned_by": "deepseek"} for m in ("deepseek-chat", "deepseek-reasoner")
            ]
            return Reply(200, {"object": "list", "data": models})
    if req.path != "/models":
        return _openai_error(404, "Not Found", "invalid_request_error", None)
    return answer_openai(server, req, models_path="/models")

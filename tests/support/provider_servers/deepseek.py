"""DeepSeek: the OpenAI-compatible `GET /models` (at the root, no /v1) and `GET /user/balance`,
with DeepSeek's error and balance shapes (see docs/providers.md).

Scenarios: valid (balance available), no_balance (`is_available: false`), balance_refused
(the model list answers, the balance call is refused with 403), balance_unavailable (the
balance call answers 503), insufficient_balance (402 on /models), invalid, and the OpenAI
stand-in's rate_limited, slow, flaky, unavailable.
"""

from __future__ import annotations

from tests.support.provider_servers.openai import openai_error, answer_openai
from tests.support.provider_servers.server import Incoming, ProviderServer, Reply, common_reply

# Scenarios whose model list answers (they differ on the balance call).
MODELS_OK = ("valid", "no_balance", "balance_refused", "balance_unavailable")


def _invalid(key: str) -> Reply:
    return openai_error(
        401,
        f"Authentication Fails, Your api key: ****{key[-4:]} is invalid",
        "authentication_error",
        "invalid_request_error",
    )


def _models() -> Reply:
    models = [{"id": m, "object": "model", "owned_by": "deepseek"} for m in ("deepseek-chat", "deepseek-reasoner")]
    return Reply(200, {"object": "list", "data": models})


def balance(available: bool) -> Reply:
    total = "110.00" if available else "0.00"
    info = {"currency": "CNY", "total_balance": total, "granted_balance": "0.00", "topped_up_balance": total}
    return Reply(200, {"is_available": available, "balance_infos": [info]})


def answer_balance(server: ProviderServer, key: str) -> Reply:
    scenario = server.scenario(key)
    if not key or scenario == "invalid":
        return _invalid(key or "none")
    if scenario in ("no_balance", "insufficient_balance"):
        return balance(False)
    if scenario == "balance_refused":
        return openai_error(403, "Permission denied", "permission_error", "invalid_request_error")
    unavailable = openai_error(503, "Service Unavailable", "server_error", None)
    if scenario == "balance_unavailable":
        return unavailable
    if scenario == "rate_limited":
        return openai_error(429, "Rate Limit Reached", "rate_limit_error", None, {"retry-after": server.retry_after})
    return common_reply(server, key, scenario, lambda: balance(True), unavailable) or balance(True)


def answer_deepseek(server: ProviderServer, req: Incoming) -> Reply:
    """DeepSeek's OpenAI-compatible API: `/models` at the root; 402 Insufficient Balance."""
    auth = req.headers.get("authorization", "")
    key = auth[7:].strip() if auth.startswith("Bearer ") else ""
    if req.method == "GET" and req.path == "/user/balance":
        return answer_balance(server, key)
    if req.method == "GET" and req.path == "/models" and key:
        scenario = server.scenario(key)
        if scenario == "insufficient_balance":
            return openai_error(402, "Insufficient Balance", "unknown_error", "invalid_request_error")
        if scenario == "invalid":
            return _invalid(key)
        if scenario in MODELS_OK:
            return _models()
    if req.path != "/models":
        return openai_error(404, "Not Found", "invalid_request_error", None)
    return answer_openai(server, req, models_path="/models")

"""Gemini's `GET /v1beta/models` (key in x-goog-api-key), with Google's documented error
shapes (see docs/providers.md)."""

from __future__ import annotations

from typing import Any

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply, common_reply


def _google_error(status: int, rpc_status: str, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    return Reply(
        status, {"error": {"code": status, "message": message, "status": rpc_status, "details": details or []}}
    )


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": metadata,
    }


GEMINI_SERVICE = "generativelanguage.googleapis.com"
GEMINI_PROJECT = "123456789012"


def answer_gemini(server: ProviderServer, req: Incoming) -> Reply:
    if "key" in req.query:
        # The real API accepts ?key=, but URLs end up in logs: this stand-in refuses it.
        return _google_error(
            400, "INVALID_ARGUMENT", "test server: send the API key in x-goog-api-key, never in the URL"
        )
    if req.method != "GET" or req.path != "/v1beta/models":
        return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
    key = req.headers.get("x-goog-api-key", "")
    if not key:
        return _google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other "
            "form of API consumer identity to call this API.",
        )

    def ok() -> Reply:
        models = [
            {
                "name": "models/gemini-2.0-flash",
                "displayName": "Gemini 2.0 Flash",
                "supportedGenerationMethods": ["generateContent"],
            }
        ]
        return Reply(200, {"models": models, "nextPageToken": ""})

    scenario = server.scenario(key)
    unavailable = _google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    common = common_reply(server, key, scenario, ok, unavailable)
    if common is not None:
        return common
    activation = f"https://console.developers.google.com/apis/api/{GEMINI_SERVICE}/overview?project={GEMINI_PROJECT}"
    if scenario == "service_disabled":
        return _google_error(
            403,
            "PERMISSION_DENIED",
            f"Generative Language API has not been used in project {GEMINI_PROJECT} before or it is disabled. Enable it by "
            f"visiting {activation} then retry.",
            [
                _error_info(
                    "SERVICE_DISABLED",
                    consumer=f"projects/{GEMINI_PROJECT}",
                    service=GEMINI_SERVICE,
                    activationUrl=activation,
                    serviceTitle="Generative Language API",
                    containerInfo=GEMINI_PROJECT,
                ),
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [{"description": "Google developers console API activation", "url": activation}],
                },
            ],
        )
    blocked = {
        "service_blocked": (
            "API_KEY_SERVICE_BLOCKED",
            f"Requests to this API {GEMINI_SERVICE} method google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked.",
        ),
        "referrer_blocked": ("API_KEY_HTTP_REFERRER_BLOCKED", "Requests from referer <empty> are blocked."),
        "ip_blocked": ("API_KEY_IP_ADDRESS_BLOCKED", "The provided API key has an IP address restriction."),
    }
    if scenario in blocked:
        reason, message = blocked[scenario]
        return _google_error(
            403,
            "PERMISSION_DENIED",
            message,
            [_error_info(reason, consumer=f"projects/{GEMINI_PROJECT}", service=GEMINI_SERVICE)],
        )
    if scenario == "failed_precondition":
        return _google_error(
            400,
            "FAILED_PRECONDITION",
            "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.",
        )
    if scenario == "rate_limited":
        return _google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": f"{GEMINI_SERVICE}/generate_content_free_tier_requests"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": server.retry_after + "s"},
            ],
        )
    if scenario == "server_error":
        return _google_error(500, "INTERNAL", "An internal error has occurred.")
    return _google_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            _error_info("API_KEY_INVALID", service=GEMINI_SERVICE),
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    )

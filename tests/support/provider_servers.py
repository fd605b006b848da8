"""Local HTTP servers that answer like OpenAI, Anthropic, Gemini and DeepSeek (and, for
GCP, like Google's OAuth token endpoint and the BigQuery REST API).

Each server binds 127.0.0.1 on a free port and serves from a daemon thread. What it
answers is chosen by the key the request carries: `server.set(key, "quota")`. Unknown
keys get the provider's invalid-key answer. Auth headers are checked the way the
provider checks them. Requests are recorded by method, path, query and header *names*
(never values), so tests can assert a key never travelled in a URL.

Bodies follow the providers' documented error shapes (see docs/providers.md).
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.settings import Settings

# ---------------------------------------------------------------- test keys (made at test time)

_KEY_CHARS = string.ascii_letters + string.digits + "_-"
_ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def openai_key(kind: str = "proj") -> str:
    """A key shaped like OpenAI's: `sk-<kind>-` body around the T3BlbkFJ marker; kind '' = legacy."""
    if not kind:
        return "sk-" + _random(_ALNUM, 20) + "T3BlbkFJ" + _random(_ALNUM, 20)
    return f"sk-{kind}-" + _random(_KEY_CHARS, 74) + "T3BlbkFJ" + _random(_KEY_CHARS, 74)


def anthropic_key(admin: bool = False) -> str:
    prefix = "sk-ant-admin01-" if admin else "sk-ant-api03-"
    return prefix + _random(_KEY_CHARS, 93) + "AA"


def gemini_key() -> str:
    return "AIza" + _random(_KEY_CHARS, 35)


def deepseek_key() -> str:
    return "sk-" + secrets.token_hex(16)


@functools.lru_cache(maxsize=4)
def rsa_private_key(slot: int = 0) -> Any:
    """An RSA-2048 key made at test time (cached per process: generation costs ~100 ms)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_info(
    project_id: str = "billing-test-4821",
    token_uri: str = "https://oauth2.googleapis.com/token",
    account: str = "cost-reader",
    key_slot: int = 0,
) -> dict[str, Any]:
    """A service-account key file as Google issues it, with a key made at test time."""
    domain, _, name = project_id.rpartition(":")
    email_domain = f"{name}.{domain}" if domain else name
    email = f"{account}@{email_domain}.iam.gserviceaccount.com"
    client_id = str(secrets.randbelow(10**20) + 10**20)
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_key_pem(rsa_private_key(key_slot)),
        "client_email": email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }


# ---------------------------------------------------------------- the server machinery


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
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

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
                    reply = server.answer(server, Incoming(self.command, split.path, parse_qs(split.query), headers, body))
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

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that hung up mid-answer is expected in timeout tests

        self._stopping.clear()
        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

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


def common_reply(server: ProviderServer, key: str, scenario: str, ok: Callable[[], Reply], transient: Reply) -> Reply | None:
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


# ---------------------------------------------------------------- OpenAI and DeepSeek


def _openai_error(status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers or {})


def _masked(key: str) -> str:
    # OpenAI's 401 echoes a masked key; the validator must never copy provider messages.
    return key[:8] + "*" * 20 + key[-4:]


def openai_models(server: ProviderServer) -> Reply:
    models = [{"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"} for m in ("gpt-4o", "gpt-4o-mini")]
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
        return _openai_error(403, "Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory")
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
        return _openai_error(500, "The server had an error while processing your request. Sorry about that!", "server_error", None)
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
                401, f"Authentication Fails, Your api key: ****{key[-4:]} is invalid", "authentication_error", "invalid_request_error"
            )
        if scenario == "valid":
            models = [{"id": m, "object": "model", "owned_by": "deepseek"} for m in ("deepseek-chat", "deepseek-reasoner")]
            return Reply(200, {"object": "list", "data": models})
    if req.path != "/models":
        return _openai_error(404, "Not Found", "invalid_request_error", None)
    return answer_openai(server, req, models_path="/models")


# ---------------------------------------------------------------- Anthropic


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
            {"type": "model", "id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4", "created_at": "2025-05-22T00:00:00Z"}
        ]
        return Reply(200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[0]["id"]})

    scenario = server.scenario(key)
    overloaded = _anthropic_error(529, "overloaded_error", "Overloaded")
    common = common_reply(server, key, scenario, ok, overloaded)
    if common is not None:
        return common
    if scenario == "forbidden":
        return _anthropic_error(403, "permission_error", "Your API key does not have permission to use the specified resource.")
    if scenario == "billing":
        return _anthropic_error(402, "billing_error", "Your credit balance is too low to access the Anthropic API.")
    if scenario == "rate_limited":
        return _anthropic_error(
            429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", {"retry-after": server.retry_after}
        )
    if scenario == "server_error":
        return _anthropic_error(500, "api_error", "Internal server error")
    if scenario == "timeout_error":
        return _anthropic_error(504, "timeout_error", "Request timed out")
    return _anthropic_error(401, "authentication_error", "invalid x-api-key")


# ---------------------------------------------------------------- Gemini


def _google_error(status: int, rpc_status: str, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "status": rpc_status, "details": details or []}})


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com", "metadata": metadata}


GEMINI_SERVICE = "generativelanguage.googleapis.com"
GEMINI_PROJECT = "123456789012"


def answer_gemini(server: ProviderServer, req: Incoming) -> Reply:
    if "key" in req.query:
        # The real API accepts ?key=, but URLs end up in logs: this stand-in refuses it.
        return _google_error(400, "INVALID_ARGUMENT", "test server: send the API key in x-goog-api-key, never in the URL")
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
        models = [{"name": "models/gemini-2.0-flash", "displayName": "Gemini 2.0 Flash", "supportedGenerationMethods": ["generateContent"]}]
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
                {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Google developers console API activation", "url": activation}]},
            ],
        )
    blocked = {
        "service_blocked": ("API_KEY_SERVICE_BLOCKED", f"Requests to this API {GEMINI_SERVICE} method google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked."),
        "referrer_blocked": ("API_KEY_HTTP_REFERRER_BLOCKED", "Requests from referer <empty> are blocked."),
        "ip_blocked": ("API_KEY_IP_ADDRESS_BLOCKED", "The provided API key has an IP address restriction."),
    }
    if scenario in blocked:
        reason, message = blocked[scenario]
        return _google_error(
            403, "PERMISSION_DENIED", message, [_error_info(reason, consumer=f"projects/{GEMINI_PROJECT}", service=GEMINI_SERVICE)]
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
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": f"{GEMINI_SERVICE}/generate_content_free_tier_requests"}]},
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
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."},
        ],
    )



# ---------------------------------------------------------------- Google OAuth token endpoint and BigQuery

# Per service account (registered by private_key_id), one scenario:
#   valid, disabled (token 400 invalid_grant), token_unavailable (503), no_list (datasets.list 403),
#   bq_disabled (403 SERVICE_DISABLED), no_job_user / no_data_viewer (dry run 403),
#   table_missing (dry run 404), bq_unavailable (503), bq_rate_limited (403 rateLimitExceeded).


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _oauth_error(error: str, description: str, status: int = 400) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def answer_google_token(server: ProviderServer, req: Incoming) -> Reply:
    """Google's JWT-bearer grant: verifies the RS256 signature against the registered public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if req.method != "POST" or req.path != "/token":
        return Reply(404, {"error": "not_found"})
    if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error("invalid_request", "Invalid Content-Type")
    form = req.form()
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _oauth_error("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
    try:
        head_b64, claims_b64, sig_b64 = form.get("assertion", "").split(".")
        header, claims = json.loads(_unb64(head_b64)), json.loads(_unb64(claims_b64))
    except ValueError:
        return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
    account = server.state.get("accounts", {}).get(header.get("kid"))
    if header.get("alg") != "RS256" or account is None:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    try:
        account["public_key"].verify(_unb64(sig_b64), f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    now = time.time()
    if (
        claims.get("iss") != account["email"]
        or claims.get("aud") != server.url + "/token"
        or not claims.get("scope")
        or not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0))
        or claims["exp"] - claims["iat"] > 3600
    ):
        return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
    scenario = account["scenario"]
    if scenario == "disabled":
        return _oauth_error("invalid_grant", "Invalid grant: account not found")
    if scenario == "token_unavailable":
        return Reply(503, {"error": "internal_failure", "error_description": "Backend Error"})
    token = "ya29.test-" + secrets.token_urlsafe(24)
    with server._lock:
        server.state.setdefault("tokens", {})[token] = account
    return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def _bq_error(status: int, reason: str, message: str, rpc_status: str) -> Reply:
    return Reply(
        status,
        {"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}], "status": rpc_status}},
    )


def answer_bigquery(server: ProviderServer, req: Incoming) -> Reply:
    """BigQuery REST v2: datasets.list and jobs.insert (dry runs only), behind a bearer token."""
    auth = req.headers.get("authorization", "")
    account = server.state.get("tokens", {}).get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
    if account is None:
        return _bq_error(
            401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token.", "UNAUTHENTICATED"
        )
    project, scenario = account["project_id"], account["scenario"]
    parts = req.path.split("/")  # ['', 'bigquery', 'v2', 'projects', P, 'datasets'|'jobs']
    if len(parts) != 6 or parts[1:4] != ["bigquery", "v2", "projects"]:
        return _bq_error(404, "notFound", "Not found: URL " + req.path, "NOT_FOUND")
    if parts[4] != project:
        return _bq_error(403, "accessDenied", f"Access Denied: Project {parts[4]}: User does not have permission", "PERMISSION_DENIED")
    if scenario == "bq_unavailable":
        return _bq_error(503, "backendError", "Error encountered during execution. Retrying may solve the problem.", "UNAVAILABLE")
    if scenario == "bq_rate_limited":
        return _bq_error(403, "rateLimitExceeded", "Exceeded rate limits: too many api requests per user per method", "PERMISSION_DENIED")
    if scenario == "bq_disabled":
        return _bq_error(
            403, "accessNotConfigured",
            f"BigQuery API has not been used in project {project} before or it is disabled.", "PERMISSION_DENIED",
        )  # fmt: skip
    if req.method == "GET" and parts[5] == "datasets":
        if scenario == "no_list":
            return _bq_error(
                403, "accessDenied",
                f"Access Denied: Project {project}: User does not have bigquery.datasets.list permission", "PERMISSION_DENIED",
            )  # fmt: skip
        datasets = [{"kind": "bigquery#dataset", "id": f"{project}:billing", "datasetReference": {"datasetId": "billing", "projectId": project}}]
        return Reply(200, {"kind": "bigquery#datasetList", "etag": "x", "datasets": datasets})
    if req.method == "POST" and parts[5] == "jobs":
        job = req.json() or {}
        config = job.get("configuration", {})
        if config.get("dryRun") is not True:
            return _bq_error(400, "invalid", "test server: only dry runs are allowed", "INVALID_ARGUMENT")
        query = config.get("query", {}).get("query", "")
        server.state.setdefault("queries", []).append(query)
        if scenario == "no_job_user":
            return _bq_error(
                403, "accessDenied",
                f"Access Denied: Project {project}: User does not have bigquery.jobs.create permission in project {project}.",
                "PERMISSION_DENIED",
            )  # fmt: skip
        table = query.partition("`")[2].partition("`")[0]
        if scenario == "no_data_viewer" and table:
            return _bq_error(
                403, "accessDenied",
                f"Access Denied: Table {table.replace('.', ':', 1)}: User does not have permission to query table {table}.",
                "PERMISSION_DENIED",
            )  # fmt: skip
        if scenario == "table_missing" and table:
            return _bq_error(404, "notFound", f"Not found: Table {table.replace('.', ':', 1)} was not found in location US", "NOT_FOUND")
        return Reply(
            200,
            {
                "kind": "bigquery#job",
                "configuration": config,
                "status": {"state": "DONE"},
                "statistics": {"totalBytesProcessed": "0", "query": {"totalBytesProcessed": "0", "statementType": "SELECT"}},
            },
        )
    return _bq_error(405, "invalid", "test server: method not supported", "INVALID_ARGUMENT")


# ---------------------------------------------------------------- the set of servers, as a fixture


class ProviderServers:
    """Every fake provider, started together; base URLs mean what the settings mean."""

    def __init__(self) -> None:
        self.openai = ProviderServer("openai", answer_openai)
        self.anthropic = ProviderServer("anthropic", answer_anthropic)
        self.gemini = ProviderServer("gemini", answer_gemini)
        self.deepseek = ProviderServer("deepseek", answer_deepseek)
        self.google_token = ProviderServer("google-token", answer_google_token)
        self.bigquery = ProviderServer("bigquery", answer_bigquery)
        self.bigquery.state = self.google_token.state  # tokens issued by one are honoured by the other

    @property
    def all(self) -> list[ProviderServer]:
        return [self.openai, self.anthropic, self.gemini, self.deepseek, self.google_token, self.bigquery]

    @property
    def openai_url(self) -> str:  # settings.openai_base_url includes /v1
        return self.openai.url + "/v1"

    @property
    def anthropic_url(self) -> str:  # settings.anthropic_base_url has no /v1
        return self.anthropic.url

    @property
    def gemini_url(self) -> str:  # settings.gemini_base_url has no version
        return self.gemini.url

    @property
    def deepseek_url(self) -> str:  # settings.deepseek_base_url has no /v1
        return self.deepseek.url

    @property
    def token_url(self) -> str:  # settings.gcp_token_uri: the full token endpoint
        return self.google_token.url + "/token"

    @property
    def bigquery_url(self) -> str:  # settings.bigquery_api_url includes /bigquery/v2
        return self.bigquery.url + "/bigquery/v2"

    def gcp_service_account(self, scenario: str = "valid", **kwargs: Any) -> dict[str, Any]:
        """A fresh key file whose token_uri is the local endpoint, registered with `scenario`."""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        info = service_account_info(token_uri=self.token_url, **kwargs)
        public_key = load_pem_private_key(info["private_key"].encode(), None).public_key()
        accounts = self.google_token.state.setdefault("accounts", {})
        accounts[info["private_key_id"]] = {
            "email": info["client_email"], "project_id": info["project_id"], "public_key": public_key, "scenario": scenario,
        }  # fmt: skip
        return info

    def start(self) -> "ProviderServers":
        for server in self.all:
            server.start()
        return self

    def stop(self) -> None:
        for server in self.all:
            server.stop()

    def reset(self) -> None:
        for server in self.all:
            server.reset()

    def __enter__(self) -> "ProviderServers":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def settings(self, **overrides: Any) -> Settings:
        return settings_for(self, **overrides)


def settings_for(servers: ProviderServers, **overrides: Any) -> Settings:
    """Settings pointing every provider at the local servers, with small timeouts and backoff."""
    values: dict[str, Any] = {
        "openai_base_url": servers.openai_url,
        "anthropic_base_url": servers.anthropic_url,
        "gemini_base_url": servers.gemini_url,
        "deepseek_base_url": servers.deepseek_url,
        "provider_timeout_seconds": 0.5,
        "provider_max_attempts": 3,
        "provider_backoff_seconds": 0.01,
        "gcp_token_uri": servers.token_url,
        "bigquery_api_url": servers.bigquery_url,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def _provider_servers_session() -> Iterator[ProviderServers]:
    with ProviderServers() as servers:
        yield servers


@pytest.fixture
def provider_servers(_provider_servers_session: ProviderServers) -> Iterator[ProviderServers]:
    """The fake providers, with no scenarios and no recorded requests at the start of each test."""
    _provider_servers_session.reset()
    yield _provider_servers_session
    _provider_servers_session.reset()

"""HTTP plumbing shared by every function: routing, body parsing, auth, CORS, error rendering.

An entry point is one line: `endpoint("setup_integration", handler)`. The handler gets
the service, the authenticated actor, the path parameters and the parsed body, and
returns (status, body). Everything else (405 with Allow, 413, 415, 401/403, JSON errors,
CORS, logs) happens here, the same way for every function.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from .domain.errors import BadRequestError, IntegrationsError, catalogue_message
from .logs import bind, reset_context

log = logging.getLogger("integrations.http")

BASE_PATH = "/api/v1/integrations"
MAX_BODY = 64 * 1024
_ORG = r"(?P<org>[^/]+)"
_PROVIDER = r"(?P<provider>[^/]+)"

# function name -> (method, path pattern below BASE_PATH, takes a JSON body)
ROUTES: dict[str, tuple[str, str, bool]] = {
    "setup_integration": ("POST", f"/{_ORG}/{_PROVIDER}/setup", True),
    "get_setup_form": ("GET", f"/{_ORG}/{_PROVIDER}/setup", False),
    "validate_integration": ("POST", f"/{_ORG}/{_PROVIDER}/validate", False),
    "rotate_credential": ("POST", f"/{_ORG}/{_PROVIDER}/rotate", True),
    "disable_integration": ("POST", f"/{_ORG}/{_PROVIDER}/disable", False),
    "enable_integration": ("POST", f"/{_ORG}/{_PROVIDER}/enable", False),
    "list_events": ("GET", f"/{_ORG}/{_PROVIDER}/events", False),
    "get_integration": ("GET", f"/{_ORG}/{_PROVIDER}", False),
    "delete_integration": ("DELETE", f"/{_ORG}/{_PROVIDER}", False),
    "update_integration": ("PATCH", f"/{_ORG}/{_PROVIDER}", True),
    "list_integrations": ("GET", f"/{_ORG}", False),
}
_COMPILED = {name: re.compile(pattern + "/?") for name, (_, pattern, _) in ROUTES.items()}


@dataclass(frozen=True)
class Call:
    """What a handler receives."""

    org: str
    provider: str | None
    body: Any
    query: dict[str, str]


Handler = Callable[[Any, Any, Call], tuple[int, Any]]


def _relative(path: str) -> str | None:
    """The path below BASE_PATH, or None: the gateway forwards full public paths to each function."""
    return path[len(BASE_PATH) :] if path.startswith(BASE_PATH + "/") else None


def match(path: str) -> tuple[dict[str, str | None], list[str]]:
    """Path parameters and the function names whose pattern the path matches."""
    rel = _relative(path)
    names, params = [], {}
    if rel is None:
        return params, names
    for name, pattern in _COMPILED.items():
        m = pattern.fullmatch(rel)
        if m:
            names.append(name)
            params = m.groupdict()
    return params, names


def allowed_methods(names: list[str]) -> list[str]:
    return sorted({ROUTES[n][0] for n in names} | {"OPTIONS"})


def error_body(error: IntegrationsError) -> dict[str, Any]:
    # An internal failure's own text (a path, a backend's reason) is for the log, never the client.
    message = catalogue_message("internal") if error.code == "internal" else error.message
    return {"error": {"code": error.code, "message": message}}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None):
    import flask

    payload = "" if body is None else json.dumps(body, separators=(",", ":"))
    response = flask.Response(payload, status=status, mimetype="application/json" if body is not None else None)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def error_response(error: IntegrationsError, extra_headers: dict[str, str] | None = None):
    return json_response(_error_status(error), error_body(error), {**error.headers, **(extra_headers or {})})


def _error_status(error: IntegrationsError) -> int:
    # Provider verdicts (catalogue status 200) are statuses, never request errors.
    return error.status if error.status >= 400 else 400


def _cors_headers(request: Any, settings: Any, methods: list[str]) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if not origin or origin not in settings.allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": "Content-Type, X-API-Key",
        "Access-Control-Max-Age": "600",
    }


def _read_body(request: Any) -> bytes:
    """The raw body, refused early when too large (413) or not JSON (415)."""
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise IntegrationsError(code="payload_too_large")
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise IntegrationsError(code="payload_too_large")
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise IntegrationsError(code="unsupported_media_type")
    return raw


def _parse_json(raw: bytes) -> Any:
    from .domain.text import encodable

    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise BadRequestError("Request body is not valid JSON") from None
    if not encodable(body):  # escaped lone surrogates ("\ud800") parse, then fail everywhere later
        raise BadRequestError("Request body holds text that is not valid Unicode")
    return body


def handle(name: str, handler: Handler, request: Any):
    """Serve one request for function `name`: the whole HTTP life of an endpoint."""
    from .container import get_service, get_settings

    started = time.perf_counter()
    reset_context()
    trace = (request.headers.get("X-Cloud-Trace-Context") or "").split("/")[0]
    bind(trace=trace if re.fullmatch(r"[0-9a-fA-F]{1,64}", trace or "") else None)
    method = request.method.upper()
    params, names = match(request.path)
    cors: dict[str, str] = {}
    status = 500
    try:
        settings = get_settings()  # bad settings: logged by name, answered as a JSON 500
        cors = _cors_headers(request, settings, allowed_methods(names) if names else ["OPTIONS"])
        if name not in names:
            if names:  # another function's path: this one does not take that method
                raise IntegrationsError(code="method_not_allowed", headers={"Allow": ", ".join(allowed_methods(names))})
            raise IntegrationsError(code="not_found")
        if method == "OPTIONS":
            status = 204
            return json_response(204, None, {**cors, "Allow": ", ".join(allowed_methods(names))})
        route_method, _, takes_body = ROUTES[name]
        if method != route_method:
            raise IntegrationsError(code="method_not_allowed", headers={"Allow": ", ".join(allowed_methods(names))})
        raw = _read_body(request) if takes_body else None
        services = get_service()
        actor = services.orgs.authenticate(request.headers.get("X-API-Key"), params["org"])
        body = _parse_json(raw) if takes_body else None
        bind(org=actor.org)  # the provider is bound by the use case, once the registry knows it
        status, payload = handler(services, actor, Call(actor.org, params.get("provider"), body, dict(request.args)))
        return json_response(status, payload, cors)
    except IntegrationsError as error:
        status = _error_status(error)
        if status >= 500:
            cause = error.__cause__ or error.__context__
            log.warning(
                "request failed",
                extra={
                    "fields": {
                        "code": error.code,
                        "error_type": type(error).__name__,
                        "cause_type": type(cause).__name__ if cause else None,
                    }
                },
            )
        return error_response(error, cors)
    except Exception as exc:  # never leak a third-party message: it may hold request data
        status = 500
        log.error("unhandled error", extra={"fields": {"error_type": type(exc).__name__}})
        return error_response(IntegrationsError(code="internal"), cors)
    finally:
        log.info(
            "request",
            extra={
                "fields": {
                    "function": name,
                    "method": method,
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                }
            },
        )


def endpoint(name: str, handler: Handler) -> Callable[[Any], Any]:
    """Make a functions-framework HTTP function out of a handler."""

    def function(request: Any):
        return handle(name, handler, request)

    function.__name__ = name
    return function


def wants_wait(call: Call) -> bool:
    value = call.query.get("wait", "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise BadRequestError("Query parameter 'wait' must be true or false")
    return value in ("true", "1")

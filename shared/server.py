"""Every function on one port, with the production paths: what `python -m shared.cli serve` runs.

Each function is loaded by functions-framework exactly as Cloud Functions loads it, and a
small WSGI dispatcher picks the function by path and method, as the API gateway does in
production. Requests are served on threads, as a gen2 instance with concurrency > 1 does.

The validator is reachable only with the token `serve` issued for this run (see
validator_token.py): anything else on the machine gets the same 404 `not_found` as any
path that is no endpoint (the path is not part of the API, and `forbidden` speaks of org
API keys). Malformed HTTP is refused with JSON errors by http_guard.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from . import console, validator_token
from .domain.errors import IntegrationsError
from .web import ROUTES, error_response, match

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
VALIDATOR = "validate_credential"
VALIDATOR_PATH = f"/_functions/{VALIDATOR}"
CONSOLE = "console"  # the settings pages, outside the API base path (shared/console.py)


def load_function_app(name: str, signature_type: str = "http") -> Any:
    import functions_framework
    from werkzeug.routing import PathConverter, Rule

    app = functions_framework.create_app(
        target=name, source=str(FUNCTIONS_DIR / name / "main.py"), signature_type=signature_type
    )
    if signature_type == "http":
        # Flask's <path> converter stops at a newline (its regex uses "."), so a path holding
        # %0A would get Flask's HTML 404; route every path to the function, which answers JSON.
        class AnyPath(PathConverter):
            regex = r"[^/][\s\S]*?"

        app.url_map.converters["anypath"] = AnyPath
        app.url_map.add(Rule("/<anypath:path>", endpoint="run"))
    return app


def build_app(validator_token_value: str | None = None) -> Callable[..., Any]:
    """The dispatcher; the validator answers only requests carrying `validator_token_value`."""
    apps = {name: load_function_app(name) for name in ROUTES}
    validator = load_function_app(VALIDATOR, "cloudevent")
    pages = load_function_app(CONSOLE)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]):
        path = environ.get("PATH_INFO", "/")
        if path == VALIDATOR_PATH and validator_token.accepts(environ, validator_token_value):
            return validator(environ, start_response)
        if console.serves(path):
            return pages(environ, start_response)
        _, names = match(path)
        if not names:  # no function serves this path: the gateway's answer, in the catalogue's shape
            return error_response(IntegrationsError(code="not_found"))(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        # The function that takes this method; else a function of the path answers 405 with Allow.
        chosen = next((n for n in names if ROUTES[n][0] == method), names[0])
        return apps[chosen](environ, start_response)

    return dispatch


def make_local_server(
    host: str, port: int, validator_token_value: str | None = None, *, read_timeout: float | None = None
) -> Any:
    """The threaded werkzeug server over build_app(), with the guarded request handler."""
    from werkzeug.serving import make_server

    from .http_guard import GuardedRequestHandler

    handler = GuardedRequestHandler
    if read_timeout is not None:
        handler = type("GuardedRequestHandler", (GuardedRequestHandler,), {"read_timeout": read_timeout})
    return make_server(host, port, build_app(validator_token_value), threaded=True, request_handler=handler)


def serve(
    host: str, port: int, on_ready: Callable[[], None] | None = None, *, validator_token_value: str | None = None
) -> None:
    server = make_local_server(host, port, validator_token_value)
    if on_ready:
        on_ready()
    try:
        server.serve_forever()
    finally:
        server.server_close()

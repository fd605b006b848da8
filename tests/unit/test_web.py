"""shared.web through real function apps (functions-framework test clients): routing, 405 with
Allow, 404, 413, 415, 400, 401/403, CORS, error bodies, trace ids in logs, and no 500 for bad input.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.domain.errors import CATALOGUE
from shared.logs import JsonFormatter
from shared.web import MAX_BODY
from tests.support.doubles import function_app
from tests.support.openapi import assert_conforms
from tests.support.provider_servers import openai_key

ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/integrations"
ORG = "acme_corp"
ORIGIN = "https://app.example.com"


def client(name: str) -> Any:
    return function_app(name).test_client()


@pytest.fixture
def api_key(service_env) -> str:
    return service_env.create_org(ORG)


def error_of(response: Any) -> tuple[str, str]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"], body["error"]["message"]


def assert_error(
    response: Any, status: int, code: str, message: str | None = None, method: str = "GET", path: str | None = None
) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    got_code, got_message = error_of(response)
    assert got_code == code
    assert got_message == (message if message is not None else CATALOGUE[code][1])
    assert response.headers["Content-Type"].startswith("application/json")
    if path is not None:
        assert_conforms(method, path, status, response.get_json(), dict(response.headers))


# ---------------------------------------------------------------- 405 and 404


@pytest.mark.parametrize(
    "function,method,path,allow",
    [
        ("get_integration", "PUT", f"/{ORG}/openai", "DELETE, GET, OPTIONS, PATCH"),
        ("get_integration", "POST", f"/{ORG}/openai", "DELETE, GET, OPTIONS, PATCH"),
        ("delete_integration", "PUT", f"/{ORG}/openai", "DELETE, GET, OPTIONS, PATCH"),
        # Two functions share the setup path (GET: the form, POST: the setup); either lists both.
        ("setup_integration", "PUT", f"/{ORG}/openai/setup", "GET, OPTIONS, POST"),
        ("setup_integration", "DELETE", f"/{ORG}/openai/setup", "GET, OPTIONS, POST"),
        ("get_setup_form", "DELETE", f"/{ORG}/openai/setup", "GET, OPTIONS, POST"),
        ("list_integrations", "POST", f"/{ORG}", "GET, OPTIONS"),
        ("list_integrations", "DELETE", f"/{ORG}", "GET, OPTIONS"),
        ("list_events", "POST", f"/{ORG}/openai/events", "GET, OPTIONS"),
        ("validate_integration", "GET", f"/{ORG}/openai/validate", "OPTIONS, POST"),
        # A function asked for another function's path: 405 for the methods of that path.
        ("setup_integration", "PUT", f"/{ORG}/openai", "DELETE, GET, OPTIONS, PATCH"),
    ],
)
def test_405_with_allow_listing_the_methods_of_the_path(
    service_env, api_key, function: str, method: str, path: str, allow: str
) -> None:
    response = client(function).open(BASE + path, method=method, headers={"X-API-Key": api_key})
    assert_error(response, 405, "method_not_allowed", "Method not allowed", method, BASE + path)
    assert response.headers["Allow"] == allow


@pytest.mark.parametrize(
    "path",
    [
        "/",
        BASE,
        BASE + "/",
        f"{BASE}/{ORG}/openai/setup/extra",
        f"{BASE}/{ORG}/openai/nope",
        "/api/v2/integrations/acme_corp",
        f"{BASE}//openai",
        f"{BASE}/{ORG}/openai/events/1",
    ],
)
def test_unknown_path_is_404_not_found(service_env, api_key, path: str) -> None:
    for method in ("GET", "POST"):
        response = client("get_integration").open(path, method=method, headers={"X-API-Key": api_key})
        assert_error(response, 404, "not_found", "Not found")


# ---------------------------------------------------------------- bodies


def test_413_with_content_length(service_env, api_key) -> None:
    body = b'{"credential": "' + b"a" * MAX_BODY + b'"}'
    response = client("setup_integration").post(
        f"{BASE}/{ORG}/openai/setup", data=body, headers={"X-API-Key": api_key, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large", "Request body too large", "POST", f"{BASE}/{ORG}/openai/setup")


def test_413_without_content_length(service_env, api_key) -> None:
    from werkzeug.test import EnvironBuilder

    body = b'{"credential": "' + b"a" * MAX_BODY + b'"}'
    environ = EnvironBuilder(
        path=f"{BASE}/{ORG}/openai/setup",
        method="POST",
        input_stream=io.BytesIO(body),
        headers={"X-API-Key": api_key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)  # a chunked upload: the server knows no length up front
    environ["wsgi.input_terminated"] = True
    from werkzeug.wrappers import Response

    seen: dict[str, Any] = {}
    app = function_app("setup_integration")

    def spy(env: dict[str, Any], start_response: Any) -> Any:  # what the function itself receives
        seen["content_length"] = env.get("CONTENT_LENGTH")
        return app(env, start_response)

    response = Response.from_app(spy, environ)
    assert seen["content_length"] is None
    assert_error(response, 413, "payload_too_large", "Request body too large")


def test_a_body_of_exactly_64_kib_is_read(service_env, api_key) -> None:
    name = "n" * (MAX_BODY - len('{"credential": "sk-x", "name": ""}'))
    body = json.dumps({"credential": "sk-x", "name": name}).encode()
    assert len(body) == MAX_BODY
    response = client("setup_integration").post(
        f"{BASE}/{ORG}/openai/setup", data=body, headers={"X-API-Key": api_key, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "'name'" in error_of(response)[1]  # parsed, then refused


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"],
)
def test_415_for_non_json(service_env, api_key, content_type: str | None) -> None:
    headers = {"X-API-Key": api_key}
    if content_type:
        headers["Content-Type"] = content_type
    response = client("setup_integration").post(
        f"{BASE}/{ORG}/openai/setup", data=b'{"credential": "x"}', headers=headers
    )
    assert_error(
        response,
        415,
        "unsupported_media_type",
        "Content-Type must be application/json",
        "POST",
        f"{BASE}/{ORG}/openai/setup",
    )


def test_json_with_charset_and_problem_json_are_accepted(service_env, api_key) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client("update_integration").patch(
            f"{BASE}/{ORG}/openai", data=b'{"name": "x"}', headers={"X-API-Key": api_key, "Content-Type": content_type}
        )
        assert_error(response, 404, "not_configured", "Integration not configured")


@pytest.mark.parametrize(
    "body,fragment",
    [
        (b"{", "not valid JSON"),
        (b'{"credential": }', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'"sk-x"', "JSON object"),
        (b"5", "JSON object"),
        (b"null", "JSON object"),
        (b"", "JSON object"),
        (b'{"credential": "sk-x", "extra": 1}', "Unknown field in body"),
        (b'{"credential": "sk-x", "' + b"k" * 60 + b'": 1}', "Unknown field"),
    ],
)
def test_400_for_bad_bodies(service_env, api_key, body: bytes, fragment: str) -> None:
    path = f"{BASE}/{ORG}/openai/setup"
    response = client("setup_integration").post(
        path, data=body, headers={"X-API-Key": api_key, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "bad_request" and fragment in message
    assert_conforms("POST", path, 400, response.get_json())


@pytest.mark.parametrize("org", ["AC", "Acme", "acme-corp", "a" * 51, "acme%20corp", "%C3%A9t%C3%A9"])
def test_400_for_a_bad_org_slug(service_env, api_key, org: str) -> None:
    response = client("list_integrations").get(f"{BASE}/{org}", headers={"X-API-Key": api_key})
    assert_error(response, 400, "bad_request", "Organization slug must be 3 to 50 characters of a-z, 0-9 and _")


# ---------------------------------------------------------------- auth


def test_401_and_403(service_env, api_key) -> None:
    other = service_env.create_org("other_org")
    path = f"{BASE}/{ORG}"
    list_client = client("list_integrations")
    assert_error(list_client.get(path), 401, "unauthorized", "Missing or invalid API key", "GET", path)
    assert_error(list_client.get(path, headers={"X-API-Key": ""}), 401, "unauthorized")
    assert_error(list_client.get(path, headers={"X-API-Key": api_key + "x"}), 401, "unauthorized")
    assert_error(list_client.get(path, headers={"Authorization": f"Bearer {api_key}"}), 401, "unauthorized")
    assert_error(
        list_client.get(path, headers={"X-API-Key": other}),
        403,
        "forbidden",
        "API key does not belong to this organization",
        "GET",
        path,
    )
    assert list_client.get(path, headers={"X-API-Key": api_key}).status_code == 200
    assert list_client.get(f"{BASE}/other_org", headers={"X-API-Key": other}).status_code == 200


def test_auth_comes_before_the_body_is_used(service_env, api_key) -> None:
    response = client("setup_integration").post(f"{BASE}/{ORG}/openai/setup", json={"credential": openai_key()})
    assert_error(response, 401, "unauthorized")


# ---------------------------------------------------------------- CORS


def test_cors_for_allowed_origins_only(service_env, api_key) -> None:
    service_env.set(CORS_ORIGINS=f"{ORIGIN}, https://admin.example.com")
    path = f"{BASE}/{ORG}"
    list_client = client("list_integrations")
    allowed = list_client.get(path, headers={"X-API-Key": api_key, "Origin": ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN and "Origin" in allowed.headers["Vary"]
    # Errors carry CORS headers too, so the browser can read them.
    denied = list_client.get(path, headers={"Origin": ORIGIN})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == ORIGIN
    preflight = client("setup_integration").options(
        f"{BASE}/{ORG}/openai/setup",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )
    assert preflight.status_code == 204 and preflight.get_data() == b""
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert {"content-type", "x-api-key"} <= {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert_conforms("OPTIONS", f"{BASE}/{ORG}/openai/setup", 204, None, dict(preflight.headers))
    for origin in ("https://evil.example.com", "null", ORIGIN + ".evil.com", "http://app.example.com"):
        other = list_client.get(path, headers={"X-API-Key": api_key, "Origin": origin})
        assert other.status_code == 200
        assert not [h for h in other.headers.keys() if h.lower().startswith("access-control-")]
        pre = client("setup_integration").options(f"{BASE}/{ORG}/openai/setup", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in pre.headers


def test_no_cors_headers_when_no_origin_is_configured(service_env, api_key) -> None:
    response = client("list_integrations").get(f"{BASE}/{ORG}", headers={"X-API-Key": api_key, "Origin": ORIGIN})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


# ---------------------------------------------------------------- logs


@pytest.fixture
def json_log(service_env) -> Iterator[io.StringIO]:
    """Every log line of the request, formatted at emit time as production formats it."""
    from shared.logs import configure

    configure(service_env.env["LOG_LEVEL"])  # installs the process handler once; ours goes after it
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_trace_id_appears_in_the_json_log_line(service_env, api_key, json_log: io.StringIO) -> None:
    trace = "105445aa7843bc8bf206b12000100000"
    response = client("list_integrations").get(
        f"{BASE}/{ORG}", headers={"X-API-Key": api_key, "X-Cloud-Trace-Context": f"{trace}/1;o=1"}
    )
    assert response.status_code == 200
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [request_line] = [line for line in lines if line["message"] == "request"]
    assert request_line["logging.googleapis.com/trace"] == trace
    assert request_line["org"] == ORG and request_line["status"] == 200 and request_line["severity"] == "INFO"
    assert request_line["function"] == "list_integrations" and request_line["method"] == "GET"
    assert api_key not in json_log.getvalue()


def test_a_malformed_trace_header_is_not_logged(service_env, api_key, json_log: io.StringIO) -> None:
    client("list_integrations").get(
        f"{BASE}/{ORG}", headers={"X-API-Key": api_key, "X-Cloud-Trace-Context": "<script>canary-trace</script>/1"}
    )
    assert "canary-trace" not in json_log.getvalue()
    assert all("logging.googleapis.com/trace" not in json.loads(line) for line in json_log.getvalue().splitlines())


# ---------------------------------------------------------------- no 500 for bad input

SETUP = f"{BASE}/{ORG}/openai/setup"
JSON = {"Content-Type": "application/json"}

MALFORMED: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    # (function, method, path, extra headers, body)
    ("setup_integration", "POST", SETUP, JSON, b"{" * 10000),
    ("setup_integration", "POST", SETUP, JSON, b"[" * 100000),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": "\\ud800"}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": "sk-\\u0000abc"}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": 1e999}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": NaN}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": {"a": [1, 2, {"b": null}]}}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": true}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": "sk-x", "config": []}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": "sk-x", "config": {"organization": {"$gt": 1}}}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": "sk-x", "name": ["a"]}'),
    ("setup_integration", "POST", SETUP, JSON, b'{"credential": "sk-x", "credential": 5}'),
    ("setup_integration", "POST", SETUP, JSON, '{"credential": "sk-\u00e9\u00e9\u00e9"}'.encode()),
    ("setup_integration", "POST", SETUP + "?wait=maybe", JSON, b'{"credential": "sk-x"}'),
    ("setup_integration", "POST", SETUP + "?wait=true&wait=false", JSON, b'{"credential": "sk-x"}'),
    ("setup_integration", "POST", f"{BASE}/{ORG}/gcp/setup", JSON, b'{"credential": "{\\"type\\": 1}"}'),
    ("setup_integration", "POST", f"{BASE}/{ORG}/gcp/setup", JSON, b'{"credential": {"private_key": 5}}'),
    ("setup_integration", "POST", f"{BASE}/{ORG}/slack/setup", JSON, b'{"config": {"seats": 1e308}}'),
    (
        "setup_integration",
        "POST",
        f"{BASE}/{ORG}/slack/setup",
        JSON,
        b'{"config": {"plan": "p", "seats": 99999999999999999999999, "monthly_cost": 1, "currency": "USD", "billing_cycle": "annual"}}',
    ),
    ("setup_integration", "POST", f"{BASE}/{ORG}/aws/setup", JSON, b'{"credential": "x"}'),
    ("setup_integration", "POST", f"{BASE}/{ORG}/%00/setup", JSON, b'{"credential": "x"}'),
    ("setup_integration", "POST", f"{BASE}/{ORG}/{'p' * 5000}/setup", JSON, b'{"credential": "x"}'),
    ("rotate_credential", "POST", f"{BASE}/{ORG}/openai/rotate", JSON, b'{"credential": null}'),
    ("update_integration", "PATCH", f"{BASE}/{ORG}/openai", JSON, b'{"config": null, "name": null}'),
    ("list_events", "GET", f"{BASE}/{ORG}/openai/events?limit=99999999999999999999", {}, None),
    ("list_events", "GET", f"{BASE}/{ORG}/openai/events?limit=%00", {}, None),
    ("list_events", "GET", f"{BASE}/{ORG}/openai/events?cursor=" + "A" * 5000, {}, None),
    ("list_events", "GET", f"{BASE}/{ORG}/openai/events?cursor=MjAyNnxub3BlfA", {}, None),
    ("list_integrations", "GET", f"{BASE}/{ORG}?category=%FF", {}, None),
    ("list_integrations", "GET", f"{BASE}/{ORG}?category=", {}, None),
    ("get_integration", "GET", f"{BASE}/{ORG}/..%2F..%2Fetc", {}, None),
    ("get_integration", "GET", f"{BASE}/{ORG}/openai", {"X-Cloud-Trace-Context": "\u00ff" * 10}, None),
    ("delete_integration", "DELETE", f"{BASE}/{ORG}/openai", JSON, b"{not json"),
    ("validate_integration", "POST", f"{BASE}/{ORG}/openai/validate", {"Content-Type": "text/plain"}, b"\x00\x01"),
    ("enable_integration", "POST", f"{BASE}/{ORG}/openai/enable", {}, b"x" * (MAX_BODY * 2)),
]


@pytest.mark.parametrize(
    "function,method,path,headers,body", MALFORMED, ids=[f"{i}-{m[0]}" for i, m in enumerate(MALFORMED)]
)
def test_no_500_for_bad_input(
    service_env, api_key, function: str, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> None:
    response = client(function).open(path, method=method, data=body, headers={"X-API-Key": api_key, **headers})
    assert 200 <= response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        code, message = error_of(response)
        assert code in CATALOGUE
        if body:
            assert body.decode("utf-8", "replace")[:40] not in message or len(body) < 6


def test_error_message_never_repeats_the_input(service_env, api_key) -> None:
    canary = openai_key()[:-4] + "CNRY"
    bodies = [
        {"credential": canary},  # a well-formed key the provider does not know: 202, shown only as a hint
        {"credential": "x" + canary},
        {"credential": canary, "config": {"organization": canary}},
        {"credential": canary, "name": canary * 10},
    ]
    for body in bodies:
        response = client("setup_integration").post(SETUP, json=body, headers={"X-API-Key": api_key})
        assert canary not in response.get_data(as_text=True)
        assert canary[-12:] not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "provider,template",
    [
        ("openai", '{"credential": %s}'),
        ("slack", '{"config": {"plan": %s}}'),
    ],
)
def test_deeply_nested_json_body_is_400_not_500(service_env, api_key, provider: str, template: str) -> None:
    nested = "[" * 5000 + "]" * 5000  # well under 64 KiB
    response = client("setup_integration").post(
        f"{BASE}/{ORG}/{provider}/setup",
        data=(template % nested).encode(),
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "bad_request", "Request body is not valid JSON")


def test_deeply_nested_service_account_string_is_invalid_format(service_env, api_key) -> None:
    body = json.dumps({"credential": "[" * 20000 + "]" * 20000})
    response = client("setup_integration").post(
        f"{BASE}/{ORG}/gcp/setup",
        data=body.encode(),
        headers={"X-API-Key": api_key, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "invalid_format", "Invalid API key format")


SURROGATE_BODIES = [
    ("openai", {"credential": "KEY", "name": "\ud800"}),
    (
        "slack",
        {"config": {"plan": "\udfff", "seats": 1, "monthly_cost": 1, "currency": "USD", "billing_cycle": "monthly"}},
    ),
    ("gcp", {"credential": {"type": "service_account", "project_id": "billing-test-4821", "client_email": "\ud800"}}),
    ("gcp", {"credential": {"type": "service_account", "\ud800": "x"}}),
]


@pytest.mark.parametrize(
    "provider,body", SURROGATE_BODIES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(SURROGATE_BODIES)]
)
def test_lone_surrogates_are_400_and_use_no_rate_limit_attempt(service_env, api_key, provider: str, body: dict) -> None:
    service_env.set(VALIDATION_RATE_LIMIT="1/600")
    if body.get("credential") == "KEY":
        body = {**body, "credential": service_env.servers.openai.set(openai_key(), "valid")}
    raw = json.dumps(body).encode()  # json.dumps escapes the lone surrogate as \ud800
    assert b"\\ud" in raw
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    response = client("setup_integration").post(f"{BASE}/{ORG}/{provider}/setup", data=raw, headers=headers)
    assert_error(response, 400, "bad_request", "Request body holds text that is not valid Unicode")
    key = service_env.servers.openai.set(openai_key(), "valid")
    again = client("setup_integration").post(f"{BASE}/{ORG}/openai/setup", json={"credential": key}, headers=headers)
    assert again.status_code == 202, "the refused request must not have used the one attempt"


def test_an_unknown_provider_name_is_never_repeated_in_logs_or_answers(
    service_env, api_key, json_log: io.StringIO
) -> None:
    name = "provider-canary-" + "q" * 20
    response = client("get_integration").get(f"{BASE}/{ORG}/{name}", headers={"X-API-Key": api_key})
    assert_error(response, 404, "unknown_provider", "Unknown provider")
    assert "canary" not in json_log.getvalue() and "qqqq" not in json_log.getvalue()


def test_an_internal_failure_never_shows_its_own_text(service_env, api_key, tmp_path) -> None:
    service_env.set(DATA_DIR=str(tmp_path / "nowhere"))  # a read of a missing store: its error names the path
    response = client("list_integrations").get(f"{BASE}/{ORG}", headers={"X-API-Key": api_key})
    assert_error(response, 500, "internal", "Internal error")
    assert "nowhere" not in response.get_data(as_text=True)


def test_bad_settings_answer_json(service_env, api_key) -> None:
    service_env.set(PORT="80x")
    response = client("list_integrations").get(f"{BASE}/{ORG}", headers={"X-API-Key": api_key})
    assert_error(response, 500, "internal", "Internal error")

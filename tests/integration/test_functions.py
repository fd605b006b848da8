"""Every function in functions/, loaded as Cloud Functions loads it
(`functions_framework.create_app(target, source)`), driven through its test client on the
embedded backends (service_env), every answer held to configs/openapi.yaml.

The local queue delivers validation CloudEvents to a recording receiver; the validator
function (`validate_credential`) is then fed Pub/Sub CloudEvents built as Eventarc builds them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.cloudevents import message_from_cloudevent, pubsub_cloudevent_http
from shared.domain.errors import CATALOGUE
from shared.domain.models import ValidationMessage
from tests.support.doubles import function_app
from tests.support.openapi import assert_conforms
from tests.support.provider_servers import anthropic_key, gemini_key, openai_key

ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/integrations"
ORG = "acme_corp"
HTTP_FUNCTIONS = [
    "setup_integration",
    "validate_integration",
    "list_integrations",
    "get_integration",
    "delete_integration",
    "rotate_credential",
    "disable_integration",
    "enable_integration",
    "update_integration",
    "list_events",
    "get_setup_form",
]
SAAS_CONFIG = {"plan": "Team", "seats": 3, "monthly_cost": 24, "currency": "EUR", "billing_cycle": "annual"}


def test_every_function_directory_is_covered() -> None:
    present = sorted(p.parent.name for p in (ROOT / "functions").glob("*/main.py"))
    assert present == sorted(HTTP_FUNCTIONS + ["validate_credential", "console"])


def test_the_console_function_serves_the_pages_and_their_files_with_the_security_headers() -> None:
    client = function_app("console").test_client()
    for path, kind in (("/acme_corp/settings/integrations/llm", "text/html"), ("/console/app.js", "text/javascript")):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(kind), path
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/console/main.py").status_code == 404
    assert client.post("/acme_corp/settings/integrations").status_code == 405


class Api:
    """Calls one function per request, checks the status and the document, returns the body."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def call(
        self,
        function: str,
        method: str,
        path: str,
        expect: int,
        *,
        key: str | None = "default",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        sent = dict(headers or {})
        if key is not None:
            sent["X-API-Key"] = self.api_key if key == "default" else key
        full = BASE + path
        response = function_app(function).test_client().open(full, method=method, headers=sent, **kwargs)
        body = response.get_json(silent=True)
        assert response.status_code == expect, (
            f"{method} {full}: {response.status_code} {response.get_data(as_text=True)}"
        )
        assert_conforms(method, full.split("?")[0], response.status_code, body, dict(response.headers))
        if expect >= 400:
            assert set(body) == {"error"} and body["error"]["code"] in CATALOGUE
        self.last = response
        return body

    def error(
        self, function: str, method: str, path: str, status: int, code: str, message: str | None = None, **kwargs: Any
    ) -> str:
        body = self.call(function, method, path, status, **kwargs)
        assert body["error"]["code"] == code
        if message is not None:
            assert body["error"]["message"] == message
        elif CATALOGUE[code][1] not in ("Bad request", "Unknown provider", "Invalid status transition"):
            assert body["error"]["message"] == CATALOGUE[code][1]
        return body["error"]["message"]

    # shortcuts
    def setup(self, provider: str, body: dict[str, Any], expect: int = 202, wait: bool = False, **kw: Any) -> Any:
        query = "?wait=true" if wait else ""
        return self.call("setup_integration", "POST", f"/{ORG}/{provider}/setup{query}", expect, json=body, **kw)

    def get(self, provider: str) -> Any:
        return self.call("get_integration", "GET", f"/{ORG}/{provider}", 200)


@pytest.fixture
def api(service_env) -> Api:
    return Api(service_env.create_org(ORG))


def key_for(service_env, provider: str = "openai", scenario: str = "valid") -> str:
    value = {"openai": openai_key, "anthropic": anthropic_key, "gemini": gemini_key}[provider]()
    getattr(service_env.servers, provider).set(value, scenario)
    return value


def deliver(message: ValidationMessage, attempt: int = 1, **kwargs: Any) -> Any:
    headers, body = pubsub_cloudevent_http(message, attempt, **kwargs)
    return function_app("validate_credential", "cloudevent").test_client().post("/", headers=headers, data=body)


def queued(service_env, count: int) -> list[ValidationMessage]:
    """The validation messages the local queue delivered so far (to the recording receiver)."""
    deliveries = service_env.receiver.wait_for(count, timeout=10)
    assert len(deliveries) >= count
    return [message_from_cloudevent(d.event)[0] for d in deliveries]


# ================================================================ setup_integration


def test_setup_integration(service_env, api: Api) -> None:
    key = key_for(service_env)
    view = api.setup("openai", {"credential": key, "name": "OpenAI prod"})
    assert view["status"] == "pending" and view["name"] == "OpenAI prod" and view["credential"]["version"] == 1
    [message] = queued(service_env, 1)
    assert (message.org, message.provider, message.version) == (ORG, "openai", 1)
    assert key not in json.dumps(view)
    assert key.encode() not in base64.b64decode(service_env.receiver.deliveries[0].data["message"]["data"])
    waited = api.setup("anthropic", {"credential": key_for(service_env, "anthropic")}, expect=200, wait=True)
    assert waited["status"] == "active"
    saas = api.setup("slack", {"config": SAAS_CONFIG})
    assert saas["status"] == "active" and saas["config"] == SAAS_CONFIG


def test_setup_integration_errors(service_env, api: Api) -> None:
    path = f"/{ORG}/openai/setup"
    api.error(
        "setup_integration",
        "POST",
        path,
        400,
        "invalid_format",
        "Invalid API key format",
        json={"credential": "sk-nope"},
    )
    api.error(
        "setup_integration",
        "POST",
        f"/{ORG}/nope/setup",
        404,
        "unknown_provider",
        "Unknown provider",
        json={"credential": "x"},
    )
    api.error("setup_integration", "POST", path, 401, "unauthorized", key=None, json={"credential": "x"})
    api.error(
        "setup_integration",
        "POST",
        path,
        415,
        "unsupported_media_type",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
    )
    api.error("setup_integration", "POST", path, 413, "payload_too_large", json={"credential": "x" * (65 * 1024)})
    assert "'credential'" in api.error("setup_integration", "POST", path, 400, "bad_request", json={})
    api.error(
        "setup_integration",
        "POST",
        f"/{ORG}/slack/setup",
        400,
        "bad_request",
        json={"credential": "x", "config": SAAS_CONFIG},
    )
    assert service_env.receiver.deliveries == []


def test_setup_provider_verdicts_are_statuses(service_env, api: Api) -> None:
    invalid = api.setup("openai", {"credential": key_for(service_env, "openai", "invalid")}, expect=200, wait=True)
    assert (invalid["status"], invalid["status_code"]) == ("error", "invalid_credentials")
    assert invalid["status_message"] == "API key invalid or expired"
    # A provider that stays down: 503 like validate, and the integration records it.
    api.error(
        "setup_integration",
        "POST",
        f"/{ORG}/gemini/setup?wait=true",
        503,
        "provider_unavailable",
        "Provider unavailable",
        json={"credential": key_for(service_env, "gemini", "unavailable")},
    )
    down = api.call("get_integration", "GET", f"/{ORG}/gemini", 200)
    assert (down["status"], down["status_code"]) == ("error", "provider_unavailable")


def test_setup_rate_limited(service_env, api: Api) -> None:
    service_env.set(VALIDATION_RATE_LIMIT="1/900")
    api.setup("openai", {"credential": key_for(service_env)})
    api.error(
        "setup_integration",
        "POST",
        f"/{ORG}/openai/setup",
        429,
        "rate_limited",
        "Rate limit exceeded",
        json={"credential": key_for(service_env)},
    )
    assert api.last.headers["Retry-After"] == "900"


# ================================================================ validate_integration


def test_validate_integration(service_env, api: Api) -> None:
    key = key_for(service_env)
    api.setup("openai", {"credential": key})
    view = api.call("validate_integration", "POST", f"/{ORG}/openai/validate", 200)
    assert view["status"] == "active" and view["last_validated_at"]
    service_env.servers.openai.set(key, "invalid")
    expired = api.call("validate_integration", "POST", f"/{ORG}/openai/validate", 200)
    assert expired["status"] == "expired" and expired["status_code"] == "invalid_credentials"


def test_validate_integration_errors(service_env, api: Api) -> None:
    path = f"/{ORG}/openai/validate"
    api.error("validate_integration", "POST", path, 404, "not_configured", "Integration not configured")
    key = key_for(service_env, "openai", "unavailable")
    api.setup("openai", {"credential": key})
    api.error("validate_integration", "POST", path, 503, "provider_unavailable", "Provider unavailable")
    assert api.get("openai")["status"] == "error"
    api.call("disable_integration", "POST", f"/{ORG}/openai/disable", 200)
    assert "disabled" in api.error("validate_integration", "POST", path, 409, "invalid_transition")
    api.error("validate_integration", "GET", path, 405, "method_not_allowed", "Method not allowed")
    assert api.last.headers["Allow"] == "OPTIONS, POST"


def test_validate_integration_rate_limited(service_env, api: Api) -> None:
    service_env.set(VALIDATION_RATE_LIMIT="2/600")
    api.setup("openai", {"credential": key_for(service_env)})
    api.call("validate_integration", "POST", f"/{ORG}/openai/validate", 200)
    api.error("validate_integration", "POST", f"/{ORG}/openai/validate", 429, "rate_limited", "Rate limit exceeded")
    assert api.last.headers["Retry-After"] == "600"
    api.error("validate_integration", "POST", f"/{ORG}/gemini/validate", 404, "not_configured")


# ================================================================ list_integrations and get_integration


def test_list_integrations(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)})
    listed = api.call("list_integrations", "GET", f"/{ORG}", 200)
    assert listed["org"] == ORG
    by_provider = {i["provider"]: i for i in listed["integrations"]}
    assert by_provider["openai"]["status"] == "pending"
    assert by_provider["gcp"]["status"] == "not_configured" and by_provider["azure"]["status"] == "not_configured"
    llm = api.call("list_integrations", "GET", f"/{ORG}?category=llm", 200)["integrations"]
    assert {i["category"] for i in llm} == {"llm"}
    assert "'category'" in api.error("list_integrations", "GET", f"/{ORG}?category=crypto", 400, "bad_request")
    api.error("list_integrations", "GET", f"/{ORG}", 401, "unauthorized", key="nope")
    other_key = service_env.create_org("other_org")
    api.error("list_integrations", "GET", f"/{ORG}", 403, "forbidden", key=other_key)


def test_get_integration(service_env, api: Api) -> None:
    api.error("get_integration", "GET", f"/{ORG}/openai", 404, "not_configured", "Integration not configured")
    api.error("get_integration", "GET", f"/{ORG}/nope", 404, "unknown_provider")
    key = key_for(service_env)
    api.setup("openai", {"credential": key})
    view = api.get("openai")
    assert view["provider"] == "openai" and view["credential"]["hint"] == "sk-..." + key[-4:]
    api.error("get_integration", "PUT", f"/{ORG}/openai", 405, "method_not_allowed")
    assert api.last.headers["Allow"] == "DELETE, GET, OPTIONS, PATCH"


# ================================================================ delete, rotate, disable, enable, update


def test_delete_integration(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)})
    assert api.call("delete_integration", "DELETE", f"/{ORG}/openai", 204) is None
    assert api.last.get_data() == b""
    api.error("get_integration", "GET", f"/{ORG}/openai", 404, "not_configured")
    api.error("delete_integration", "DELETE", f"/{ORG}/openai", 404, "not_configured")
    api.error("delete_integration", "DELETE", f"/{ORG}/nope", 404, "unknown_provider")


def test_rotate_credential(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)}, expect=200, wait=True)
    staged = api.call(
        "rotate_credential", "POST", f"/{ORG}/openai/rotate", 202, json={"credential": key_for(service_env)}
    )
    assert staged["status"] == "active" and staged["credential"]["version"] == 1
    assert staged["rotation"]["version"] == 2 and staged["rotation"]["status"] == "pending"
    [message] = queued(service_env, 1)
    assert message.version == 2
    done = api.call(
        "rotate_credential", "POST", f"/{ORG}/openai/rotate?wait=true", 200, json={"credential": key_for(service_env)}
    )
    assert done["rotation"] is None and done["credential"]["version"] == 2
    failed = api.call(
        "rotate_credential",
        "POST",
        f"/{ORG}/openai/rotate?wait=true",
        200,
        json={"credential": key_for(service_env, "openai", "invalid")},
    )
    assert failed["rotation"]["status"] == "failed" and failed["credential"]["version"] == 2


def test_rotate_credential_errors(service_env, api: Api) -> None:
    path = f"/{ORG}/openai/rotate"
    api.error("rotate_credential", "POST", path, 404, "not_configured", json={"credential": key_for(service_env)})
    key = key_for(service_env)
    api.setup("openai", {"credential": key}, expect=200, wait=True)
    api.error("rotate_credential", "POST", path, 400, "bad_request", json={"credential": key})
    api.error("rotate_credential", "POST", path, 400, "invalid_format", json={"credential": "sk-bad"})
    api.error(
        "rotate_credential",
        "POST",
        path + "?wait=perhaps",
        400,
        "bad_request",
        json={"credential": key_for(service_env)},
    )
    api.setup("slack", {"config": SAAS_CONFIG})
    api.error("rotate_credential", "POST", f"/{ORG}/slack/rotate", 400, "bad_request", json={"config": SAAS_CONFIG})
    api.call("disable_integration", "POST", f"/{ORG}/openai/disable", 200)
    assert "disabled" in api.error(
        "rotate_credential", "POST", path, 409, "invalid_transition", json={"credential": key_for(service_env)}
    )


def test_disable_and_enable_integration(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)}, expect=200, wait=True)
    disabled = api.call("disable_integration", "POST", f"/{ORG}/openai/disable", 200)
    assert disabled["status"] == "disabled"
    assert "disabled" in api.error("disable_integration", "POST", f"/{ORG}/openai/disable", 409, "invalid_transition")
    enabled = api.call("enable_integration", "POST", f"/{ORG}/openai/enable", 202)
    assert enabled["status"] == "pending"
    [message] = queued(service_env, 1)
    assert message.version == 1
    assert deliver(message).status_code < 300
    assert api.get("openai")["status"] == "active"
    assert "active" in api.error("enable_integration", "POST", f"/{ORG}/openai/enable", 409, "invalid_transition")
    api.error("enable_integration", "POST", f"/{ORG}/gemini/enable", 404, "not_configured")
    api.error("disable_integration", "POST", f"/{ORG}/gemini/disable", 404, "not_configured")


def test_update_integration(service_env, api: Api) -> None:
    path = f"/{ORG}/openai"
    api.error("update_integration", "PATCH", path, 404, "not_configured", json={"name": "x"})
    api.setup("openai", {"credential": key_for(service_env)}, expect=200, wait=True)
    renamed = api.call("update_integration", "PATCH", path, 200, json={"name": "Renamed"})
    assert renamed["name"] == "Renamed" and renamed["status"] == "active"
    reconfigured = api.call("update_integration", "PATCH", path, 200, json={"config": {"project": "proj_abc"}})
    assert reconfigured["status"] == "pending" and reconfigured["config"] == {"project": "proj_abc"}
    assert "Unknown field" in api.error(
        "update_integration", "PATCH", path, 400, "bad_request", json={"credential": "sk-x"}
    )
    api.error(
        "update_integration",
        "PATCH",
        path,
        415,
        "unsupported_media_type",
        data=b"name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_list_events(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)}, expect=200, wait=True)
    api.call("disable_integration", "POST", f"/{ORG}/openai/disable", 200)
    api.call("enable_integration", "POST", f"/{ORG}/openai/enable", 202)
    everything = api.call("list_events", "GET", f"/{ORG}/openai/events", 200)
    assert everything["next_cursor"] is None and len(everything["events"]) >= 5
    page = api.call("list_events", "GET", f"/{ORG}/openai/events?limit=2", 200)
    assert len(page["events"]) == 2 and page["next_cursor"]
    rest = api.call("list_events", "GET", f"/{ORG}/openai/events?limit=500&cursor={page['next_cursor']}", 200)
    assert page["events"] + rest["events"] == everything["events"]
    api.error("list_events", "GET", f"/{ORG}/openai/events?limit=0", 400, "bad_request")
    api.error("list_events", "GET", f"/{ORG}/openai/events?cursor=%%%", 400, "bad_request")
    api.call("delete_integration", "DELETE", f"/{ORG}/openai", 204)
    after = api.call("list_events", "GET", f"/{ORG}/openai/events", 200)["events"]
    assert {"setup", "disable", "enable", "delete"} <= {e["action"] for e in after}
    api.error("list_events", "GET", f"/{ORG}/nope/events", 404, "unknown_provider")


# ================================================================ get_setup_form


def test_get_setup_form(service_env, api: Api) -> None:
    """Every available provider's form, with no integration of it: the form's schema takes what setup takes."""
    from jsonschema import Draft202012Validator

    from shared.registry import get_registry

    # The AWS form names the platform's principal: the setting, so no AWS call (tests/integration/test_aws*.py).
    service_env.set(AWS_PLATFORM_ROLE_ARN="arn:aws:iam::111122223333:role/cost-platform")
    for provider in get_registry().available():
        form = api.call("get_setup_form", "GET", f"/{ORG}/{provider.key}/setup", 200)
        assert (form["provider"], form["category"]) == (provider.key, provider.category)
        assert form["credential"]["kind"] == provider.credential and form["steps"]
        Draft202012Validator.check_schema(form["config_schema"])
    openai = api.call("get_setup_form", "GET", f"/{ORG}/openai/setup", 200)
    assert "sk-admin-" in openai["credential"]["hint"] and "inference" in openai["credential"]["hint"]
    anthropic = api.call("get_setup_form", "GET", f"/{ORG}/anthropic/setup", 200)
    assert "sk-ant-admin01-" in anthropic["credential"]["hint"]
    gcp = api.call("get_setup_form", "GET", f"/{ORG}/gcp/setup", 200)
    assert (
        "billing export" in gcp["credential"]["hint"].lower()
        and "billing_export_table" in gcp["config_schema"]["properties"]
    )
    slack = api.call("get_setup_form", "GET", f"/{ORG}/slack/setup", 200)
    assert slack["credential"]["kind"] == "none"
    assert list(Draft202012Validator(slack["config_schema"]).iter_errors(SAAS_CONFIG)) == []
    assert api.setup("slack", {"config": SAAS_CONFIG})["status"] == "active"
    # Reading a form stores nothing and counts nothing.
    api.error("get_integration", "GET", f"/{ORG}/openai", 404, "not_configured")
    assert api.call("list_events", "GET", f"/{ORG}/openai/events", 200)["events"] == []


def test_get_setup_form_errors(service_env, api: Api) -> None:
    api.error("get_setup_form", "GET", f"/{ORG}/nope/setup", 404, "unknown_provider", "Unknown provider")
    api.error("get_setup_form", "GET", f"/{ORG}/openai/setup", 401, "unauthorized", key=None)
    api.error(
        "get_setup_form", "GET", f"/{ORG}/openai/setup", 403, "forbidden", key=service_env.create_org("other_org")
    )
    api.error("get_setup_form", "GET", "/Bad-Org/openai/setup", 400, "bad_request")
    api.error("get_setup_form", "PUT", f"/{ORG}/openai/setup", 405, "method_not_allowed")
    assert api.last.headers["Allow"] == "GET, OPTIONS, POST"


# ================================================================ validate_credential (CloudEvent)


def test_validate_credential_sets_the_status(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)})
    [message] = queued(service_env, 1)
    answer = deliver(message)
    assert 200 <= answer.status_code < 300
    assert api.get("openai")["status"] == "active"
    # Redelivery (same message id): acknowledged, nothing changes.
    calls = service_env.servers.openai.count("/models")
    assert 200 <= deliver(message, 2).status_code < 300
    assert service_env.servers.openai.count("/models") == calls


def test_validate_credential_permanent_failure_sets_error(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env, "openai", "missing_scope")})
    [message] = queued(service_env, 1)
    assert deliver(message).status_code < 300
    view = api.get("openai")
    assert view["status"] == "error" and view["status_code"] == "missing_permissions"
    assert view["status_message"].startswith("Missing permissions")


def test_validate_credential_transient_failure_answers_500_then_settles(service_env, api: Api) -> None:
    service_env.set(VALIDATOR_MAX_DELIVERIES="3")
    api.setup("openai", {"credential": key_for(service_env, "openai", "unavailable")})
    [message] = queued(service_env, 1)
    for attempt in (1, 2):
        answer = deliver(message, attempt)
        assert answer.status_code == 500  # Pub/Sub redelivers
        view = api.get("openai")
        assert view["status"] == "validating" and view["status_message"].endswith("retrying")
    assert deliver(message, 3).status_code < 300  # the last delivery settles it
    view = api.get("openai")
    assert view["status"] == "error" and view["status_message"].startswith("Provider unavailable")


def test_validate_credential_asks_for_redelivery_when_our_side_fails(service_env, api: Api) -> None:
    """A keyring (KMS) or store outage is not the message's fault: answer 500 so Pub/Sub redelivers."""
    api.setup("openai", {"credential": key_for(service_env)})
    [message] = queued(service_env, 1)
    keyring = service_env.data_dir / "keyring.json"
    original = keyring.read_bytes()
    keyring.write_bytes(b"{ unreadable")
    try:
        assert deliver(message).status_code == 500
        assert api.get("openai")["status"] == "pending"
    finally:
        keyring.write_bytes(original)
    assert deliver(message, 2).status_code < 300
    assert api.get("openai")["status"] == "active"


def test_validate_credential_superseded_and_gone_messages_are_acked(service_env, api: Api) -> None:
    api.setup("openai", {"credential": key_for(service_env)})
    api.setup("openai", {"credential": key_for(service_env)})
    first, second = queued(service_env, 2)
    assert first.credential_id != second.credential_id
    assert deliver(first).status_code < 300
    assert api.get("openai")["status"] == "pending"  # the superseded version did not count
    api.call("delete_integration", "DELETE", f"/{ORG}/openai", 204)
    assert deliver(second).status_code < 300


def _raw_event(data: Any, event_type: str = "google.cloud.pubsub.topic.v1.messagePublished") -> tuple[dict, bytes]:
    headers = {
        "ce-id": "1",
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": "//pubsub.googleapis.com/projects/local/topics/t",
        "content-type": "application/json",
    }
    return headers, data if isinstance(data, bytes) else json.dumps(data).encode()


def _b64(value: Any) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "headers,body",
    [
        _raw_event({"message": {"data": "!!!not base64!!!"}}),
        _raw_event({"message": {"data": _b64(b"\xff\xfe")}}),
        _raw_event({"message": {"data": _b64([1, 2])}}),
        _raw_event({"message": {"data": _b64({"org": ORG, "secret": "x"})}}),
        _raw_event({"message": {"data": _b64({"org": ORG, "version": "one"})}}),
        _raw_event({"message": {}}),
        _raw_event({"nothing": True}),
        _raw_event([1, 2, 3]),
        _raw_event({"message": {"data": _b64({"org": ORG})}}, "google.cloud.storage.object.v1.finalized"),
        _raw_event(
            {"message": {"data": _b64({"org": ORG, "provider": "openai", "credential_id": "nope", "version": 1})}}
        ),
        _raw_event({"message": {"data": _b64({"org": "ghost_org", "provider": "aws", "credential_id": "x"})}}),
    ],
    ids=[
        "bad-base64",
        "not-utf8",
        "not-object",
        "extra-field",
        "bad-version",
        "no-data",
        "no-message",
        "array",
        "other-type",
        "unknown-credential",
        "unknown-org",
    ],
)
def test_validate_credential_acks_malformed_events(service_env, api: Api, headers: dict, body: bytes) -> None:
    answer = function_app("validate_credential", "cloudevent").test_client().post("/", headers=headers, data=body)
    assert 200 <= answer.status_code < 300, answer.get_data(as_text=True)


def test_validate_credential_revalidate_message(service_env, api: Api) -> None:
    key = key_for(service_env)
    api.setup("openai", {"credential": key}, expect=200, wait=True)
    service_env.servers.openai.set(key, "invalid")
    assert deliver(ValidationMessage(kind="revalidate")).status_code < 300
    assert api.get("openai")["status"] == "expired"

"""Issue 12 items 5-8 through the HTTP API (the functions as Cloud Functions loads them, every
answer held to configs/openapi.yaml), against the stand-ins that answer like Entra ID and Azure
Resource Manager: every Azure answer ends in its exact status and message, every bad request in
its catalogue error (never repeating the input), a valid principal goes from setup through the
queue to `active` with ["costs"], and a secret past its `expires_at` ends in `expired`, by the
daily revalidation (on a clock set past the date) and by Entra ID's AADSTS7000222."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from shared.container import build_service
from tests.integration.test_functions import ORG, Api, deliver, queued
from tests.support.doubles import RecordingQueue
from tests.support.provider_servers import settings_for
from tests.unit.validators.test_azure import SCENARIOS

EXPIRES = (datetime.now(timezone.utc) + timedelta(days=60)).date().isoformat()
TRANSIENT = {"token_unavailable", "throttled", "arm_unavailable"}  # a 503 for a request that waits


@pytest.fixture
def api(service_env) -> Api:
    return Api(service_env.create_org(ORG))


def body(credential: Any, scope: str, **extra: Any) -> dict[str, Any]:
    return {"credential": credential, "config": {"scope": scope}, "expires_at": EXPIRES, **extra}


def expected_view(scenario: str, scope: str) -> tuple[str, str | None, str | None]:
    outcome, detail = SCENARIOS[scenario]
    if outcome == "valid":
        return "active", None, None
    base = {"invalid_credentials": "API key invalid or expired", "missing_permissions": "Missing permissions",
            "credential_expired": "Credential expired", "rate_limited": "Rate limit exceeded",
            "provider_unavailable": "Provider unavailable"}[outcome]  # fmt: skip
    status = "expired" if outcome == "credential_expired" else "error"
    return status, outcome, f"{base}: {detail.format(scope=scope)}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_setup_with_wait_ends_in_the_exact_status_and_message(service_env, api, scenario):
    credential, scope = service_env.servers.azure_principal(scenario)
    status, code, message = expected_view(scenario, scope)
    if scenario in TRANSIENT:  # nothing is known about the principal: 503, the verdict on record
        api.error("setup_integration", "POST", f"/{ORG}/azure/setup?wait=true", 503, "provider_unavailable",
                  "Provider unavailable", json=body(credential, scope))  # fmt: skip
        view = api.get("azure")
    else:
        view = api.setup("azure", body(credential, scope), expect=200, wait=True)
    assert (view["status"], view["status_code"], view["status_message"]) == (status, code, message)
    assert view["capabilities"] == (["costs"] if status == "active" else None)
    assert view["credential"]["hint"] == f"client {credential['client_id']}"
    assert view["credential"]["expires_at"] == EXPIRES
    assert credential["client_secret"] not in json.dumps(view)


def test_a_valid_principal_goes_through_the_queue_to_active_with_costs(service_env, api):
    credential, scope = service_env.servers.azure_principal("valid")
    view = api.setup("azure", body(credential, scope, name="Azure prod"))
    assert (view["status"], view["category"], view["config"]) == ("pending", "cloud", {"scope": scope})
    [message] = queued(service_env, 1)
    assert credential["client_secret"] not in message.model_dump_json()
    assert deliver(message).status_code < 300
    view = api.get("azure")
    assert (view["status"], view["capabilities"], view["status_code"]) == ("active", ["costs"], None)
    listed = api.call("list_integrations", "GET", f"/{ORG}?category=cloud", 200)["integrations"]
    assert {i["provider"]: i["status"] for i in listed}["azure"] == "active"


def test_a_secret_entra_id_reports_expired_is_expired_at_once_through_the_queue(service_env, api):
    credential, scope = service_env.servers.azure_principal("secret_expired")
    api.setup("azure", body(credential, scope))
    [message] = queued(service_env, 1)
    assert deliver(message).status_code < 300
    view = api.get("azure")
    assert (view["status"], view["status_code"]) == ("expired", "credential_expired")
    assert "AADSTS7000222" in view["status_message"]


def test_an_active_principal_whose_secret_expires_is_expired_on_validate(service_env, api):
    credential, scope = service_env.servers.azure_principal("valid")
    assert api.setup("azure", body(credential, scope), expect=200, wait=True)["status"] == "active"
    service_env.servers.azure_scenario(credential, "secret_expired")  # Entra ID now says it expired
    view = api.call("validate_integration", "POST", f"/{ORG}/azure/validate", 200)
    assert (view["status"], view["status_code"]) == ("expired", "credential_expired")
    # rotating to a new secret brings it back
    fresh, _ = service_env.servers.azure_principal("valid", scope)
    rotated = api.call("rotate_credential", "POST", f"/{ORG}/azure/rotate?wait=true", 200, json=body(fresh, scope))
    assert (rotated["status"], rotated["credential"]["version"]) == ("active", 2)


def test_a_secret_past_its_expires_at_is_expired_by_the_daily_revalidation(service_env, api):
    credential, scope = service_env.servers.azure_principal("valid")
    view = api.setup("azure", body(credential, scope), expect=200, wait=True)
    assert view["status"] == "active" and view["credential"]["expires_at"] == EXPIRES
    expires = datetime.fromisoformat(EXPIRES).date()

    def revalidate_on(day) -> str:
        """What the daily scheduler runs, on this data directory, with the service's clock on `day`."""
        clock = datetime.combine(day, time(3), tzinfo=timezone.utc)
        service = build_service(
            settings_for(service_env.servers, data_dir=service_env.data_dir),
            queue=RecordingQueue(),
            clock=lambda: clock,
        )
        try:
            return service.revalidation.revalidate_all()
        finally:
            service.store.close()

    revalidate_on(expires - timedelta(days=10))
    events = api.call("list_events", "GET", f"/{ORG}/azure/events", 200)["events"]  # newest first
    assert [e["action"] for e in events[:3]] == ["revalidate", "status_change", "expiry_warning"]
    assert events[1]["details"]["from"] == events[1]["details"]["to"] == "active"
    assert events[2]["details"] == {"expires_at": EXPIRES, "days_left": 10}
    assert api.get("azure")["status"] == "active"

    queries = service_env.servers.azure_arm.count("/query")
    assert '"expired": 1' in revalidate_on(expires)
    view = api.get("azure")
    assert (view["status"], view["status_code"], view["status_message"]) == (
        "expired",
        "credential_expired",
        f"Credential expired: its expiry date, {EXPIRES}, has come",
    )
    assert service_env.servers.azure_arm.count("/query") == queries


SUBSCRIPTION = "/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
GOOD = {"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id": "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
        "client_secret": "abc8Q~" + "Zq9" * 11 + "x"}  # fmt: skip
INVALID_FORMAT = (400, "invalid_format", "Invalid API key format")


# (id, body, (HTTP status, code, message))
BAD_REQUESTS = [
    ("no-expiry", {"credential": GOOD, "config": {"scope": SUBSCRIPTION}},
     (400, "bad_request", "Field 'expires_at' is required for azure: its credentials always expire "
                          "(give the date, YYYY-MM-DD)")),
    ("past-expiry", body(GOOD, SUBSCRIPTION, expires_at="2020-01-31"),
     (400, "bad_request", "Field 'expires_at' must be a date after today: that credential has already expired")),
    ("bad-expiry", body(GOOD, SUBSCRIPTION, expires_at="31/01/2030"),
     (400, "bad_request", "Field 'expires_at' must be a date, YYYY-MM-DD")),
    ("no-scope", {"credential": GOOD, "expires_at": EXPIRES}, (400, "bad_request", "Field 'config.scope' is required")),
    ("bad-scope", body(GOOD, "/subscriptions/acme-prod"), (400, "bad_request", "Field 'config.scope' is invalid")),
    ("unknown-config", body(GOOD, SUBSCRIPTION) | {"config": {"scope": SUBSCRIPTION, "acme-secret": "x"}},
     (400, "bad_request", "Unknown field in 'config': azure takes scope")),
    ("no-credential", {"config": {"scope": SUBSCRIPTION}, "expires_at": EXPIRES},
     (400, "bad_request", "Field 'credential' is required")),
    ("tenant-domain", body({**GOOD, "tenant_id": "acme.onmicrosoft.com"}, SUBSCRIPTION), INVALID_FORMAT),
    ("client-not-uuid", body({**GOOD, "client_id": "acme-app-0001"}, SUBSCRIPTION), INVALID_FORMAT),
    ("no-secret", body({k: v for k, v in GOOD.items() if k != "client_secret"}, SUBSCRIPTION), INVALID_FORMAT),
    ("short-secret", body({**GOOD, "client_secret": "hunter2-acme"}, SUBSCRIPTION), INVALID_FORMAT),
    ("extra-field", body({**GOOD, "acme_password": "hunter2-acme"}, SUBSCRIPTION), INVALID_FORMAT),
    ("a-string-key", body("sk-acme-" + "x" * 40, SUBSCRIPTION), INVALID_FORMAT),
    ("a-list", body([GOOD], SUBSCRIPTION), INVALID_FORMAT),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "expected"), [pytest.param(b, e, id=i) for i, b, e in BAD_REQUESTS])
def test_every_bad_setup_is_its_catalogue_error_and_never_repeats_the_input(service_env, api, request_body, expected):
    status, code, message = expected
    got = api.error("setup_integration", "POST", f"/{ORG}/azure/setup", status, code, message, json=request_body)
    for needle in ("acme", "hunter2", "31/01/2030", GOOD["client_secret"]):
        assert needle not in got
    api.error("get_integration", "GET", f"/{ORG}/azure", 404, "not_configured", "Integration not configured")


def test_the_setup_form_of_azure(service_env, api):
    form = api.call("get_setup_form", "GET", f"/{ORG}/azure/setup", 200)
    assert form["credential"]["kind"] == "azure_service_principal" and form["category"] == "cloud"
    assert form["config_schema"]["required"] == ["scope"]
    assert any("Cost Management Reader" in step for step in form["steps"])
    assert "Value" in form["credential"]["hint"] and "Secret ID" in form["credential"]["hint"]

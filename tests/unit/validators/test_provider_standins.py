"""Issue 11 item 6: the provider stand-ins behave like the providers for each key type, so
the validators (and the cost pipelines' tests) meet what they will meet in production:
Admin keys refused on the model lists, other keys refused on the cost APIs with the scope
named (401 or 403, as OpenAI sends either), the documented page shapes, DeepSeek's balance."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.support.provider_servers import anthropic_key, deepseek_key, openai_key

DAY = 86400
OPENAI_ORG_PATHS = ["/v1/organization/costs", "/v1/organization/usage/completions"]
ANTHROPIC_ORG_PATHS = [
    "/v1/organizations/cost_report",
    "/v1/organizations/usage_report/messages",
    "/v1/organizations/me",
]


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def openai_get(http, servers, path: str, key: str, **params) -> httpx.Response:
    return http.get(servers.openai.url + path, params=params, headers={"authorization": f"Bearer {key}"})


def anthropic_get(http, servers, path: str, key: str, **params) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return http.get(servers.anthropic.url + path, params=params, headers=headers)


def since(days: float) -> int:
    return int(time.time() - days * DAY)


# ------------------------------------------------------------------------------ OpenAI


@pytest.mark.parametrize("status", [401, 403])
def test_openai_refuses_admin_keys_on_models(provider_servers, http, status):
    if status == 403:
        provider_servers.openai.state["missing_scope_status"] = 403
    key = provider_servers.openai.set(openai_key("admin"), "valid")
    answer = openai_get(http, provider_servers, "/v1/models", key)
    assert answer.status_code == status
    assert "Missing scopes: api.model.read" in answer.json()["error"]["message"]


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("path", OPENAI_ORG_PATHS)
@pytest.mark.parametrize("kind", ["proj", "svcacct", ""])
def test_openai_refuses_other_keys_on_the_organization_apis(provider_servers, http, status, path, kind):
    provider_servers.openai.state["missing_scope_status"] = status
    key = provider_servers.openai.set(openai_key(kind), "valid")
    assert openai_get(http, provider_servers, "/v1/models", key).status_code == 200
    answer = openai_get(http, provider_servers, path, key, start_time=since(1), limit=1)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert "Missing scopes: api.usage.read" in error["message"] and error["type"] == "invalid_request_error"


@pytest.mark.parametrize("status", [401, 403])
def test_openai_read_only_admin_key_lacks_api_usage_read(provider_servers, http, status):
    provider_servers.openai.state["missing_scope_status"] = status
    key = provider_servers.openai.set(openai_key("admin"), "read_only")
    answer = openai_get(http, provider_servers, "/v1/organization/costs", key, start_time=since(1), limit=1)
    assert answer.status_code == status
    assert "Missing scopes: api.usage.read" in answer.json()["error"]["message"]


def test_openai_costs_page_has_the_documented_shape(provider_servers, http):
    key = provider_servers.openai.set(openai_key("admin"), "valid")
    page = openai_get(http, provider_servers, "/v1/organization/costs", key, start_time=since(3), limit=2).json()
    assert page["object"] == "page" and page["has_more"] is True and isinstance(page["next_page"], str)
    assert [b["object"] for b in page["data"]] == ["bucket", "bucket"]
    first = page["data"][0]
    assert first["end_time"] - first["start_time"] == DAY and first["start_time"] % DAY == 0
    (result,) = first["results"]
    assert result["object"] == "organization.costs.result"
    assert isinstance(result["amount"]["value"], float) and result["amount"]["currency"] == "usd"
    last = openai_get(http, provider_servers, "/v1/organization/costs", key, start_time=since(1), limit=7).json()
    assert last["has_more"] is False and last["next_page"] is None and len(last["data"]) in (1, 2)


def test_openai_usage_page_has_the_documented_shape(provider_servers, http):
    key = provider_servers.openai.set(openai_key("admin"), "valid")
    path = "/v1/organization/usage/completions"
    page = openai_get(http, provider_servers, path, key, start_time=since(1), limit=1).json()
    (result,) = page["data"][0]["results"]
    assert result["object"] == "organization.usage.completions.result"
    assert {"input_tokens", "output_tokens", "num_model_requests"} <= set(result)


def test_openai_costs_requires_start_time(provider_servers, http):
    key = provider_servers.openai.set(openai_key("admin"), "valid")
    answer = openai_get(http, provider_servers, "/v1/organization/costs", key, limit=1)
    assert answer.status_code == 400 and "start_time" in answer.json()["error"]["message"]


def test_openai_unknown_admin_key_is_an_invalid_key_everywhere(provider_servers, http):
    key = openai_key("admin")
    for path in ["/v1/models", *OPENAI_ORG_PATHS]:
        answer = openai_get(http, provider_servers, path, key, start_time=since(1))
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_api_key")


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_refuses_admin_keys_on_models(provider_servers, http):
    key = provider_servers.anthropic.set(anthropic_key(admin=True), "valid")
    answer = anthropic_get(http, provider_servers, "/v1/models", key)
    assert answer.status_code == 401 and answer.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("path", ANTHROPIC_ORG_PATHS)
def test_anthropic_refuses_api_keys_on_the_admin_api(provider_servers, http, path):
    key = provider_servers.anthropic.set(anthropic_key(), "valid")
    assert anthropic_get(http, provider_servers, "/v1/models", key).status_code == 200
    answer = anthropic_get(http, provider_servers, path, key, starting_at="2025-01-01T00:00:00Z")
    body = answer.json()
    assert answer.status_code == 403 and body["type"] == "error" and body["error"]["type"] == "permission_error"


def test_anthropic_cost_report_has_the_documented_shape(provider_servers, http):
    key = provider_servers.anthropic.set(anthropic_key(admin=True), "valid")
    start = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")
    path = "/v1/organizations/cost_report"
    page = anthropic_get(http, provider_servers, path, key, starting_at=start, limit=2).json()
    assert page["has_more"] is True and isinstance(page["next_page"], str) and len(page["data"]) == 2
    bucket = page["data"][0]
    assert bucket["starting_at"] == start and bucket["ending_at"].endswith("T00:00:00Z")
    (result,) = bucket["results"]
    assert result["currency"] == "USD" and float(result["amount"]) > 0
    usage = anthropic_get(http, provider_servers, "/v1/organizations/usage_report/messages", key, starting_at=start)
    assert {"uncached_input_tokens", "output_tokens"} <= set(usage.json()["data"][0]["results"][0])
    me = anthropic_get(http, provider_servers, "/v1/organizations/me", key).json()
    assert me["type"] == "organization"


def test_anthropic_cost_report_requires_starting_at(provider_servers, http):
    key = provider_servers.anthropic.set(anthropic_key(admin=True), "valid")
    answer = anthropic_get(http, provider_servers, "/v1/organizations/cost_report", key, limit=1)
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"


def test_anthropic_forbidden_admin_key_gets_permission_error(provider_servers, http):
    key = provider_servers.anthropic.set(anthropic_key(admin=True), "forbidden")
    answer = anthropic_get(http, provider_servers, "/v1/organizations/cost_report", key, starting_at="2025-01-01")
    assert answer.status_code == 403 and answer.json()["error"]["type"] == "permission_error"


# ---------------------------------------------------------------------------- DeepSeek


@pytest.mark.parametrize(
    ("scenario", "status", "available"),
    [("valid", 200, True), ("no_balance", 200, False), ("balance_refused", 403, None), ("invalid", 401, None)],
)
def test_deepseek_balance_scenarios(provider_servers, http, scenario, status, available):
    key = provider_servers.deepseek.set(deepseek_key(), scenario)
    headers = {"authorization": f"Bearer {key}"}
    answer = http.get(provider_servers.deepseek.url + "/user/balance", headers=headers)
    assert answer.status_code == status
    if available is not None:
        body = answer.json()
        assert body["is_available"] is available
        (info,) = body["balance_infos"]
        assert {"currency", "total_balance", "granted_balance", "topped_up_balance"} <= set(info)
        assert (float(info["total_balance"]) > 0) is available
    models = http.get(provider_servers.deepseek.url + "/models", headers=headers)
    assert models.status_code == (401 if scenario == "invalid" else 200)


def test_key_generators_make_each_key_type():
    assert openai_key("admin").startswith("sk-admin-")
    admin = anthropic_key(admin=True)
    assert admin.startswith("sk-ant-admin01-") and admin.endswith("AA") and len(admin) == len("sk-ant-admin01-") + 95

"""Issue 11 items 1, 3 and 6 through the HTTP API: every key type, set up through the
setup function (`?wait=true`, and for Admin keys through the queue and the validator
function too), ends in the status and the exact status message its check should give.
The provider stand-ins answer as the providers do for each key type.

What a valid check found worth saying (a regular key reads no costs, a DeepSeek account
without balance, a GCP key without a billing table) is the integration's status message
("Valid: ..."), what it saw that is routine (an Admin key, the table read) a remark on the
validation's audit event; every refusal is the status message, word for word; and the
capabilities are those the check proved."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tests.integration.test_functions import ORG, Api, deliver, queued
from tests.support.provider_servers import anthropic_key, deepseek_key, gemini_key, openai_key

TABLE = "billing-test-4821.billing.gcp_billing_export_v1_0123AB_CDEF45_6789AB"
OPENAI_ADMIN_KEYS = "create an Admin key (sk-admin-...) at platform.openai.com/settings/organization/admin-keys"
ANTHROPIC_ADMIN_KEYS = (
    "create an Admin key (sk-ant-admin01-...) at console.anthropic.com/settings/admin-keys (organization admins only)"
)
READ_ONLY_ADMIN = (
    "Missing permissions: the Admin key lacks the scope api.usage.read, so it reads no costs or usage: "
    f"give it read access to Usage, or {OPENAI_ADMIN_KEYS} with that access"
)


def admin() -> str:
    return openai_key("admin")


def ant_admin() -> str:
    return anthropic_key(admin=True)


ACTIVE = ("active", None, None)
INFERENCE_ONLY = "Valid: reads no costs (inference only); for costs, "
NO_TABLE = (
    "Valid: token and BigQuery access checked; no billing export table configured: "
    "costs need config.billing_export_table (project.dataset.table of the billing export)"
)
COSTS_USAGE, INFERENCE = ["costs", "usage"], ["inference"]

# (id, provider, key maker, scenario, stand-in state, config,
#  (status, status_code, status_message), capabilities, remark on the validation's audit event)
ROWS: list[tuple[str, str, Callable[[], str] | None, str, dict, dict, tuple, list | None, str | None]] = [
    ("openai-admin", "openai", admin, "valid", {}, {}, ACTIVE, COSTS_USAGE, "admin key"),
    ("openai-admin-read-only-401", "openai", admin, "read_only", {}, {},
     ("error", "missing_permissions", READ_ONLY_ADMIN), None, None),
    ("openai-admin-read-only-403", "openai", admin, "read_only", {"missing_scope_status": 403}, {},
     ("error", "missing_permissions", READ_ONLY_ADMIN), None, None),
    ("openai-admin-unknown", "openai", admin, "invalid", {}, {},
     ("error", "invalid_credentials", "API key invalid or expired"), None, None),
    ("openai-project", "openai", openai_key, "valid", {}, {},
     ("active", "valid", INFERENCE_ONLY + OPENAI_ADMIN_KEYS), INFERENCE, None),
    ("openai-unknown-subprefix", "openai", lambda: openai_key("newkind"), "valid", {}, {},
     ("active", "valid", INFERENCE_ONLY + OPENAI_ADMIN_KEYS), INFERENCE, None),
    ("openai-project-no-model-scope", "openai", openai_key, "missing_scope", {}, {},
     ("error", "missing_permissions", "Missing permissions: the key lacks the scope to list models (api.model.read)"),
     None, None),
    ("anthropic-admin", "anthropic", ant_admin, "valid", {}, {}, ACTIVE, COSTS_USAGE, "admin key"),
    ("anthropic-admin-forbidden", "anthropic", ant_admin, "forbidden", {}, {},
     ("error", "missing_permissions",
      f"Missing permissions: the key may not read the organization's cost report: {ANTHROPIC_ADMIN_KEYS}"),
     None, None),
    ("anthropic-api", "anthropic", anthropic_key, "valid", {}, {},
     ("active", "valid", INFERENCE_ONLY + ANTHROPIC_ADMIN_KEYS), INFERENCE, None),
    ("gemini", "gemini", gemini_key, "valid", {}, {}, ACTIVE, INFERENCE, None),
    ("deepseek", "deepseek", deepseek_key, "valid", {}, {}, ACTIVE, ["inference", "balance"], None),
    ("deepseek-no-balance", "deepseek", deepseek_key, "no_balance", {}, {},
     ("active", "valid", "Valid: the DeepSeek account has no balance: requests will fail until it is topped up "
      "at platform.deepseek.com"), ["inference", "balance"], None),
    ("deepseek-balance-refused", "deepseek", deepseek_key, "balance_refused", {}, {},
     ("active", "valid", "Valid: DeepSeek refused to show the account balance (HTTP 403): balance not tracked"),
     INFERENCE, None),
    ("deepseek-insufficient-balance", "deepseek", deepseek_key, "insufficient_balance", {}, {},
     ("error", "missing_permissions", "Missing permissions: the DeepSeek account has insufficient balance"),
     None, None),
    ("gcp-table", "gcp", None, "valid", {}, {"billing_export_table": TABLE}, ACTIVE, ["costs"],
     f"billing export table {TABLE} is readable"),
    ("gcp-no-table", "gcp", None, "valid", {}, {}, ("active", "valid", NO_TABLE), [], None),
    ("gcp-table-refused", "gcp", None, "no_data_viewer", {}, {"billing_export_table": TABLE},
     ("error", "missing_permissions",
      f"Missing permissions: cannot read billing export table {TABLE}: grant roles/bigquery.dataViewer on its dataset"),
     None, None),
]  # fmt: skip


@pytest.fixture
def api(service_env) -> Api:
    return Api(service_env.create_org(ORG))


def _credential(service_env, provider: str, make_key: Callable[[], str] | None, scenario: str, state: dict) -> Any:
    if provider == "gcp":
        return service_env.servers.gcp_service_account(scenario, project_id="billing-test-4821")
    server = getattr(service_env.servers, provider)
    server.state.update(state)
    return server.set(make_key(), scenario)


def _latest_validation(api: Api, provider: str) -> dict:
    events = api.call("list_events", "GET", f"/{ORG}/{provider}/events", 200)["events"]  # newest first
    return next(e for e in events if e["action"] == "validate" and e["details"].get("target") == "current")


def _assert_view(api: Api, provider: str, view: dict, expected: tuple, capabilities: list | None, remark) -> None:
    assert (view["status"], view["status_code"], view["status_message"]) == expected
    assert view["capabilities"] == capabilities
    assert api.get(provider)["capabilities"] == capabilities
    event = _latest_validation(api, provider)
    assert event["details"].get("remark") == remark
    if capabilities is not None:
        assert event["details"]["capabilities"] == capabilities


@pytest.mark.parametrize(
    ("provider", "make_key", "scenario", "state", "config", "expected", "capabilities", "remark"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_setup_with_wait_ends_in_the_key_types_status(
    service_env, api, provider, make_key, scenario, state, config, expected, capabilities, remark
):
    credential = _credential(service_env, provider, make_key, scenario, state)
    body = {"credential": credential, **({"config": config} if config else {})}
    view = api.setup(provider, body, expect=200, wait=True)
    _assert_view(api, provider, view, expected, capabilities, remark)


@pytest.mark.parametrize(
    ("provider", "make_key", "scenario", "expected", "capabilities", "remark"),
    [
        pytest.param("openai", admin, "valid", ACTIVE, COSTS_USAGE, "admin key", id="openai-admin"),
        pytest.param("anthropic", ant_admin, "valid", ACTIVE, COSTS_USAGE, "admin key", id="anthropic-admin"),
        pytest.param(
            "openai",
            admin,
            "read_only",
            ("error", "missing_permissions", READ_ONLY_ADMIN),
            None,
            None,
            id="openai-admin-read-only",
        ),  # fmt: skip
    ],
)
def test_admin_keys_through_the_queue(service_env, api, provider, make_key, scenario, expected, capabilities, remark):
    key = _credential(service_env, provider, make_key, scenario, {})
    assert api.setup(provider, {"credential": key})["status"] == "pending"
    [message] = queued(service_env, 1)
    assert deliver(message).status_code < 300
    _assert_view(api, provider, api.get(provider), expected, capabilities, remark)
    server = getattr(service_env.servers, provider)
    assert server.count("/models") == 0, "an Admin key is never sent to a model list"

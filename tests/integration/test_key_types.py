"""Issue 11 items 1, 3 and 6 through the HTTP API: every key type, set up through the
setup function (`?wait=true`, and for Admin keys through the queue and the validator
function too), ends in the status and the exact status message its check should give.
The provider stand-ins answer as the providers do for each key type.

What a valid check found worth saying (a regular key reads no costs, a DeepSeek account
without balance, a GCP key without a billing table) is the `detail` of the validation's
audit event; every refusal is the integration's `status_message`, word for word."""

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

# (id, provider, key maker, scenario, stand-in state, config,
#  (status, status_code, status_message), detail of a valid check)
ROWS: list[tuple[str, str, Callable[[], str], str, dict, dict, tuple, str | None]] = [
    ("openai-admin", "openai", admin, "valid", {}, {}, ACTIVE, "admin key"),
    ("openai-admin-read-only-401", "openai", admin, "read_only", {}, {},
     ("error", "missing_permissions", READ_ONLY_ADMIN), None),
    ("openai-admin-read-only-403", "openai", admin, "read_only", {"missing_scope_status": 403}, {},
     ("error", "missing_permissions", READ_ONLY_ADMIN), None),
    ("openai-admin-unknown", "openai", admin, "invalid", {}, {},
     ("error", "invalid_credentials", "API key invalid or expired"), None),
    ("openai-project", "openai", openai_key, "valid", {}, {}, ACTIVE,
     f"inference only, no costs: for costs, {OPENAI_ADMIN_KEYS}"),
    ("openai-unknown-subprefix", "openai", lambda: openai_key("newkind"), "valid", {}, {}, ACTIVE,
     f"inference only, no costs: for costs, {OPENAI_ADMIN_KEYS}"),
    ("openai-project-no-model-scope", "openai", openai_key, "missing_scope", {}, {},
     ("error", "missing_permissions", "Missing permissions: the key lacks the scope to list models (api.model.read)"),
     None),
    ("anthropic-admin", "anthropic", ant_admin, "valid", {}, {}, ACTIVE, "admin key"),
    ("anthropic-admin-forbidden", "anthropic", ant_admin, "forbidden", {}, {},
     ("error", "missing_permissions",
      f"Missing permissions: the key may not read the organization's cost report: {ANTHROPIC_ADMIN_KEYS}"), None),
    ("anthropic-api", "anthropic", anthropic_key, "valid", {}, {}, ACTIVE,
     f"inference only, no costs: for costs, {ANTHROPIC_ADMIN_KEYS}"),
    ("gemini", "gemini", gemini_key, "valid", {}, {}, ACTIVE, None),
    ("deepseek", "deepseek", deepseek_key, "valid", {}, {}, ACTIVE, None),
    ("deepseek-no-balance", "deepseek", deepseek_key, "no_balance", {}, {}, ACTIVE,
     "the DeepSeek account has no balance: requests will fail until it is topped up at platform.deepseek.com"),
    ("deepseek-balance-refused", "deepseek", deepseek_key, "balance_refused", {}, {}, ACTIVE,
     "DeepSeek refused to show the account balance (HTTP 403): balance not tracked"),
    ("deepseek-insufficient-balance", "deepseek", deepseek_key, "insufficient_balance", {}, {},
     ("error", "missing_permissions", "Missing permissions: the DeepSeek account has insufficient balance"), None),
    ("gcp-table", "gcp", None, "valid", {}, {"billing_export_table": TABLE}, ACTIVE,
     f"billing export table {TABLE} is readable"),
    ("gcp-no-table", "gcp", None, "valid", {}, {}, ACTIVE,
     "token and BigQuery access checked; no billing export table configured: "
     "costs need config.billing_export_table (project.dataset.table of the billing export)"),
    ("gcp-table-refused", "gcp", None, "no_data_viewer", {}, {"billing_export_table": TABLE},
     ("error", "missing_permissions",
      f"Missing permissions: cannot read billing export table {TABLE}: grant roles/bigquery.dataViewer on its dataset"),
     None),
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


def _validation_detail(api: Api, provider: str) -> str | None:
    """The detail of the latest validation's audit event."""
    events = api.call("list_events", "GET", f"/{ORG}/{provider}/events", 200)["events"]  # newest first
    latest = next(e for e in events if e["action"] == "validate" and e["details"].get("target") == "current")
    return latest["details"].get("detail")


def _assert_view(api: Api, provider: str, view: dict, expected: tuple, detail: str | None) -> None:
    status, code, message = expected
    assert (view["status"], view["status_code"]) == (status, code)
    if status == "active":
        # An active integration says nothing by default; the check's own remark is on its audit event.
        assert view["status_message"] in (None, detail)
        assert _validation_detail(api, provider) == detail
    else:
        assert view["status_message"] == message


@pytest.mark.parametrize(
    ("provider", "make_key", "scenario", "state", "config", "expected", "detail"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_setup_with_wait_ends_in_the_key_types_status(
    service_env, api, provider, make_key, scenario, state, config, expected, detail
):
    credential = _credential(service_env, provider, make_key, scenario, state)
    body = {"credential": credential, **({"config": config} if config else {})}
    view = api.setup(provider, body, expect=200, wait=True)
    _assert_view(api, provider, view, expected, detail)
    assert api.get(provider)["status"] == expected[0]


@pytest.mark.parametrize(
    ("provider", "make_key", "scenario", "expected", "detail"),
    [
        pytest.param("openai", admin, "valid", ACTIVE, "admin key", id="openai-admin"),
        pytest.param("anthropic", ant_admin, "valid", ACTIVE, "admin key", id="anthropic-admin"),
        pytest.param(
            "openai",
            admin,
            "read_only",
            ("error", "missing_permissions", READ_ONLY_ADMIN),
            None,
            id="openai-admin-read-only",
        ),  # fmt: skip
    ],
)
def test_admin_keys_through_the_queue(service_env, api, provider, make_key, scenario, expected, detail):
    key = _credential(service_env, provider, make_key, scenario, {})
    assert api.setup(provider, {"credential": key})["status"] == "pending"
    [message] = queued(service_env, 1)
    assert deliver(message).status_code < 300
    _assert_view(api, provider, api.get(provider), expected, detail)
    server = getattr(service_env.servers, provider)
    assert server.count("/models") == 0, "an Admin key is never sent to a model list"

"""Issue 11 items 1 and 3: the check follows the key type, a valid verdict carries the
capabilities the check proved (none otherwise), and a missing scope is named.

One row per key type and answer, through the validators against the provider stand-ins
(which refuse Admin keys on the model lists and other keys on the cost APIs, as the
providers do)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import parse_qs

import pytest

from shared.domain.models import CAPABILITIES, Credential
from tests.support.provider_servers import anthropic_key, deepseek_key, gemini_key, openai_key

from .conftest import api_key

TABLE = "billing-test-4821.billing.gcp_billing_export_v1_0123AB_CDEF12_345678"
OPENAI_COSTS, OPENAI_MODELS = "/v1/organization/costs", "/v1/models"
COST_REPORT = "/v1/organizations/cost_report"

# The exact details (shown after "Missing permissions: " or on the audit event of a valid check).
OPENAI_ADMIN_KEYS = "create an Admin key (sk-admin-...) at platform.openai.com/settings/organization/admin-keys"
OPENAI_INFERENCE_ONLY = f"reads no costs (inference only); for costs, {OPENAI_ADMIN_KEYS}"
READ_ONLY_ADMIN = (
    "the Admin key lacks the scope api.usage.read, so it reads no costs or usage: "
    f"give it read access to Usage, or {OPENAI_ADMIN_KEYS} with that access"
)
ANTHROPIC_ADMIN_KEYS = (
    "create an Admin key (sk-ant-admin01-...) at console.anthropic.com/settings/admin-keys (organization admins only)"
)
ANTHROPIC_INFERENCE_ONLY = f"reads no costs (inference only); for costs, {ANTHROPIC_ADMIN_KEYS}"
NO_COST_REPORT = f"the key may not read the organization's cost report: {ANTHROPIC_ADMIN_KEYS}"
NO_BALANCE = "the DeepSeek account has no balance: requests will fail until it is topped up at platform.deepseek.com"
NO_TABLE = (
    "token and BigQuery access checked; no billing export table configured: "
    "costs need config.billing_export_table (project.dataset.table of the billing export)"
)


def admin() -> str:
    return openai_key("admin")


def ant_admin() -> str:
    return anthropic_key(admin=True)


# (id, validator, key maker, scenario, server state, config, outcome, detail, capabilities, paths called)
ROWS: list[tuple[str, str, Callable[[], str], str, dict, dict, str, str | None, tuple[str, ...], list[str]]] = [
    # OpenAI Admin keys: the costs endpoint, never /models.
    ("openai-admin", "openai", admin, "valid", {}, {}, "valid", "admin key", ("costs", "usage"), [OPENAI_COSTS]),
    ("openai-admin-read-only-401", "openai", admin, "read_only", {}, {}, "missing_permissions", READ_ONLY_ADMIN, (),
     [OPENAI_COSTS]),
    ("openai-admin-read-only-403", "openai", admin, "read_only", {"missing_scope_status": 403}, {},
     "missing_permissions", READ_ONLY_ADMIN, (), [OPENAI_COSTS]),
    ("openai-admin-unknown", "openai", admin, "invalid", {}, {}, "invalid_credentials", None, (), [OPENAI_COSTS]),
    ("openai-admin-country", "openai", admin, "forbidden", {}, {}, "missing_permissions",
     "OpenAI does not serve this country or region", (), [OPENAI_COSTS]),
    # Every other sk- key: /models, inference, with where to make an Admin key.
    ("openai-project", "openai", openai_key, "valid", {}, {}, "valid", OPENAI_INFERENCE_ONLY, ("inference",),
     [OPENAI_MODELS]),
    ("openai-svcacct", "openai", lambda: openai_key("svcacct"), "valid", {}, {}, "valid", OPENAI_INFERENCE_ONLY,
     ("inference",), [OPENAI_MODELS]),
    ("openai-legacy", "openai", lambda: openai_key(""), "valid", {}, {}, "valid", OPENAI_INFERENCE_ONLY,
     ("inference",), [OPENAI_MODELS]),
    ("openai-unknown-subprefix", "openai", lambda: openai_key("newkind"), "valid", {}, {}, "valid",
     OPENAI_INFERENCE_ONLY, ("inference",), [OPENAI_MODELS]),
    ("openai-project-no-model-scope", "openai", openai_key, "missing_scope", {}, {}, "missing_permissions",
     "the key lacks the scope to list models (api.model.read)", (), [OPENAI_MODELS]),
    ("openai-project-no-model-scope-403", "openai", openai_key, "missing_scope", {"missing_scope_status": 403}, {},
     "missing_permissions", "the key lacks the scope to list models (api.model.read)", (), [OPENAI_MODELS]),
    ("openai-project-unknown", "openai", openai_key, "invalid", {}, {}, "invalid_credentials", None, (),
     [OPENAI_MODELS]),
    # Anthropic: Admin keys read the cost report, API keys list models.
    ("anthropic-admin", "anthropic", ant_admin, "valid", {}, {}, "valid", "admin key", ("costs", "usage"),
     [COST_REPORT]),
    ("anthropic-admin-forbidden", "anthropic", ant_admin, "forbidden", {}, {}, "missing_permissions", NO_COST_REPORT,
     (), [COST_REPORT]),
    ("anthropic-admin-unknown", "anthropic", ant_admin, "invalid", {}, {}, "invalid_credentials", None, (),
     [COST_REPORT]),
    ("anthropic-api", "anthropic", anthropic_key, "valid", {}, {}, "valid", ANTHROPIC_INFERENCE_ONLY, ("inference",),
     ["/v1/models"]),
    ("anthropic-api-forbidden", "anthropic", anthropic_key, "forbidden", {}, {}, "missing_permissions",
     "the key may not list models", (), ["/v1/models"]),
    # Gemini.
    ("gemini", "gemini", gemini_key, "valid", {}, {}, "valid", None, ("inference",), ["/v1beta/models"]),
    # DeepSeek: the model list, then the balance.
    ("deepseek", "deepseek", deepseek_key, "valid", {}, {}, "valid", None, ("inference", "balance"),
     ["/models", "/user/balance"]),
    ("deepseek-no-balance", "deepseek", deepseek_key, "no_balance", {}, {}, "valid", NO_BALANCE,
     ("inference", "balance"), ["/models", "/user/balance"]),
    ("deepseek-balance-refused", "deepseek", deepseek_key, "balance_refused", {}, {}, "valid",
     "DeepSeek refused to show the account balance (HTTP 403): balance not tracked", ("inference",),
     ["/models", "/user/balance"]),
    ("deepseek-balance-down", "deepseek", deepseek_key, "balance_unavailable", {}, {}, "provider_unavailable",
     "DeepSeek answered HTTP 503", (), ["/models", "/user/balance", "/user/balance", "/user/balance"]),
    ("deepseek-insufficient-balance", "deepseek", deepseek_key, "insufficient_balance", {}, {}, "missing_permissions",
     "the DeepSeek account has insufficient balance", (), ["/models"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("validator", "make_key", "scenario", "state", "config", "outcome", "detail", "capabilities", "paths"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_the_check_follows_the_key_type(
    provider_servers, make_validator, caplog, validator, make_key, scenario, state, config, outcome, detail,
    capabilities, paths,
):  # fmt: skip
    caplog.set_level(logging.DEBUG)
    server = getattr(provider_servers, validator)
    server.state.update(state)
    key = server.set(make_key(), scenario)
    result = make_validator(validator).validate(api_key(key), config)
    # `detail` column: what the check says, as status detail or (routine valid checks) audit remark.
    assert (result.outcome, result.detail or result.remark, result.capabilities) == (outcome, detail, capabilities)
    assert [r.path for r in server.requests] == paths
    # The key travels in a header only, and no part of it in the verdict or the log.
    assert not any(r.secret_in_url for r in server.requests)
    assert key[-12:] not in repr(result) and key[-12:] not in caplog.text


def _query(server, path: str) -> dict[str, list[str]]:
    (request,) = [r for r in server.requests if r.path == path]
    return parse_qs(request.query)


def test_openai_admin_check_asks_one_cost_bucket_of_the_last_24_hours(provider_servers, make_validator):
    key = provider_servers.openai.set(openai_key("admin"), "valid")
    config = {"organization": "org-abc", "project": "proj_xyz"}
    assert make_validator("openai").validate(api_key(key), config).outcome == "valid"
    query = _query(provider_servers.openai, OPENAI_COSTS)
    assert query["limit"] == ["1"] and set(query) == {"start_time", "limit"}
    assert abs(int(query["start_time"][0]) - (time.time() - 86400)) < 120
    (request,) = provider_servers.openai.requests
    # The organization APIs are not scoped to a project: only the organization header goes.
    assert "openai-organization" in request.header_names and "openai-project" not in request.header_names


def test_anthropic_admin_check_asks_one_day_of_cost_report_from_yesterday(provider_servers, make_validator):
    key = provider_servers.anthropic.set(anthropic_key(admin=True), "valid")
    assert make_validator("anthropic").validate(api_key(key), {}).outcome == "valid"
    query = _query(provider_servers.anthropic, COST_REPORT)
    assert query["limit"] == ["1"] and set(query) == {"starting_at", "limit"}
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    assert query["starting_at"] in ([f"{yesterday.isoformat()}T00:00:00Z"], [f"{yesterday + timedelta(1)}T00:00:00Z"])
    (request,) = provider_servers.anthropic.requests
    assert {"x-api-key", "anthropic-version"} <= set(request.header_names)


@pytest.mark.parametrize(
    ("scenario", "config", "outcome", "detail", "capabilities"),
    [
        pytest.param(
            "valid",
            {"billing_export_table": TABLE},
            "valid",
            f"billing export table {TABLE} is readable",
            ("costs",),
            id="table-read",
        ),  # fmt: skip
        pytest.param("valid", {}, "valid", NO_TABLE, (), id="no-table"),
        pytest.param(
            "no_data_viewer",
            {"billing_export_table": TABLE},
            "missing_permissions",
            f"cannot read billing export table {TABLE}: grant roles/bigquery.dataViewer on its dataset",
            (),
            id="table-refused",
        ),  # fmt: skip
    ],
)
def test_gcp_reports_costs_only_when_the_billing_table_was_read(
    provider_servers, make_validator, scenario, config, outcome, detail, capabilities
):
    info = provider_servers.gcp_service_account(scenario)
    result = make_validator("gcp").validate(Credential.service_account(info), config)
    # `detail` column: what the check says, as status detail or (routine valid checks) audit remark.
    assert (result.outcome, result.detail or result.remark, result.capabilities) == (outcome, detail, capabilities)


def test_every_cost_detail_says_where_an_admin_key_is_made_and_its_prefix():
    """The validators' own texts (not just this file's copies) for every detail about costs."""
    from shared.validators import anthropic, openai

    openai_texts = [openai.INFERENCE_ONLY, openai.READ_ONLY_ADMIN, openai.COSTS_DENIED]
    anthropic_texts = [anthropic.INFERENCE_ONLY, anthropic.NO_COST_REPORT]
    for texts, page, prefix in [
        (openai_texts, "platform.openai.com/settings/organization/admin-keys", "(sk-admin-...)"),
        (anthropic_texts, "console.anthropic.com/settings/admin-keys", "(sk-ant-admin01-...)"),
    ]:
        for text in texts:
            assert "cost" in text and page in text and prefix in text, text
    assert "api.usage.read" in openai.READ_ONLY_ADMIN


SWEEP = [
    ("openai", openai_key, ["valid", "invalid", "missing_scope", "forbidden", "quota", "rate_limited", "unavailable"]),
    ("openai", admin, ["valid", "invalid", "read_only", "forbidden", "rate_limited", "unavailable", "server_error"]),
    ("anthropic", anthropic_key, ["valid", "invalid", "forbidden", "billing", "rate_limited", "unavailable"]),
    ("anthropic", ant_admin, ["valid", "invalid", "forbidden", "billing", "rate_limited", "timeout_error"]),
    ("gemini", gemini_key, ["valid", "invalid", "service_disabled", "failed_precondition", "rate_limited"]),
    ("deepseek", deepseek_key, ["valid", "no_balance", "balance_refused", "balance_unavailable", "invalid",
                                "insufficient_balance", "rate_limited"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("validator", "make_key", "scenario"),
    [pytest.param(v, k, s, id=f"{v}-{k.__name__}-{s}") for v, k, names in SWEEP for s in names],
)
def test_capabilities_are_from_the_vocabulary_and_only_on_valid(
    provider_servers, make_validator, validator, make_key, scenario
):
    key = getattr(provider_servers, validator).set(make_key(), scenario)
    result = make_validator(validator, provider_max_attempts=1).validate(api_key(key), {})
    assert set(result.capabilities) <= set(CAPABILITIES)
    assert list(result.capabilities) == [c for c in CAPABILITIES if c in result.capabilities]  # vocabulary order
    assert (result.outcome == "valid") == bool(result.capabilities)

"""Issue 9 item 4: whatever a provider sends, `validate` ends in a verdict and never raises
(a raise became a 500 on validate and left a queued integration in `validating`).

Issue 9 item 17 (provider side): a failed attempt is logged as a WARNING with its attempt,
error type or status and host, in the `fields` the JSON formatter prints; never a trace."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.domain.models import Credential
from shared.logs import JsonFormatter
from shared.validators import get_validator
from tests.support.hostile_provider import HostileProvider
from tests.support.provider_servers import anthropic_key, deepseek_key, gemini_key, openai_key

from .conftest import api_key

VERDICTS = {"valid", "invalid_credentials", "missing_permissions", "rate_limited", "provider_unavailable"}
KEYS = {"openai": openai_key, "anthropic": anthropic_key, "gemini": gemini_key, "deepseek": deepseek_key}
URL_SETTING = {"openai": ("openai_base_url", "/v1"), "anthropic": ("anthropic_base_url", ""),
               "gemini": ("gemini_base_url", ""), "deepseek": ("deepseek_base_url", "")}  # fmt: skip
# Every provider validator, and each GCP step that reads an answer's body.
TARGETS = [*KEYS, "gcp-token", "gcp-bigquery", "azure-token", "azure-arm"]


def _validate(provider_servers, target: str, url: str, **overrides):
    """Validate a well-formed credential with `target`'s provider calls going to `url`."""
    if target == "gcp-token":
        settings = provider_servers.settings(gcp_token_uri=url + "/token", provider_max_attempts=1, **overrides)
        info = {**provider_servers.gcp_service_account("valid"), "token_uri": url + "/token"}
        name, credential = "gcp", Credential.service_account(info)
    elif target == "gcp-bigquery":
        settings = provider_servers.settings(
            bigquery_api_url=url + "/bigquery/v2", provider_max_attempts=1, **overrides
        )
        name, credential = "gcp", Credential.service_account(provider_servers.gcp_service_account("valid"))
    elif target.startswith("azure-"):
        setting = "azure_authority_host" if target == "azure-token" else "azure_management_url"
        settings = provider_servers.settings(**{setting: url}, provider_max_attempts=1, **overrides)
        credential, scope = provider_servers.azure_principal("valid")
        if target == "azure-arm":
            provider_servers.azure_login.state["audience"] = url  # the token is for the ARM at `url`
        validator = get_validator("azure", settings)
        try:
            return validator.validate(Credential.service_principal(credential), {"scope": scope})
        finally:
            validator.close()
    else:
        field, suffix = URL_SETTING[target]
        settings = provider_servers.settings(**{field: url + suffix}, provider_max_attempts=1, **overrides)
        name, credential = target, api_key(KEYS[target]())
    validator = get_validator(name, settings)
    try:
        return validator.validate(credential, {})
    finally:
        validator.close()


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 429, 500])
@pytest.mark.parametrize("target", TARGETS)
def test_a_body_nested_200k_levels_deep_gets_a_verdict(provider_servers, target, status):
    with HostileProvider("deep", status=status, depth=200_000) as server:
        result = _validate(provider_servers, target, server.url)
    assert result.outcome in VERDICTS
    assert result.outcome != "valid"


class _Unforeseen(Exception):
    """Stands for any failure an interpreter did not foresee."""


@pytest.mark.parametrize("target", [*KEYS, "gcp-token", "azure-token"])
def test_any_unforeseen_failure_reading_an_answer_is_a_verdict_and_logs_only_its_type(
    provider_servers, target, monkeypatch, caplog
):
    """Every validator's answer reading goes through `json_body`; make it fail unforeseeably."""
    import importlib

    module = {"gcp-token": "gcp", "azure-token": "azure", "deepseek": "openai"}.get(
        target, target
    )  # DeepSeek reads answers as OpenAI does
    secret_text = "provider said sk-proj-" + "x" * 40

    def unforeseen(response):
        raise _Unforeseen(secret_text)

    monkeypatch.setattr(importlib.import_module(f"shared.validators.{module}"), "json_body", unforeseen)
    caplog.set_level(logging.DEBUG)
    with HostileProvider("body", status=401, body=b'{"error": {}}') as server:
        result = _validate(provider_servers, target, server.url)
    provider = {"gcp-token": "Google Cloud", "openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Gemini",
                "deepseek": "DeepSeek", "azure-token": "Azure"}[target]  # fmt: skip
    assert (result.outcome, result.detail) == (
        "provider_unavailable",
        f"{provider} sent an answer that could not be read",
    )
    logged = [r for r in caplog.records if r.getMessage() == "provider answer could not be read"]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert logged[0].fields == {"provider": provider, "error_type": "_Unforeseen"} and not logged[0].exc_info
    assert secret_text not in caplog.text


def test_an_odd_field_type_in_a_gemini_error_is_a_verdict(provider_servers):
    # `details` must be a list; an int made the interpreter raise TypeError (a 500 before).
    body = json.dumps({"error": {"code": 403, "status": "PERMISSION_DENIED", "details": 5}}).encode()
    with HostileProvider("body", status=403, body=body) as server:
        result = _validate(provider_servers, "gemini", server.url)
    assert (result.outcome, result.detail) == ("provider_unavailable", "Gemini sent an answer that could not be read")


# ---------------------------------------------------------------- item 17: retry warnings


@pytest.fixture
def json_log():
    """Formatted log lines of the validators, exactly as the service's JSON formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("shared.validators")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(saved)


def test_a_retried_status_is_a_warning_with_attempt_status_and_host(provider_servers, make_validator, json_log):
    key = provider_servers.openai.set(openai_key(), "flaky")  # 503 once, then the model list
    assert make_validator("openai").validate(api_key(key), {}).outcome == "valid"
    lines = json_log()
    assert [line["severity"] for line in lines] == ["WARNING"]
    line = lines[0]
    assert line["message"] == "provider call failed"
    assert (line["attempt"], line["status"], line["host"], line["provider"]) == (1, 503, "127.0.0.1", "OpenAI")
    assert line["retrying"] is True and "error_type" not in line


def test_a_timed_out_attempt_logs_its_error_type(provider_servers, make_validator, json_log):
    server = provider_servers.anthropic
    key = server.set(anthropic_key(), "slow")
    server.slow_seconds = 5.0
    make_validator("anthropic", provider_timeout_seconds=0.2, provider_max_attempts=2).validate(api_key(key), {})
    lines = json_log()
    assert [(line["severity"], line["attempt"], line["error_type"], line["retrying"]) for line in lines] == [
        ("WARNING", 1, "ReadTimeout", True),
        ("WARNING", 2, "ReadTimeout", False),
    ]
    assert all(line["host"] == "127.0.0.1" and "Traceback" not in json.dumps(line) for line in lines)
    assert key not in json.dumps(lines)

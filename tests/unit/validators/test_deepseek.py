from __future__ import annotations

import pytest

from shared.domain.errors import InvalidFormatError
from tests.support.provider_servers import deepseek_key, openai_key

from .conftest import api_key


@pytest.mark.parametrize("key", [deepseek_key(), "sk-" + "A1" * 8, "sk-" + "a" * 128])
def test_format_accepts(make_validator, key):
    make_validator("deepseek").check_format(api_key(key), {})


@pytest.mark.parametrize(
    "key", ["sk-" + "a" * 15, "sk-" + "a" * 129, "sk-" + "a_" * 16, openai_key(), "", "ds-" + "a" * 32]
)
def test_format_rejects(make_validator, key):
    with pytest.raises(InvalidFormatError, match=r"^Invalid API key format$"):
        make_validator("deepseek").check_format(api_key(key), {})


@pytest.mark.parametrize(
    ("scenario", "outcome", "detail_has", "paths"),
    [
        # Issue 11: a valid model list is followed by the balance call.
        ("valid", "valid", None, ["/models", "/user/balance"]),
        ("invalid", "invalid_credentials", None, ["/models"]),
        ("insufficient_balance", "missing_permissions", "insufficient balance", ["/models"]),
    ],
)
def test_answers_map_to_outcomes(provider_servers, make_validator, scenario, outcome, detail_has, paths):
    key = provider_servers.deepseek.set(deepseek_key(), scenario)
    result = make_validator("deepseek").validate(api_key(key), {})
    assert result.outcome == outcome
    if detail_has:
        assert detail_has in result.detail
    requests = provider_servers.deepseek.requests
    assert [(r.method, r.path) for r in requests] == [("GET", p) for p in paths]  # no /v1 on DeepSeek's base URL
    assert all("authorization" in r.header_names for r in requests)


def test_overload_retried_then_unavailable(provider_servers, make_validator):
    key = provider_servers.deepseek.set(deepseek_key(), "unavailable")
    assert make_validator("deepseek").validate(api_key(key), {}).outcome == "provider_unavailable"
    assert provider_servers.deepseek.count() == 3


def test_rate_limited(provider_servers, make_validator):
    key = provider_servers.deepseek.set(deepseek_key(), "rate_limited")
    assert make_validator("deepseek").validate(api_key(key), {}).outcome == "rate_limited"
    assert provider_servers.deepseek.count() == 3

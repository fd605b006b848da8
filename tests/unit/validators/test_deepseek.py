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
    ("scenario", "outcome", "detail_has"),
    [
        ("valid", "valid", None),
        ("invalid", "invalid_credentials", None),
        ("insufficient_balance", "missing_permissions", "insufficient balance"),
    ],
)
def test_answers_map_to_outcomes(provider_servers, make_validator, scenario, outcome, detail_has):
    key = provider_servers.deepseek.set(deepseek_key(), scenario)
    result = make_validator("deepseek").validate(api_key(key), {})
    assert result.outcome == outcome
    if detail_has:
        assert detail_has in result.detail
    (request,) = provider_servers.deepseek.requests
    assert (request.method, request.path) == ("GET", "/models")  # no /v1 on DeepSeek's base URL
    assert "authorization" in request.header_names


def test_overload_retried_then_unavailable(provider_servers, make_validator):
    key = provider_servers.deepseek.set(deepseek_key(), "unavailable")
    assert make_validator("deepseek").validate(api_key(key), {}).outcome == "provider_unavailable"
    assert provider_servers.deepseek.count() == 3


def test_rate_limited(provider_servers, make_validator):
    key = provider_servers.deepseek.set(deepseek_key(), "rate_limited")
    assert make_validator("deepseek").validate(api_key(key), {}).outcome == "rate_limited"
    assert provider_servers.deepseek.count() == 3

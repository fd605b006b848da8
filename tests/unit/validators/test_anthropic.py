from __future__ import annotations

import pytest

from shared.domain.errors import InvalidFormatError
from tests.support.provider_servers import anthropic_key, openai_key

from .conftest import api_key


@pytest.mark.parametrize("key", [anthropic_key(), anthropic_key(admin=True)])
def test_format_accepts(make_validator, key):
    assert len(key) in (108, 110)
    make_validator("anthropic").check_format(api_key(key), {})


def _with_body(prefix: str, body_len: int = 93, suffix: str = "AA") -> str:
    return prefix + "x" * body_len + suffix


@pytest.mark.parametrize(
    "key",
    [
        _with_body("sk-ant-oat01-"),  # OAuth access token
        _with_body("sk-ant-ort01-"),  # OAuth refresh token
        _with_body("sk-ant-api02-"),
        _with_body("sk-ant-api03-", 92),
        _with_body("sk-ant-api03-", 94),
        _with_body("sk-ant-api03-", 93, "AB"),
        _with_body("sk-ant-api03-", 93, ""),
        "sk-ant-api03-" + "x" * 92 + "+" + "AA",
        openai_key(),
        "",
    ],
)
def test_format_rejects(make_validator, key):
    with pytest.raises(InvalidFormatError, match=r"^Invalid API key format$"):
        make_validator("anthropic").check_format(api_key(key), {})


@pytest.mark.parametrize(
    ("scenario", "outcome", "detail_has"),
    [
        ("valid", "valid", None),
        ("invalid", "invalid_credentials", None),
        ("forbidden", "missing_permissions", "may not"),
        ("billing", "missing_permissions", "billing"),
    ],
)
def test_answers_map_to_outcomes(provider_servers, make_validator, scenario, outcome, detail_has):
    key = provider_servers.anthropic.set(anthropic_key(), scenario)
    result = make_validator("anthropic").validate(api_key(key), {})
    assert result.outcome == outcome
    if detail_has:
        assert detail_has in result.detail
    assert provider_servers.anthropic.count("/v1/models") == 1


def test_sends_the_headers_anthropic_requires(provider_servers, make_validator):
    key = provider_servers.anthropic.set(anthropic_key(), "valid")
    assert make_validator("anthropic").validate(api_key(key), {}).outcome == "valid"
    (request,) = provider_servers.anthropic.requests
    assert {"x-api-key", "anthropic-version"} <= set(request.header_names)
    assert "authorization" not in request.header_names
    assert (request.method, request.path, request.query) == ("GET", "/v1/models", "")


def test_admin_key_detail(provider_servers, make_validator):
    key = provider_servers.anthropic.set(anthropic_key(admin=True), "valid")
    assert make_validator("anthropic").validate(api_key(key), {}).remark == "admin key"


@pytest.mark.parametrize("scenario", ["unavailable", "server_error", "timeout_error"])  # 529, 500, 504
def test_transient_answers_retried_then_unavailable(provider_servers, make_validator, scenario):
    key = provider_servers.anthropic.set(anthropic_key(), scenario)
    result = make_validator("anthropic", provider_max_attempts=3).validate(api_key(key), {})
    assert result.outcome == "provider_unavailable"
    assert provider_servers.anthropic.count() == 3


def test_rate_limit_honours_small_retry_after(provider_servers, make_validator):
    import time

    server = provider_servers.anthropic
    key = server.set(anthropic_key(), "rate_limited")
    server.retry_after = "1"
    started = time.monotonic()
    result = make_validator("anthropic", provider_max_attempts=2).validate(api_key(key), {})
    elapsed = time.monotonic() - started
    assert result.outcome == "rate_limited"
    assert server.count() == 2
    assert 1.0 <= elapsed < 3.0


def test_large_retry_after_is_capped(provider_servers, make_validator, monkeypatch):
    import time

    from shared.validators import http

    monkeypatch.setattr(http, "RETRY_AFTER_CAP_SECONDS", 0.2)
    server = provider_servers.anthropic
    key = server.set(anthropic_key(), "rate_limited")
    server.retry_after = "3600"
    started = time.monotonic()
    result = make_validator("anthropic", provider_max_attempts=3).validate(api_key(key), {})
    assert result.outcome == "rate_limited"
    assert server.count() == 3
    assert time.monotonic() - started < 1.5


def test_flaky_overload_recovers(provider_servers, make_validator):
    key = provider_servers.anthropic.set(anthropic_key(), "flaky")
    assert make_validator("anthropic").validate(api_key(key), {}).outcome == "valid"
    assert provider_servers.anthropic.count() == 2

from __future__ import annotations

import httpx
import pytest

from shared.domain.errors import InvalidFormatError
from tests.support.provider_servers import gemini_key

from .conftest import api_key


def test_format_accepts(make_validator):
    validator = make_validator("gemini")
    for _ in range(20):
        validator.check_format(api_key(gemini_key()), {})


@pytest.mark.parametrize(
    "key",
    [
        "AIza" + "a" * 34,
        "AIza" + "a" * 36,
        "AIzb" + "a" * 35,
        "aiza" + "a" * 35,
        "AIza" + "a" * 34 + ".",
        "",
        "sk-" + "a" * 40,
    ],
)
def test_format_rejects(make_validator, key):
    with pytest.raises(InvalidFormatError, match=r"^Invalid API key format$"):
        make_validator("gemini").check_format(api_key(key), {})


@pytest.mark.parametrize(
    ("scenario", "outcome", "detail"),
    [
        ("valid", "valid", None),
        ("invalid", "invalid_credentials", None),  # 400 INVALID_ARGUMENT / API_KEY_INVALID
        ("service_disabled", "missing_permissions", "Generative Language API is disabled in project 123456789012"),
        (
            "service_blocked",
            "missing_permissions",
            "the key is restricted to other APIs than the Generative Language API",
        ),
        ("referrer_blocked", "missing_permissions", "the key is restricted to certain HTTP referrers"),
        ("ip_blocked", "missing_permissions", "the key is restricted to certain IP addresses"),
        (
            "failed_precondition",
            "missing_permissions",
            "the Gemini API is not available for this project: billing or region required",
        ),
    ],
)
def test_answers_map_to_outcomes(provider_servers, make_validator, scenario, outcome, detail):
    key = provider_servers.gemini.set(gemini_key(), scenario)
    result = make_validator("gemini").validate(api_key(key), {})
    assert (result.outcome, result.detail) == (outcome, detail)
    assert provider_servers.gemini.count("/v1beta/models") == 1


def test_key_travels_in_header_never_in_query(provider_servers, make_validator):
    key = provider_servers.gemini.set(gemini_key(), "valid")
    assert make_validator("gemini").validate(api_key(key), {}).outcome == "valid"
    (request,) = provider_servers.gemini.requests
    assert "x-goog-api-key" in request.header_names
    assert request.query == "" and not request.secret_in_url


def test_server_refuses_key_in_query(provider_servers):
    """The stand-in makes a `?key=` validator fail loudly, so none can slip in."""
    key = provider_servers.gemini.set(gemini_key(), "valid")
    response = httpx.get(provider_servers.gemini_url + "/v1beta/models", params={"key": key})
    assert response.status_code == 400
    assert provider_servers.gemini.requests[0].secret_in_url


def test_resource_exhausted_retried_with_retry_info_then_rate_limited(provider_servers, make_validator):
    key = provider_servers.gemini.set(gemini_key(), "rate_limited")
    result = make_validator("gemini", provider_max_attempts=3).validate(api_key(key), {})
    assert result.outcome == "rate_limited"
    assert provider_servers.gemini.count() == 3


def test_unavailable_retried(provider_servers, make_validator):
    key = provider_servers.gemini.set(gemini_key(), "unavailable")
    result = make_validator("gemini", provider_max_attempts=2).validate(api_key(key), {})
    assert result.outcome == "provider_unavailable"
    assert provider_servers.gemini.count() == 2


def test_retry_delay_parsed_from_body(provider_servers, make_validator):
    import time

    server = provider_servers.gemini
    key = server.set(gemini_key(), "rate_limited")
    server.retry_after = "0.6"  # RetryInfo.retryDelay "0.6s"
    started = time.monotonic()
    make_validator("gemini", provider_max_attempts=2).validate(api_key(key), {})
    assert time.monotonic() - started >= 0.6

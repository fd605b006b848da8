from __future__ import annotations

import pytest

from shared.domain.errors import InvalidFormatError
from tests.support.provider_servers import anthropic_key, openai_key

from .conftest import api_key


@pytest.mark.parametrize(
    "key",
    [
        openai_key("proj"),
        openai_key("svcacct"),
        openai_key("admin"),
        openai_key(""),  # legacy sk- + 48
        openai_key("newkind"),  # unknown sub-prefix: a hint, not a reason to reject
        "sk-" + "a" * 20,
        "sk-" + "a_b-" * 100,
    ],
)
def test_format_accepts(make_validator, key):
    make_validator("openai").check_format(api_key(key), {})


@pytest.mark.parametrize(
    "key",
    [
        "",
        "sk-",
        "sk-short",
        "sk-" + "a" * 19,
        "sk-" + "a" * 401,
        "pk-" + "a" * 40,
        " sk-" + "a" * 40,
        "sk-" + "a" * 40 + "\n",
        "sk-" + "a" * 20 + "+/=",
        "sk-" + "é" * 30,
        anthropic_key(),
        "Bearer sk-" + "a" * 40,
    ],
)
def test_format_rejects_without_echoing(make_validator, key):
    with pytest.raises(InvalidFormatError) as info:
        make_validator("openai").check_format(api_key(key), {})
    assert str(info.value) == "Invalid API key format"
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("scenario", "outcome", "detail_has"),
    [
        ("valid", "valid", None),
        ("invalid", "invalid_credentials", None),
        ("missing_scope", "missing_permissions", "scope"),
        ("forbidden", "missing_permissions", "country"),
        ("quota", "missing_permissions", "insufficient quota"),
    ],
)
def test_answers_map_to_outcomes(provider_servers, make_validator, scenario, outcome, detail_has):
    key = provider_servers.openai.set(openai_key(), scenario)
    result = make_validator("openai").validate(api_key(key), {})
    assert result.outcome == outcome
    if detail_has:
        assert detail_has in result.detail
    # Permanent answers (and quota) are asked once, never retried.
    assert provider_servers.openai.count("/v1/models") == 1


def test_unknown_key_is_invalid(provider_servers, make_validator):
    result = make_validator("openai").validate(api_key(openai_key()), {})
    assert result.outcome == "invalid_credentials"


def test_sends_bearer_and_optional_org_project_headers(provider_servers, make_validator):
    key = provider_servers.openai.set(openai_key(), "valid")
    validator = make_validator("openai")
    assert validator.validate(api_key(key), {}).outcome == "valid"
    assert validator.validate(api_key(key), {"organization": "org-abc", "project": "proj_xyz"}).outcome == "valid"
    first, second = provider_servers.openai.requests
    assert "authorization" in first.header_names and "openai-organization" not in first.header_names
    assert {"openai-organization", "openai-project"} <= set(second.header_names)
    assert all(r.method == "GET" and r.path == "/v1/models" and r.query == "" for r in (first, second))


def test_admin_key_is_reported(provider_servers, make_validator):
    key = provider_servers.openai.set(openai_key("admin"), "valid")
    assert make_validator("openai").validate(api_key(key), {}).remark == "admin key"


def test_rate_limit_is_retried_then_rate_limited(provider_servers, make_validator):
    key = provider_servers.openai.set(openai_key(), "rate_limited")
    result = make_validator("openai", provider_max_attempts=3).validate(api_key(key), {})
    assert result.outcome == "rate_limited" and result.transient
    assert provider_servers.openai.count() == 3


@pytest.mark.parametrize("scenario", ["unavailable", "server_error"])
def test_server_errors_retried_then_unavailable(provider_servers, make_validator, scenario):
    key = provider_servers.openai.set(openai_key(), scenario)
    result = make_validator("openai", provider_max_attempts=2).validate(api_key(key), {})
    assert result.outcome == "provider_unavailable"
    assert provider_servers.openai.count() == 2


def test_flaky_recovers(provider_servers, make_validator):
    key = provider_servers.openai.set(openai_key(), "flaky")
    assert make_validator("openai").validate(api_key(key), {}).outcome == "valid"
    assert provider_servers.openai.count() == 2


def test_bad_format_is_invalid_without_a_call(provider_servers, make_validator):
    result = make_validator("openai").validate(api_key("sk-nope"), {})
    assert result.outcome == "invalid_credentials"
    assert provider_servers.openai.count() == 0

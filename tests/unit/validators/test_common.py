"""What every API-key validator guarantees: bounded time, bounded retries, no leaks."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from shared.domain.errors import UnknownProviderError
from shared.settings import Settings
from shared.validators import VALIDATORS, get_validator
from tests.support.provider_servers import anthropic_key, deepseek_key, gemini_key, openai_key

from .conftest import api_key

KEYS = {"openai": openai_key, "anthropic": anthropic_key, "gemini": gemini_key, "deepseek": deepseek_key}
SCENARIOS = {
    "openai": ["valid", "invalid", "missing_scope", "forbidden", "quota", "rate_limited", "unavailable", "flaky"],
    "deepseek": ["valid", "invalid", "insufficient_balance", "rate_limited", "unavailable"],
    "anthropic": ["valid", "invalid", "forbidden", "billing", "rate_limited", "unavailable", "server_error"],
    "gemini": ["valid", "invalid", "service_disabled", "service_blocked", "failed_precondition", "rate_limited"],
}
CASES = [(p, s) for p, names in SCENARIOS.items() for s in names]


def test_factory_builds_every_registry_validator():
    from shared.registry import get_registry

    names = {p.validator for p in get_registry().available() if p.validator}
    assert names == set(VALIDATORS)
    for name in names:
        validator = get_validator(name, Settings())
        assert callable(validator.check_format) and callable(validator.validate)
        validator.close()


def test_factory_refuses_unknown_names():
    with pytest.raises(UnknownProviderError):
        get_validator("nope", Settings())


@pytest.mark.parametrize(("provider", "scenario"), CASES)
def test_key_never_in_url_result_or_log(provider_servers, make_validator, caplog, provider, scenario):
    server = getattr(provider_servers, provider)
    key = server.set(KEYS[provider](), scenario)
    caplog.set_level(logging.DEBUG)
    validator = make_validator(provider)
    result = validator.validate(api_key(key), {})
    assert server.requests, "the validator called the server"
    assert not any(r.secret_in_url for r in server.requests)
    assert key not in repr(result) and key[-12:] not in repr(result)
    assert key not in caplog.text and key[-12:] not in caplog.text
    assert key not in repr(validator)


@pytest.mark.parametrize("provider", list(KEYS))
def test_timeout_ends_in_bounded_time(provider_servers, make_validator, provider):
    server = getattr(provider_servers, provider)
    key = server.set(KEYS[provider](), "slow")
    server.slow_seconds = 5.0
    started = time.monotonic()
    result = make_validator(provider, provider_timeout_seconds=0.2, provider_max_attempts=2).validate(api_key(key), {})
    elapsed = time.monotonic() - started
    assert result.outcome == "provider_unavailable"
    assert "did not answer in time" in result.detail
    assert server.count() == 2
    assert elapsed < 1.5


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_unavailable_after_bounded_attempts():
    url = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(
        anthropic_base_url=url, provider_max_attempts=3, provider_backoff_seconds=0.01, provider_timeout_seconds=0.5
    )
    validator = get_validator("anthropic", settings)
    key = anthropic_key()
    started = time.monotonic()
    result = validator.validate(api_key(key), {})
    assert result.outcome == "provider_unavailable" and result.detail == "could not reach Anthropic"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("provider", list(KEYS))
def test_permanent_errors_are_not_retried(provider_servers, make_validator, provider):
    server = getattr(provider_servers, provider)
    key = KEYS[provider]()  # unknown to the server: its invalid-key answer
    result = make_validator(provider, provider_max_attempts=5).validate(api_key(key), {})
    assert result.outcome == "invalid_credentials"
    assert server.count() == 1


def test_backoff_grows_and_is_bounded(provider_servers, make_validator):
    from shared.validators import http

    slept: list[float] = []
    server = provider_servers.openai
    key = server.set(openai_key(), "unavailable")
    validator = make_validator("openai", provider_max_attempts=4, provider_backoff_seconds=0.5)
    outcome = http.request_with_retries(
        validator._client,
        "GET",
        provider_servers.openai_url + "/models",
        validator.settings,
        headers={"authorization": f"Bearer {key}"},
        provider="OpenAI",
        sleep=slept.append,
    )
    assert outcome.result is not None and outcome.result.outcome == "provider_unavailable"
    assert outcome.attempts == 4 and server.count() == 4
    assert slept == [0.5, 1.0, 2.0]  # no sleep after the last attempt


def test_invalid_format_error_never_echoes_key(make_validator):
    from shared.domain.errors import InvalidFormatError

    for provider, make in KEYS.items():
        bad = make() + "!"
        with pytest.raises(InvalidFormatError) as info:
            make_validator(provider).check_format(api_key(bad), {})
        assert bad not in str(info.value) and bad[:-1] not in repr(info.value)


@pytest.fixture(scope="module")
def interpreters():
    from shared.validators.anthropic import AnthropicValidator
    from shared.validators.gemini import GeminiValidator
    from shared.validators.openai import OpenAIValidator

    made = (OpenAIValidator(Settings()), AnthropicValidator(Settings()), GeminiValidator(Settings()))
    yield made
    for validator in made:
        validator.close()


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>Bad Gateway</html>", b"[]", b'{"error": "text"}', b'{"error": {"details": "x", "errors": {}}}'],
)
@pytest.mark.parametrize("status", [200, 400, 401, 402, 403, 404, 418])
def test_odd_bodies_never_raise(interpreters, body, status):
    """Whatever a provider (or a proxy in front of it) sends, validate maps it to an outcome."""
    import httpx

    from shared.validators.gcp import bigquery_error

    openai, anthropic, gemini = interpreters
    response = httpx.Response(status, content=body)
    outcomes = {
        openai.interpret(response, api_key(openai_key())).outcome,
        anthropic.interpret(response, api_key(anthropic_key())).outcome,
        gemini.interpret(response).outcome,
    }
    assert outcomes <= {"valid", "invalid_credentials", "missing_permissions", "provider_unavailable"}
    assert (200 in (status,)) == ("valid" in outcomes)
    assert isinstance(bigquery_error(response), tuple)

"""Issue 9 item 3: PROVIDER_TIMEOUT_SECONDS bounds a whole call (connect through last
byte), and VALIDATION_TIMEOUT_SECONDS a whole validation (every call, attempt and backoff).

These are time bounds, so the tests assert elapsed time, with generous slack."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from shared.domain.models import Credential
from shared.settings import Settings
from shared.validators import get_validator
from tests.support.hostile_provider import HostileProvider
from tests.support.provider_servers import openai_key

from .conftest import api_key


def _timed(validator, credential, config=None):
    started = time.monotonic()
    try:
        result = validator.validate(credential, config or {})
    finally:
        validator.close()
    return result, time.monotonic() - started


@pytest.mark.parametrize("mode", ["trickle", "slow_headers"])
def test_a_trickling_provider_cannot_outlast_the_call_timeout(mode):
    # One byte every 0.25 s never trips a 0.6 s read timeout: only a deadline ends the call.
    # Unbounded, each attempt would take ~8 s (the whole answer trickled).
    with HostileProvider(mode, interval=0.25) as server:
        settings = Settings(openai_base_url=server.url + "/v1", provider_timeout_seconds=0.6,
                            provider_max_attempts=2, provider_backoff_seconds=0.01)  # fmt: skip
        result, elapsed = _timed(get_validator("openai", settings), api_key(openai_key()))
        attempts = server.requests
    assert (result.outcome, result.detail) == ("provider_unavailable", "OpenAI did not answer in time")
    assert attempts == 2
    assert elapsed < 2 * 0.6 + 1.0  # two bounded calls, plus slack


def test_attempts_and_backoff_stop_at_the_validation_timeout(provider_servers):
    server = provider_servers.openai
    key = server.set(openai_key(), "slow")
    server.slow_seconds = 5.0
    settings = provider_servers.settings(provider_timeout_seconds=0.5, provider_max_attempts=10,
                                         provider_backoff_seconds=0.05, validation_timeout_seconds=1.2)  # fmt: skip
    result, elapsed = _timed(get_validator("openai", settings), api_key(key))
    assert result.outcome == "provider_unavailable"
    # 0.5 s, a 0.05 s pause, 0.5 s; a third attempt could not finish by 1.2 s so it never starts.
    assert server.count() == 2
    assert elapsed < 1.2 + 0.5


def test_no_backoff_starts_that_cannot_finish_in_time(provider_servers):
    server = provider_servers.openai
    key = server.set(openai_key(), "unavailable")  # answers 503 at once
    settings = provider_servers.settings(provider_timeout_seconds=0.5, provider_max_attempts=5,
                                         provider_backoff_seconds=0.4, validation_timeout_seconds=2.0)  # fmt: skip
    result, elapsed = _timed(get_validator("openai", settings), api_key(key))
    assert (result.outcome, result.detail) == ("provider_unavailable", "OpenAI answered HTTP 503")
    # pauses 0.4 and 0.8 fit (each followed by a possible 0.5 s call); the next, 1.6 s, does not.
    assert server.count() == 3
    assert elapsed < 2.0


def test_every_step_of_a_gcp_validation_shares_one_budget(provider_servers):
    # The token is granted at once; BigQuery then trickles. The steps after the token get
    # what is left of the validation's time, not a fresh PROVIDER_TIMEOUT_SECONDS each.
    with HostileProvider("trickle", interval=0.2) as bigquery:
        settings = provider_servers.settings(bigquery_api_url=bigquery.url + "/bigquery/v2", provider_timeout_seconds=0.8,
                                             provider_max_attempts=5, validation_timeout_seconds=1.0)  # fmt: skip
        credential = Credential.service_account(provider_servers.gcp_service_account("valid"))
        result, elapsed = _timed(get_validator("gcp", settings), credential)
    assert (result.outcome, result.detail) == ("provider_unavailable", "BigQuery did not answer in time")
    assert provider_servers.google_token.count("/token") == 1
    assert elapsed < 1.0 + 0.6


def test_validation_timeout_must_cover_one_call():
    assert Settings().validation_timeout_seconds == 30
    assert Settings(provider_timeout_seconds=5, validation_timeout_seconds=5).validation_timeout_seconds == 5
    with pytest.raises(ValidationError, match="VALIDATION_TIMEOUT_SECONDS must be at least PROVIDER_TIMEOUT_SECONDS"):
        Settings(provider_timeout_seconds=10, validation_timeout_seconds=5)


def test_the_validation_timeout_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("VALIDATION_TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("PROVIDER_MAX_RESPONSE_BYTES", "1048576")
    settings = Settings()
    assert settings.validation_timeout_seconds == 12.5 and settings.provider_max_response_bytes == 1 << 20

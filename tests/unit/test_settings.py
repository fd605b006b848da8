"""Settings: embedded defaults, environment overrides, and refusal of bad values at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared import container
from shared.settings import GOOGLE_TOKEN_URI, Settings, get_settings

PREFIXES = ("PORT", "HOST", "DATA_DIR", "STORE_", "KMS_", "QUEUE_", "PUBSUB_", "STATUS_", "GCP_", "BQ_", "BIGQUERY_",
            "VALIDATOR_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "DEEPSEEK_", "PROVIDER_", "VALIDATION_", "CORS_", "LOG_")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith(PREFIXES):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_are_the_embedded_backends(clean_env) -> None:
    settings = Settings()
    assert (settings.store_backend, settings.kms_backend, settings.queue_backend) == ("sqlite", "local", "local")
    assert settings.port == 8080 and settings.host == "127.0.0.1"
    assert settings.data_dir == Path("./.data")
    assert settings.openai_base_url == "https://api.openai.com/v1"
    assert settings.anthropic_base_url == "https://api.anthropic.com"
    assert settings.gemini_base_url == "https://generativelanguage.googleapis.com"
    assert settings.deepseek_base_url == "https://api.deepseek.com"
    assert settings.gcp_token_uri == GOOGLE_TOKEN_URI
    assert settings.validation_rate_limit == "5/600" and settings.rate_limit == (5, 600)
    assert settings.cors_origins == "" and settings.allowed_origins == frozenset()
    assert settings.log_level == "INFO" and settings.bq_dataset == "organizations"
    assert settings.gcp_project is None and settings.kms_key_name is None
    assert settings.local_validator_url == "http://127.0.0.1:8080/_functions/validate_credential"


def test_environment_overrides(clean_env, tmp_path: Path) -> None:
    clean_env.setenv("PORT", "9191")
    clean_env.setenv("DATA_DIR", str(tmp_path))
    clean_env.setenv("VALIDATION_RATE_LIMIT", "10/60")
    clean_env.setenv("CORS_ORIGINS", " https://a.example.com, https://b.example.com ,,")
    clean_env.setenv("LOG_LEVEL", "debug")
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    clean_env.setenv("STORE_BACKEND", "bigquery")
    clean_env.setenv("GCP_PROJECT", "my-project")
    clean_env.setenv("PROVIDER_TIMEOUT_SECONDS", "2.5")
    settings = Settings()
    assert settings.port == 9191 and settings.data_dir == tmp_path
    assert settings.rate_limit == (10, 60)
    assert settings.allowed_origins == frozenset({"https://a.example.com", "https://b.example.com"})
    assert settings.log_level == "DEBUG"
    assert settings.openai_base_url == "http://127.0.0.1:1/v1"
    assert settings.store_backend == "bigquery" and settings.gcp_project == "my-project"
    assert settings.provider_timeout_seconds == 2.5
    assert settings.local_validator_url == "http://127.0.0.1:9191/_functions/validate_credential"
    clean_env.setenv("VALIDATOR_URL", "http://127.0.0.1:7/validate")
    assert Settings().local_validator_url == "http://127.0.0.1:7/validate"


@pytest.mark.parametrize("value", ["5", "0/600", "5/0", "a/b", "-1/600", "5/-1", "5/600/1", "", "5.5/600",
                                   " 5/600", "5 / 600", "/600", "5/"])
def test_bad_validation_rate_limit_is_rejected(clean_env, value: str) -> None:
    clean_env.setenv("VALIDATION_RATE_LIMIT", value)
    with pytest.raises(ValidationError, match="VALIDATION_RATE_LIMIT"):
        Settings()
    with pytest.raises(ValidationError):
        Settings(validation_rate_limit=value)


@pytest.mark.parametrize("name,value", [
    ("STORE_BACKEND", "postgres"), ("KMS_BACKEND", "vault"), ("QUEUE_BACKEND", "kafka"),
    ("PORT", "0"), ("PORT", "70000"), ("PORT", "http"), ("LOG_LEVEL", "LOUD"),
    ("PROVIDER_TIMEOUT_SECONDS", "0"), ("PROVIDER_MAX_ATTEMPTS", "0"), ("VALIDATOR_MAX_DELIVERIES", "0"),
])
def test_other_bad_values_are_rejected(clean_env, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_is_read_once_and_reset_by_the_container(clean_env) -> None:
    clean_env.setenv("PORT", "9001")
    container.reset()
    first = get_settings()
    clean_env.setenv("PORT", "9002")
    assert get_settings() is first and first.port == 9001
    container.reset()
    assert get_settings().port == 9002


def test_backends_needing_a_project_refuse_to_build_without_it(clean_env, tmp_path: Path) -> None:
    from shared.domain.errors import IntegrationsError

    with pytest.raises(IntegrationsError, match="GCP_PROJECT"):
        container.build_store(Settings(store_backend="bigquery", data_dir=tmp_path))
    with pytest.raises(IntegrationsError, match="KMS_KEY_NAME"):
        container.build_cipher(Settings(kms_backend="gcp", data_dir=tmp_path))


def test_embedded_backends_are_built_from_defaults(clean_env, tmp_path: Path) -> None:
    from shared.adapters.local_keyring import LocalKeyring
    from shared.adapters.local_queue import LocalQueue
    from shared.adapters.sqlite_store import SqliteStore

    settings = Settings(data_dir=tmp_path)
    service = container.build_service(settings)
    try:
        assert isinstance(service.store, SqliteStore)
        # Cipher and queue are built on first use (cold start): unwrap the lazy holders.
        assert isinstance(service.cipher._target(), LocalKeyring)
        assert isinstance(service.queue._target(), LocalQueue)
    finally:
        service.queue.close()
        service.store.close()

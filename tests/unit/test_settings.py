"""Settings: embedded defaults, environment overrides, and refusal of bad values at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared import container
from shared.settings import GOOGLE_TOKEN_URI, Settings, SettingsError, get_settings, settings_error, topic_parts

ROOT = Path(__file__).resolve().parents[2]

PREFIXES = (
    "PORT",
    "HOST",
    "DATA_DIR",
    "STORE_",
    "KMS_",
    "QUEUE_",
    "PUBSUB_",
    "STATUS_",
    "GCP_",
    "BQ_",
    "BIGQUERY_",
    "VALIDATOR_",
    "OPENAI_",
    "ANTHROPIC_",
    "GEMINI_",
    "DEEPSEEK_",
    "PROVIDER_",
    "VALIDATION_",
    "CORS_",
    "LOG_",
)


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
    assert settings.data_dir == ROOT / ".data"  # the project's, whatever the working directory
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


@pytest.mark.parametrize(
    "value", ["5", "0/600", "5/0", "a/b", "-1/600", "5/-1", "5/600/1", "", "5.5/600", " 5/600", "5 / 600", "/600", "5/"]
)
def test_bad_validation_rate_limit_is_rejected(clean_env, value: str) -> None:
    clean_env.setenv("VALIDATION_RATE_LIMIT", value)
    with pytest.raises(ValidationError, match="VALIDATION_RATE_LIMIT"):
        Settings()
    with pytest.raises(ValidationError):
        Settings(validation_rate_limit=value)


@pytest.mark.parametrize(
    "name,value",
    [
        ("STORE_BACKEND", "postgres"),
        ("KMS_BACKEND", "vault"),
        ("QUEUE_BACKEND", "kafka"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "http"),
        ("LOG_LEVEL", "LOUD"),
        ("PROVIDER_TIMEOUT_SECONDS", "0"),
        ("PROVIDER_MAX_ATTEMPTS", "0"),
        ("VALIDATOR_MAX_DELIVERIES", "0"),
    ],
)
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


def test_backends_needing_a_project_refuse_to_start_without_it(clean_env, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GCP_PROJECT is required when STORE_BACKEND=bigquery"):
        Settings(store_backend="bigquery", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="KMS_KEY_NAME is required when KMS_BACKEND=gcp"):
        Settings(kms_backend="gcp", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="GCP_PROJECT is required when QUEUE_BACKEND=pubsub"):
        Settings(queue_backend="pubsub", data_dir=tmp_path)


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


# ---------------------------------------------------------------- every setting checked at start


BAD = [  # (environment, what the message must say); every case used to pass Settings()
    ({"PORT": "80x"}, "PORT must be a valid integer"),
    ({"VALIDATION_RATE_LIMIT": "abc"}, "VALIDATION_RATE_LIMIT must look like"),
    ({"KMS_BACKEND": "gcp"}, "KMS_KEY_NAME is required when KMS_BACKEND=gcp"),
    ({"KMS_BACKEND": "gcp", "KMS_KEY_NAME": "my-key"}, "KMS_KEY_NAME must be projects/"),
    ({"QUEUE_BACKEND": "pubsub"}, "GCP_PROJECT is required when QUEUE_BACKEND=pubsub"),
    ({"STORE_BACKEND": "bigquery"}, "GCP_PROJECT is required when STORE_BACKEND=bigquery"),
    ({"GCP_PROJECT": "My Project"}, "GCP_PROJECT must be a Google Cloud project id"),
    ({"BQ_DATASET": "my-dataset"}, "BQ_DATASET must be"),
    ({"OPENAI_BASE_URL": "api.openai.com/v1"}, "OPENAI_BASE_URL must be an absolute http:// or https:// URL"),
    ({"ANTHROPIC_BASE_URL": "ftp://api.anthropic.com"}, "ANTHROPIC_BASE_URL must be"),
    ({"GEMINI_BASE_URL": "https://"}, "GEMINI_BASE_URL must be"),
    ({"DEEPSEEK_BASE_URL": "http://host:port"}, "DEEPSEEK_BASE_URL must be an http(s) URL with a valid port"),
    ({"GCP_TOKEN_URI": "oauth2.googleapis.com/token"}, "GCP_TOKEN_URI must be"),
    ({"BIGQUERY_API_URL": "localhost:9050"}, "BIGQUERY_API_URL must be"),
    ({"VALIDATOR_URL": "127.0.0.1:8080/_functions/validate_credential"}, "VALIDATOR_URL must be"),
    ({"CORS_ORIGINS": "app.example.com"}, "CORS_ORIGINS must list origins like https://app.example.com"),
    ({"CORS_ORIGINS": "https://ok.example.com, https://app.example.com/"}, "CORS_ORIGINS must list origins"),
    ({"PUBSUB_EMULATOR_HOST": "http://127.0.0.1:8085"}, "PUBSUB_EMULATOR_HOST must be host:port"),
    ({"KMS_ENDPOINT": "127.0.0.1"}, "KMS_ENDPOINT must be host:port"),
    ({"BIGQUERY_EMULATOR_HOST": "bq emulator"}, "BIGQUERY_EMULATOR_HOST must be host:port or an http(s) URL"),
    ({"PUBSUB_TOPIC": "projects/p/topics"}, "PUBSUB_TOPIC must be a topic name or projects/P/topics/T"),
    ({"STATUS_EVENTS_TOPIC": "goog-events"}, "STATUS_EVENTS_TOPIC must be a topic name"),
    (
        {"QUEUE_BACKEND": "pubsub", "PUBSUB_TOPIC": "projects/p/topics/validation"},
        "GCP_PROJECT is required when QUEUE_BACKEND=pubsub and STATUS_EVENTS_TOPIC is a short name",
    ),
]


@pytest.mark.parametrize(
    "environment,expected", BAD, ids=[next(iter(e)) + "=" + next(iter(e.values())) for e, _ in BAD]
)
def test_a_bad_setting_is_refused_at_start_naming_the_variable(clean_env, environment: dict, expected: str) -> None:
    for name, value in environment.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = settings_error(caught.value).message
    assert expected in message, message
    assert "ValidationError" not in message and "pydantic" not in message


def test_a_setting_error_never_repeats_the_value(clean_env) -> None:
    clean_env.setenv("OPENAI_BASE_URL", "https://user:s3cret-canary@api openai.com")
    clean_env.setenv("CORS_ORIGINS", "https://x:s3cret-canary@app.example.com")
    clean_env.setenv("PORT", "s3cret-canary")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = settings_error(caught.value).message
    assert "s3cret-canary" not in message and "PORT" in message


def test_every_problem_is_reported_at_once(clean_env) -> None:
    for name, value in {"KMS_BACKEND": "gcp", "STORE_BACKEND": "bigquery", "OPENAI_BASE_URL": "nope"}.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = settings_error(caught.value).message
    assert "KMS_KEY_NAME" in message and "GCP_PROJECT" in message and "OPENAI_BASE_URL" in message


def test_topics_take_a_short_name_or_a_full_path(clean_env) -> None:
    clean_env.setenv("QUEUE_BACKEND", "pubsub")
    clean_env.setenv("PUBSUB_TOPIC", "projects/prod-1/topics/integration-validation")
    clean_env.setenv("STATUS_EVENTS_TOPIC", "projects/prod-1/topics/integration-status-events")
    settings = Settings()  # no GCP_PROJECT needed: the paths name the project
    assert topic_parts(settings.pubsub_topic, settings.gcp_project) == ("prod-1", "integration-validation")
    assert topic_parts("integration-validation", "prod-2") == ("prod-2", "integration-validation")
    with pytest.raises(ValueError, match="GCP_PROJECT"):
        topic_parts("integration-validation", None)


def test_urls_and_origins_that_are_right_pass(clean_env) -> None:
    settings = Settings(
        openai_base_url="http://127.0.0.1:9/v1",
        validator_url="http://[::1]:8080/x",
        cors_origins="https://app.example.com, http://localhost:3000",
        bigquery_emulator_host="127.0.0.1:9050",
        pubsub_emulator_host="localhost:8085",
        kms_key_name="projects/p/locations/global/keyRings/r/cryptoKeys/k",
        kms_backend="gcp",
    )
    assert settings.allowed_origins == frozenset({"https://app.example.com", "http://localhost:3000"})
    assert Settings(bigquery_emulator_host="http://127.0.0.1:9050").bigquery_emulator_host == "http://127.0.0.1:9050"


def test_get_settings_raises_a_settings_error_naming_the_variable(clean_env) -> None:
    clean_env.setenv("PORT", "80x")
    container.reset()
    with pytest.raises(SettingsError, match="PORT must be a valid integer") as caught:
        get_settings()
    assert caught.value.code == "internal"


def _run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(PREFIXES)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "environment,expected",
    [
        ({"PORT": "80x"}, "PORT must be a valid integer"),
        ({"VALIDATION_RATE_LIMIT": "abc"}, "VALIDATION_RATE_LIMIT must look like"),
        ({"QUEUE_BACKEND": "pubsub"}, "GCP_PROJECT is required when QUEUE_BACKEND=pubsub"),
        ({"CORS_ORIGINS": "app.example.com"}, "CORS_ORIGINS must list origins"),
    ],
    ids=["port", "rate-limit", "pubsub-without-project", "cors"],
)
def test_the_cli_prints_the_message_and_exits_non_zero(tmp_path: Path, environment: dict, expected: str) -> None:
    done = _run(["-m", "shared.cli", "init-store"], {"DATA_DIR": str(tmp_path), **environment})
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: Invalid settings: ") and expected in done.stderr, done.stderr
    assert "ValidationError" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "integrations.db").exists()  # refused before any work


def test_a_function_instance_with_bad_settings_logs_the_message(tmp_path: Path) -> None:
    code = (
        "import functions_framework, sys\n"
        "app = functions_framework.create_app('get_integration', 'functions/get_integration/main.py', 'http')\n"
        "answer = app.test_client().get('/api/v1/integrations/acme_corp/openai', headers={'X-API-Key': 'k'})\n"
        "sys.stderr.write(str(answer.status_code))\n"
    )
    done = _run(["-c", code], {"DATA_DIR": str(tmp_path), "KMS_BACKEND": "gcp"})
    assert done.stderr.strip().endswith("500"), done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    errors = [e for e in lines if e.get("logger") == "integrations.settings"]
    assert errors and errors[0]["severity"] == "ERROR"
    assert "KMS_KEY_NAME is required when KMS_BACKEND=gcp" in errors[0]["message"]


def test_the_default_data_dir_does_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    done = _run(["-c", "from shared.settings import get_settings; print(get_settings().data_dir)"], {}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ROOT / ".data")


def test_a_relative_data_dir_is_resolved_once_against_the_start_directory(clean_env, tmp_path: Path) -> None:
    clean_env.chdir(tmp_path)
    clean_env.setenv("DATA_DIR", "state")
    settings = Settings()
    clean_env.chdir(ROOT)
    assert settings.data_dir == tmp_path / "state" and settings.data_dir.is_absolute()
    clean_env.setenv("DATA_DIR", "~/x")
    assert Settings().data_dir == Path.home() / "x"

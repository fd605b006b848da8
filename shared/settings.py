"""All configuration, read from the environment once and validated at start-up.

Defaults are the embedded backends, so a fresh clone runs with no cloud account.
Tests build `Settings(...)` directly; values given there win over the environment,
which wins over the defaults (the precedence pydantic-settings has).

A plain pydantic model reading `os.environ` (field name, upper case) rather than
pydantic-settings: the latter imports asyncio, argparse and more at start, about a fifth
of a function's cold start, for a feature (one flat env mapping) this needs none of.

Every value is checked when Settings is built, cross-field rules included (a backend
without what it needs), so a bad setting stops the start with a message naming the
variable, instead of a 500 on first use. Messages never repeat a value (a URL may hold
a password).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .domain.errors import SettingsError

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
# The directory holding shared/: the default DATA_DIR lives there, whatever the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".data"

URL_FIELDS = (
    "openai_base_url",
    "anthropic_base_url",
    "gemini_base_url",
    "deepseek_base_url",
    "gcp_token_uri",
    "bigquery_api_url",
    "validator_url",
)
HOST_PORT_FIELDS = ("kms_endpoint", "pubsub_emulator_host")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+):[0-9]{1,5}")
_KMS_KEY = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9:.\-]{0,127}")  # what BigQuery accepts, domain-scoped ids included
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
# Pub/Sub's rule for a topic id; a full path is projects/<project>/topics/<id>.
_TOPIC_ID = r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}"
_TOPIC = re.compile(_TOPIC_ID)
_TOPIC_PATH = re.compile(rf"projects/([^/\s]+)/topics/({_TOPIC_ID})")


def topic_parts(topic: str, project: str | None) -> tuple[str, str]:
    """(project, topic id) of a short topic name (in `project`) or a full projects/P/topics/T path."""
    full = _TOPIC_PATH.fullmatch(topic)
    if full:
        return full.group(1), full.group(2)
    if not project:
        raise ValueError("a short topic name needs GCP_PROJECT")
    return project, topic


def _url_problem(value: str) -> str | None:
    if any(c.isspace() for c in value):
        return "must be an http(s) URL without spaces"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is no number or out of range
    except ValueError:
        return "must be an http(s) URL with a valid port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL (scheme and host)"
    return None


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, values: Any) -> Any:
        given = dict(values) if isinstance(values, dict) else {}
        for name in cls.model_fields:
            if name not in given and name.upper() in os.environ:
                given[name] = os.environ[name.upper()]
        return given

    port: int = Field(8080, ge=1, le=65535)
    host: str = "127.0.0.1"
    # Absolute once built: a relative DATA_DIR is resolved against the working directory at start.
    data_dir: Path = DEFAULT_DATA_DIR

    store_backend: Literal["sqlite", "bigquery"] = "sqlite"
    kms_backend: Literal["local", "gcp"] = "local"
    queue_backend: Literal["local", "pubsub"] = "local"

    kms_key_name: str | None = None
    # A short topic name (in GCP_PROJECT) or a full projects/P/topics/T path.
    pubsub_topic: str = "integration-validation"
    status_events_topic: str = "integration-status-events"
    gcp_project: str | None = None
    bq_dataset: str = "organizations"
    bigquery_emulator_host: str | None = None
    kms_endpoint: str | None = None
    pubsub_emulator_host: str | None = None

    # Where the local queue delivers validation CloudEvents; default: this server.
    validator_url: str | None = None

    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_base_url: str = "https://api.anthropic.com"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    deepseek_base_url: str = "https://api.deepseek.com"
    # Only this setting (never an uploaded key file) may name a non-Google token endpoint.
    gcp_token_uri: str = GOOGLE_TOKEN_URI
    bigquery_api_url: str | None = None

    provider_timeout_seconds: float = Field(10.0, gt=0, le=120)
    provider_max_attempts: int = Field(3, ge=1, le=10)
    provider_backoff_seconds: float = Field(0.5, ge=0, le=30)
    # One validation's calls, attempts and backoff included, end within this (>= the per-call timeout).
    validation_timeout_seconds: float = Field(30.0, gt=0, le=600)
    # Bytes of one provider answer read after decompression; more is provider_unavailable.
    provider_max_response_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    # A validation message delivered this many times is settled as final.
    validator_max_deliveries: int = Field(5, ge=1, le=100)

    validation_rate_limit: str = "5/600"
    cors_origins: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("data_dir", mode="before")
    @classmethod
    def _absolute_data_dir(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            if not str(value).strip():
                return DEFAULT_DATA_DIR
            return Path(os.path.abspath(os.path.expanduser(value)))
        return value

    @field_validator(
        "kms_key_name",
        "gcp_project",
        "bigquery_emulator_host",
        "kms_endpoint",
        "pubsub_emulator_host",
        "validator_url",
        "bigquery_api_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("validation_rate_limit")
    @classmethod
    def _rate_limit_shape(cls, value: str) -> str:
        attempts, _, seconds = value.partition("/")
        if not (attempts.isdigit() and seconds.isdigit() and int(attempts) > 0 and int(seconds) > 0):
            raise ValueError("VALIDATION_RATE_LIMIT must look like '5/600' (attempts/seconds)")
        return value

    @model_validator(mode="after")
    def _validation_outlasts_a_call(self) -> "Settings":
        if self.validation_timeout_seconds < self.provider_timeout_seconds:
            raise ValueError("VALIDATION_TIMEOUT_SECONDS must be at least PROVIDER_TIMEOUT_SECONDS")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        problems: list[str] = []
        for name in URL_FIELDS:
            value = getattr(self, name)
            problem = value is not None and _url_problem(value)
            if problem:
                problems.append(f"{name.upper()} {problem}")
        for name in HOST_PORT_FIELDS:
            value = getattr(self, name)
            if value is not None and not _HOST_PORT.fullmatch(value):
                problems.append(f"{name.upper()} must be host:port")
        emulator = self.bigquery_emulator_host
        if emulator is not None and (
            "://" in emulator and _url_problem(emulator) or "://" not in emulator and not _HOST_PORT.fullmatch(emulator)
        ):
            problems.append("BIGQUERY_EMULATOR_HOST must be host:port or an http(s) URL")
        for origin in self.allowed_origins:
            parts = urlsplit(origin) if not _url_problem(origin) else None
            if parts is None or parts.path or parts.query or parts.fragment or parts.username:
                problems.append(
                    "CORS_ORIGINS must list origins like https://app.example.com "
                    "(scheme and host, optional port, no path), separated by commas"
                )
                break
        if self.gcp_project is not None and not _PROJECT.fullmatch(self.gcp_project):
            problems.append("GCP_PROJECT must be a Google Cloud project id")
        if not _DATASET.fullmatch(self.bq_dataset):
            problems.append("BQ_DATASET must be letters, digits and underscores")
        if self.kms_key_name is not None and not _KMS_KEY.fullmatch(self.kms_key_name):
            problems.append("KMS_KEY_NAME must be projects/P/locations/L/keyRings/R/cryptoKeys/K")
        if self.kms_backend == "gcp" and self.kms_key_name is None:
            problems.append("KMS_KEY_NAME is required when KMS_BACKEND=gcp")
        if self.store_backend == "bigquery" and self.gcp_project is None:
            problems.append("GCP_PROJECT is required when STORE_BACKEND=bigquery")
        for name in ("pubsub_topic", "status_events_topic"):
            topic = getattr(self, name)
            if not (_TOPIC.fullmatch(topic) or _TOPIC_PATH.fullmatch(topic)) or topic.startswith("goog"):
                problems.append(f"{name.upper()} must be a topic name or projects/P/topics/T")
            elif self.queue_backend == "pubsub" and self.gcp_project is None and not _TOPIC_PATH.fullmatch(topic):
                problems.append(f"GCP_PROJECT is required when QUEUE_BACKEND=pubsub and {name.upper()} is a short name")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def rate_limit(self) -> tuple[int, int]:
        attempts, _, seconds = self.validation_rate_limit.partition("/")
        return int(attempts), int(seconds)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_origins.split(",") if o.strip())

    @property
    def local_validator_url(self) -> str:
        return self.validator_url or f"http://127.0.0.1:{self.port}/_functions/validate_credential"


def settings_error(error: ValidationError) -> SettingsError:
    """One readable line per problem, each naming its environment variable (never the value)."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        message = str(item.get("msg", "is invalid"))
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        loc = [str(part) for part in item.get("loc", ()) if isinstance(part, str)]
        if loc and loc[0] in Settings.model_fields:
            variable = loc[0].upper()
            if message.startswith(variable):  # our own validators already name it
                lines.append(message)
            else:
                lines.append(f"{variable} {message.replace('Input should be', 'must be', 1)}")
        else:
            lines.append(message)
    return SettingsError("Invalid settings: " + "; ".join(lines))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings. Raises SettingsError (and logs it) when a setting is bad."""
    try:
        return Settings()
    except ValidationError as exc:
        error = settings_error(exc)
    # A function instance has no one to print to: the log is where an operator looks.
    import logging

    from .logs import configure

    configure()
    logging.getLogger("integrations.settings").error(error.message)
    raise error

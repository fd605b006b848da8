"""All configuration, read from the environment once and validated at start-up.

Defaults are the embedded backends, so a fresh clone runs with no cloud account.
Tests build `Settings(...)` directly; values given there win over the environment,
which wins over the defaults (the precedence pydantic-settings has).

A plain pydantic model reading `os.environ` (field name, upper case) rather than
pydantic-settings: the latter imports asyncio, argparse and more at start, about a fifth
of a function's cold start, for a feature (one flat env mapping) this needs none of.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


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
    data_dir: Path = Path("./.data")

    store_backend: Literal["sqlite", "bigquery"] = "sqlite"
    kms_backend: Literal["local", "gcp"] = "local"
    queue_backend: Literal["local", "pubsub"] = "local"

    kms_key_name: str | None = None
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

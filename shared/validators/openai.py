"""OpenAI: `GET {openai_base_url}/models` with a Bearer key (see docs/providers.md)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator, unexpected
from .http import default_is_transient, json_body

# `sk-` then the body; sub-prefixes (proj-, svcacct-, admin-, none) are hints, not rules.
OPENAI_KEY = re.compile(r"sk-[A-Za-z0-9_-]{20,400}")
KNOWN_SUBPREFIXES = ("proj", "svcacct", "admin")


def error_fields(response: httpx.Response) -> tuple[str, str, str]:
    """(code, type, message) of an OpenAI-style error body, each '' when absent."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", ""
    return tuple(str(error.get(k) or "") for k in ("code", "type", "message"))  # type: ignore[return-value]


def is_insufficient_quota(response: httpx.Response) -> bool:
    code, kind, _ = error_fields(response)
    return response.status_code == 429 and "insufficient_quota" in (code, kind)


def openai_is_transient(response: httpx.Response) -> bool:
    """A 429 for quota is the account's state, not a passing limit: never retried."""
    return default_is_transient(response) and not is_insufficient_quota(response)


class OpenAICompatibleValidator(HttpValidator):
    """The OpenAI protocol: Bearer key, `/models`, OpenAI error bodies."""

    provider = "OpenAI"

    def models_url(self) -> str:
        return self.settings.openai_base_url.rstrip("/") + "/models"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        value = credential.value
        if credential.kind != "api_key" or value.startswith("sk-ant-") or not OPENAI_KEY.fullmatch(value):
            raise InvalidFormatError()

    def key_type(self, credential: Credential) -> str | None:
        sub = credential.value[3:].split("-", 1)[0]
        return sub if sub in KNOWN_SUBPREFIXES else None

    def request_headers(self, credential: Credential, config: dict[str, Any]) -> dict[str, str]:
        headers = {"authorization": f"Bearer {credential.value}", "accept": "application/json"}
        if config.get("organization"):
            headers["openai-organization"] = str(config["organization"])
        if config.get("project"):
            headers["openai-project"] = str(config["project"])
        return headers

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        outcome = self.get(
            self.models_url(), self.request_headers(credential, config), is_transient=openai_is_transient
        )
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return self.interpret(outcome.response, credential)

    def interpret(self, response: httpx.Response, credential: Credential) -> ValidationResult:
        # Never copy the provider's message: OpenAI's echoes part of the key.
        status = response.status_code
        code, kind, message = error_fields(response)
        if status == 200:
            detail = "admin key" if self.key_type(credential) == "admin" else None
            return ValidationResult("valid", detail)
        if status == 401:
            if (
                code == "missing_scope"
                or "insufficient permissions" in message.lower()
                or "missing scopes" in message.lower()
            ):
                return ValidationResult(
                    "missing_permissions", "the key lacks the scope to list models (api.model.read)"
                )
            return ValidationResult("invalid_credentials", None)
        if status == 403:
            if "unsupported_country" in code:
                return ValidationResult("missing_permissions", f"{self.provider} does not serve this country or region")
            return ValidationResult("missing_permissions", f"{self.provider} denied access to the model list")
        if is_insufficient_quota(response):
            return ValidationResult(
                "missing_permissions", "the account has insufficient quota (check plan and billing)"
            )
        return unexpected(self.provider, status)


class OpenAIValidator(OpenAICompatibleValidator):
    pass
